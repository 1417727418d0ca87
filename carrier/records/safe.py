"""Text from the wire made safe to store (pure).

A SIP Call-ID, a From number or a Reason arrives as bytes; the SIP parser decodes what is not
UTF-8 with ``surrogateescape`` so no byte is lost. Such a string cannot be encoded for
Postgres, hashed into a chain or written as UTF-8, and Postgres refuses NUL in ``text``.
``safe_text`` maps every such character to a visible escape (``\\xff``, ``\\x00``), so the
stored value still tells an investigator which bytes came in, and caps the length so one
datagram cannot fill a row. Plain printable text is returned unchanged.
"""

from __future__ import annotations

import re

IDENTIFIER_LIMIT = 512
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"  # a lone surrogate from anywhere else


def safe_text(value: object, *, limit: int = IDENTIFIER_LIMIT) -> str:
    """``value`` as text that Postgres, JSON and the chain hash all accept, at most
    ``limit`` characters (a cut value ends with ``...``)."""
    text = value if isinstance(value, str) else str(value)
    if _UNSAFE.search(text):
        text = _UNSAFE.sub(_escape, text)
    if len(text) > limit:
        text = text[: max(limit - 3, 0)] + "..."
    return text


def is_safe(value: str) -> bool:
    return _UNSAFE.search(value) is None
