"""The ``CARRIER_*`` environment overrides of :mod:`carrier.settings`.

``CARRIER_DATABASE_URL`` and ``CARRIER_DATA_DIR`` name their settings; any other
``CARRIER_<SECTION>__<KEY>[__<KEY>...]`` sets that dotted key, its value read as YAML (a
number, a list, ``true``); a value that is not YAML (a password holding ``[`` or ``{``) is
taken as the text it is. Other ``CARRIER_*`` variables (keys, secrets) are read where used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from carrier.errors import ConfigError

ENV_PREFIX = "CARRIER_"


def apply_env(raw: dict[str, Any], sources: dict[str, str], env: Mapping[str, str]
               ) -> dict[str, str]:
    """Apply the ``CARRIER_*`` overrides; return which variable set each dotted key. A value
    that is not YAML (a password with ``[`` or ``{``) is taken as the text it is."""
    by_key: dict[str, str] = {}
    aliases = {"CARRIER_DATABASE_URL": ("database", "url"), "CARRIER_DATA_DIR": ("data_dir",)}
    for name, value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        if name in aliases:
            path: tuple[str, ...] = aliases[name]
        elif "__" in name:
            path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        else:
            continue  # other CARRIER_* variables (keys, secrets) are read where used
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"${name}", ".".join(path), "overrides a non-mapping setting")
            node = child
        try:
            node[path[-1]] = yaml.safe_load(value) if value != "" else None
        except yaml.YAMLError:
            node[path[-1]] = value
        sources[path[0]] = f"${name}"
        by_key[".".join(path)] = f"${name}"
    return by_key
