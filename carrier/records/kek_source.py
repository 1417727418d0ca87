"""Where the key-encryption key comes from (every command, ``serve`` and ``config check``
read it through :func:`kek_source`; :func:`carrier.records.cli_context.kek_for` loads it)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from carrier.errors import OperatorError
from carrier.settings import Settings

LEGACY_KEK_FILE_ENV = "CARRIER_KEK_FILE"  # before keys.kek_file; still honoured when unset


@dataclass(frozen=True)
class KekSource:
    """Where the key-encryption key comes from: ``what`` names it for the operator,
    ``path`` is its file (None: base64 text from the environment)."""

    what: str
    path: Path | None = None
    text: str | None = None


def kek_source(settings: Settings, env: Mapping[str, str] | None = None) -> KekSource:
    """The one documented precedence: ``$<keys.kek_env>`` (base64), else ``keys.kek_file``,
    else the legacy ``$CARRIER_KEK_FILE``, else ``<data_dir>/keys/kek.bin``. Two sources
    that could each be the key (``$CARRIER_KEK_FILE`` beside the variable, or beside a
    ``keys.kek_file`` naming another file) are refused: the wrong pick would leave new data
    keys under a key the next command does not read."""
    env = os.environ if env is None else env
    name = settings.keys.kek_env
    text = env.get(name)
    legacy = env.get(LEGACY_KEK_FILE_ENV)
    configured = settings.path(settings.keys.kek_file, "keys/kek.bin")
    if text and legacy:
        raise OperatorError(
            f"both ${name} and ${LEGACY_KEK_FILE_ENV} are set: which key-encryption key is"
            f" meant is ambiguous; unset ${LEGACY_KEK_FILE_ENV} (or ${name})")
    if text:
        return KekSource(f"${name}", text=text)
    if legacy and settings.keys.kek_file and Path(legacy).resolve() != configured.resolve():
        raise OperatorError(
            f"${LEGACY_KEK_FILE_ENV} ({legacy}) and keys.kek_file ({configured}) name different"
            f" key-encryption keys; unset ${LEGACY_KEK_FILE_ENV} or make them the same file")
    if legacy and not settings.keys.kek_file:
        return KekSource(f"${LEGACY_KEK_FILE_ENV} {legacy}", path=Path(legacy))
    return KekSource(f"keys.kek_file {configured}", path=configured)
