"""The stored transcript's redaction on a live call: PHI out, the clinic's own names kept."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from agent.redact import KnownIdentifiers, redact


def redact_keeping(text: str, known: KnownIdentifiers, keep: list[str]) -> str:
    """Redact PHI but keep the organisation's and providers' names (not PHI) readable."""
    marks: dict[str, str] = {}
    for i, phrase in enumerate(sorted(set(keep), key=len, reverse=True)):
        if phrase and phrase in text:
            mark = f"qqkeep{chr(97 + i)}qq"
            marks[mark] = phrase
            text = text.replace(phrase, mark)
    out = redact(text, known)
    for mark, phrase in marks.items():
        out = out.replace(mark, phrase)
    return out


def known_identifiers(patient: Mapping[str, Any] | None) -> KnownIdentifiers:
    if not patient:
        return KnownIdentifiers()
    dob = None
    if patient.get("dob"):
        dob = dt.date.fromisoformat(str(patient["dob"]))
    names = tuple(str(patient[k]) for k in ("first_name", "last_name") if patient.get(k))
    return KnownIdentifiers(names=names, dob=dob, phones=(str(patient.get("phone", "")),),
                            member_ids=(str(patient.get("member_id", "")),))
