"""Reading the clinic file (``clinic_file`` in the config folder): one reader for the agent
(``agent.workflow.records.ClinicFileSource``) and ``carrier config check``, so what check
calls an error is what would stop ``carrier serve``, with the same file, key and reason.

Any problem raises :class:`carrier.errors.ConfigError`: unreadable, not YAML (with its line),
not a mapping, a section missing, a time zone no one has.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Any

import yaml

from carrier.errors import ConfigError

SECTIONS = ("clinic", "patients", "providers")
DEFAULT_TIMEZONE = "America/New_York"


def read_clinic_file(path: str | Path) -> dict[str, Any]:
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(name, "-", f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(name, "-", "not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(name, "-", f"not valid YAML{where}") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(name, "-", "top level must be a mapping")
    for key in SECTIONS:
        if key not in data:
            raise ConfigError(name, key, "missing")
    if not isinstance(data["clinic"], dict):
        raise ConfigError(name, "clinic", "must be a mapping")
    zone = str(data["clinic"].get("timezone", DEFAULT_TIMEZONE))
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(name, "clinic.timezone", f"unknown time zone {zone!r}") from None
    return data
