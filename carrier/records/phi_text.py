"""Free text an operator types into a ledger (an audit ``reason``, a consent ``source`` or
``evidence`` reference) is kept in clear, hash-chained and append-only: it can never be
encrypted later, re-encrypted under a new data key or corrected. So it must not hold PHI.

:func:`phi_in` names what a text looks like it holds (a phone, member or record number, a
date, an e-mail address), or None; operator entry points refuse such text with that name
(never echoing it). :func:`without_phi` replaces each such span with ``[removed]``: the
audit log's last guard for a reason that reached it from elsewhere. Names cannot be told
from words here (the carrier has no name model); the refusal says to give a reference.
Pure functions.
"""

from __future__ import annotations

import re

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an e-mail address", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("a date", re.compile(
        r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"
        rf"|\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b"
        rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}\s+\d{{4}}\b", re.I)),
    # Seven digits or more, however spaced or punctuated: a phone (555-0142), member,
    # record or social security number; not digits inside an identifier (a UUID, a
    # thread id "sms-0123456789ab"), which run on into letters or hyphens.
    ("a phone, member or record number",
     re.compile(r"(?<![\w-])\+?\d(?:[\s().-]*\d){6,}(?![\w-])")),
)
REMOVED = "[removed]"


def phi_in(text: str) -> str | None:
    """What ``text`` looks like it holds (``"a date"`` ...), or None."""
    for what, pattern in _KINDS:
        if pattern.search(text):
            return what
    return None


def without_phi(text: str) -> str:
    for _what, pattern in _KINDS:
        text = pattern.sub(REMOVED, text)
    return text


def refusal(field: str, what: str) -> str:
    return (f"{field} looks like it holds {what}; it is kept in clear in an append-only"
            " ledger, so give a reference instead (a form or ticket id, a call id)")
