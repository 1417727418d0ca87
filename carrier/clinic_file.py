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

from carrier.errors import ConfigError
from carrier.yaml_file import read_yaml

SECTIONS = ("clinic", "patients", "providers")
DEFAULT_TIMEZONE = "America/New_York"


def read_clinic_file(path: str | Path) -> dict[str, Any]:
    name = str(path)
    data = read_yaml(path)  # not UTF-8, not YAML, a key given twice: refused, named
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
