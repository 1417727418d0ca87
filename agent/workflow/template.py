"""Prompt templates: ``{org_name}``, ``{appointment.time}``, ``{offers.0.label}``.

Rendering never guesses: a field that is absent renders as an empty string only
where the loader allowed it (checked roots); PHI classification is static so the
loader and the runtime agree on which prompts need a verified caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from agent.workflow.model import PUBLIC_FIELDS, RECORD_PHI_ROOTS, resolve

# {path} or {path|spell}: "spell" reads a code one character at a time, in groups of three,
# so speech synthesis says "Q Q B, 9 8 7" instead of a number.
FIELD = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*)(?:\|(spell))?\}")
KNOWN_ROOTS = frozenset({"org_name", "callback_number", "queue_name", "clinic", "slots", "vars",
                         "offers", "memory", "attempt"}) | RECORD_PHI_ROOTS


def fields(text: str) -> list[str]:
    return [m.group(1) for m in FIELD.finditer(text)]


def spell(value: str) -> str:
    chars = [c for c in value if c.isalnum()]
    groups = [" ".join(chars[i:i + 3]) for i in range(0, len(chars), 3)]
    return ", ".join(groups)


def needs_verification(path: str, phi_fields: Iterable[str], phi_vars: Iterable[str]) -> bool:
    """A record field that may only be spoken to a verified caller."""
    if path in PUBLIC_FIELDS:
        return False
    root = path.split(".", 1)[0]
    if root in RECORD_PHI_ROOTS or path in set(phi_fields):
        return True
    return root == "vars" and path.split(".")[1] in set(phi_vars) if "." in path else False


def contains_phi(path: str, phi_fields: Iterable[str], phi_vars: Iterable[str]) -> bool:
    """Spoken text that carries PHI (including the caller's own words read back)."""
    if path in PUBLIC_FIELDS:
        return False
    return needs_verification(path, phi_fields, phi_vars) or path.split(".", 1)[0] == "slots"


def render(text: str, scopes: Mapping[str, Any]) -> str:
    def sub(m: re.Match[str]) -> str:
        value = resolve(m.group(1), scopes)
        if value is None:
            return ""
        return spell(str(value)) if m.group(2) == "spell" else str(value)

    return FIELD.sub(sub, text)
