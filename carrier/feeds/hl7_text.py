"""HL7 v2 text as senders write it, pure: a message's bytes decoded by its MSH-18
character set, and a field's raw text as data (escape sequences resolved).

* Character sets (HL7 table 0211, MSH-18's first repetition): none declared is read as
  UTF-8 (ASCII is a subset); ``ASCII``, ``UNICODE``/``UNICODE UTF-8``, ``8859/1``-``/9``
  and ``/15``, ``GB 18030-2000``, ``KS X 1001``, ``BIG-5`` are read as declared; any other
  (``UNICODE UTF-16``, the ISO-IR code switches) is refused as not supported.
* Escape sequences (v2.5 section 2.7), with the message's own delimiters: ``\\F\\ \\S\\
  \\T\\ \\R\\ \\E\\`` are the delimiters, ``\\X..\\`` bytes in the message's character
  set, ``\\.br\\``/``\\.sp\\`` and the other formatting commands a space (or nothing),
  ``\\H\\ \\N\\`` (highlighting) and every other sequence (``\\Z..\\``, ``\\C..\\``,
  ``\\M..\\``, malformed hex) nothing. An escape character with no closing one is kept.
* Control characters (a CR or NUL from ``\\X0D\\``, a tab) become spaces; runs of spaces
  are one; the value is trimmed.

The ``hl7`` library's own unescaping (``extract_field``) logs the whole field, a patient's
name included, for a sequence it does not know; fields are read here instead. Errors name
locations, never values.
"""

from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass

CHARSETS = {
    "": "utf-8", "ASCII": "utf-8", "UNICODE": "utf-8", "UNICODE UTF-8": "utf-8",
    **{f"8859/{n}": f"iso8859-{n}" for n in (*range(1, 10), 15)},
    "GB 18030-2000": "gb18030", "KS X 1001": "euc_kr", "BIG-5": "big5",
    # Table 0211's ISO registration names for the same sets, and the "UTF-8" many
    # interface engines write (not in the table, but unambiguous).
    "ISO IR6": "utf-8", "ISO IR100": "iso8859-1", "ISO IR192": "utf-8", "UTF-8": "utf-8",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r" {2,}")
_FORMAT = {".br": " ", ".sp": " ", ".ce": " ", ".in": " ", ".ti": " ", ".sk": " ",
           ".fi": "", ".nf": ""}
# The character set of the message being read (set by parse_message for its fields).
charset: contextvars.ContextVar[str] = contextvars.ContextVar("hl7_charset", default="utf-8")


class CharsetError(ValueError):
    """The message's bytes cannot be read: ``supported`` False when MSH-18 names a
    character set we do not read, True when the bytes are not valid in the one used."""

    def __init__(self, declared: bool, supported: bool) -> None:
        self.declared = declared
        self.supported = supported
        super().__init__("unsupported character set" if not supported
                         else "not valid in its character set")


def declared_charset(data: bytes) -> str:
    """MSH-18 (its first repetition, first component), upper-cased; "" when absent."""
    first = re.split(rb"[\r\n]", data, maxsplit=1)[0].decode("latin-1")
    if not first.startswith("MSH") or len(first) < 8:
        return ""
    sep = first[3]
    fields = first.split(sep)
    if len(fields) < 18:
        return ""
    enc = fields[1]
    value = fields[17]
    for delim in enc[:2]:  # the component, then the repetition separator
        value = value.split(delim, 1)[0]
    return value.strip().upper()


def decode(data: bytes) -> tuple[str, str]:
    """(text, Python codec) of a message's bytes by its MSH-18; raises CharsetError."""
    declared = declared_charset(data)
    codec = CHARSETS.get(declared)
    if codec is None:
        raise CharsetError(declared=True, supported=False)
    try:
        return data.decode(codec), codec
    except UnicodeDecodeError:
        raise CharsetError(declared=bool(declared), supported=True) from None


@dataclass(frozen=True)
class Delims:
    segment: str
    field: str
    rep: str
    comp: str
    sub: str
    esc: str

    @classmethod
    def of(cls, separators: str, esc: str) -> Delims:
        """From an ``hl7`` container's ``separators`` (segment, field, repetition,
        component, sub-component) and ``esc``."""
        s = separators
        return cls(s[0], s[1], s[2], s[3], s[4], esc)


def raw_field(segment: str, d: Delims, field: int, rep: int = 1, comp: int = 1) -> str:
    """Field ``field``, repetition ``rep``, component ``comp`` (its first sub-component)
    of one segment's raw text, escapes unresolved; "" when absent."""
    parts = segment.split(d.field)
    is_msh = parts[0] in ("MSH", "FHS", "BHS")
    if is_msh and field == 1:
        return d.field
    idx = field - 1 if is_msh else field
    if idx >= len(parts):
        return ""
    if is_msh and field == 2:
        return parts[idx]
    reps = parts[idx].split(d.rep)
    if rep > len(reps):
        return ""
    comps = reps[rep - 1].split(d.comp)
    if comp > len(comps):
        return ""
    return comps[comp - 1].split(d.sub)[0]


def _sequence(seq: str, d: Delims, codec: str) -> str:
    simple = {"F": d.field, "S": d.comp, "T": d.sub, "R": d.rep, "E": d.esc}
    if seq in simple:
        return simple[seq]
    if seq.startswith("X") and len(seq) % 2 == 1:
        try:
            return bytes.fromhex(seq[1:]).decode(codec, errors="replace")
        except ValueError:
            return ""
    if seq[:3] in _FORMAT:
        return _FORMAT[seq[:3]]
    return ""  # \H\ \N\ (highlighting), \Z..\ (local), \C..\ \M..\ (code switches), junk


def unescape(raw: str, d: Delims, codec: str | None = None) -> str:
    """A field's raw text as data: escapes resolved, control characters spaces, trimmed."""
    codec = codec or charset.get()
    out: list[str] = []
    i = 0
    while (j := raw.find(d.esc, i)) >= 0:
        end = raw.find(d.esc, j + 1)
        if end < 0:
            break  # an escape character never closed: kept as written
        out.append(raw[i:j])
        out.append(_sequence(raw[j + 1:end], d, codec))
        i = end + 1
    out.append(raw[i:])
    return clean("".join(out))


def clean(text: str) -> str:
    """Control characters as spaces, runs of spaces one, trimmed (how every field is read;
    patient identifiers are keyed by this form whatever feed brings them)."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
