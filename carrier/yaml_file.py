"""Reading an operator's YAML file: what every command and ``carrier serve`` refuse alike.

YAML itself keeps only the last of a key given twice in one mapping, silently; a settings
file edited by hand (a section pasted twice, a key set at the top and again below) then
runs on a value the operator may not have meant. ``carrier config check`` (and so
``serve``) always named it; the other commands read the file with ``yaml.safe_load`` and
went on. :func:`read_yaml` refuses it for every reader, as it refuses a file that is not
UTF-8 or not YAML: one :class:`carrier.errors.ConfigError` naming the file, the dotted
key (or the line) and why, never a traceback. A UTF-8 byte-order mark and CRLF line ends
are read as usual.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from carrier.errors import ConfigError


def repeated_keys(node: yaml.Node | None, key: str = "") -> list[tuple[str, yaml.Node]]:
    """(dotted key, key node) of every key given a second time in its mapping."""
    found: list[tuple[str, yaml.Node]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for knode, vnode in node.value:
            name = str(knode.value)
            sub = f"{key}.{name}" if key else name
            if name in seen:
                found.append((sub, knode))
            seen.add(name)
            found += repeated_keys(vnode, sub)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found += repeated_keys(item, f"{key}[{i}]")
    return found


def read_yaml(path: str | Path, *, whole: str | None = "-") -> Any:
    """The document in ``path`` (None when empty); ConfigError when it cannot be read, is
    not UTF-8, is not YAML, or gives a key twice in one mapping. ``whole``: the key named
    when the file as a whole is wrong (None: ``line N`` where YAML stopped)."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(name, whole or "-", f"cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(name, whole or "-", f"not UTF-8 text (byte {exc.start})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        twice = repeated_keys(root)
        if twice:
            key, node = twice[0]
            raise ConfigError(name, key, f"given twice in one mapping (line"
                              f" {node.start_mark.line + 1}; YAML would keep only the last)")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = None if mark is None else f"line {mark.line + 1}"
        problem = getattr(exc, "problem", None)
        reason = "not valid YAML" + (f" ({line})" if line and whole else "") + (
            f": {problem}" if problem else "")
        raise ConfigError(name, whole or line or "-", reason) from None
