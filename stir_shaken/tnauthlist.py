"""The TNAuthList certificate extension (RFC 8226 section 9, OID 1.3.6.1.5.5.7.1.26).

    TNAuthorizationList ::= SEQUENCE SIZE (1..MAX) OF TNEntry
    TNEntry ::= CHOICE {
      spc   [0] ServiceProviderCode,      -- IA5String
      range [1] TelephoneNumberRange,     -- SEQUENCE { start TelephoneNumber, count INTEGER }
      one   [2] TelephoneNumber }         -- IA5String (SIZE (1..15)) FROM ("0123456789#*")

The ASN.1 module uses EXPLICIT tags, so each choice is a constructed context tag
wrapping the inner DER value. A tiny DER codec is enough for this one structure.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

OID_TN_AUTH_LIST = "1.3.6.1.5.5.7.1.26"

_SEQUENCE = 0x30
_IA5STRING = 0x16
_INTEGER = 0x02
_TAG_SPC, _TAG_RANGE, _TAG_ONE = 0xA0, 0xA1, 0xA2
_TN_CHARS = frozenset("0123456789#*")


class TNAuthListError(ValueError):
    """The extension is not valid DER for TNAuthList."""


@dataclass(frozen=True)
class Spc:
    code: str

    def __post_init__(self) -> None:
        if not self.code or not self.code.isascii():
            raise TNAuthListError("SPC must be a non-empty IA5String")


@dataclass(frozen=True)
class TnRange:
    start: str
    count: int

    def __post_init__(self) -> None:
        _check_tn(self.start)
        if self.count < 2:
            raise TNAuthListError("range count must be at least 2")

    def __contains__(self, tn: object) -> bool:
        # Numbers in a range have the start's length; compare numerically.
        if not isinstance(tn, str) or len(tn) != len(self.start) or not tn.isdigit():
            return False
        if not self.start.isdigit():
            return False
        return int(self.start) <= int(tn) < int(self.start) + self.count


@dataclass(frozen=True)
class One:
    tn: str

    def __post_init__(self) -> None:
        _check_tn(self.tn)


Entry = Spc | TnRange | One


@dataclass(frozen=True)
class TNAuthList:
    entries: tuple[Entry, ...]

    def __post_init__(self) -> None:
        if not self.entries:
            raise TNAuthListError("TNAuthList is empty")

    @functools.cached_property
    def spcs(self) -> frozenset[str]:
        return frozenset(e.code for e in self.entries if isinstance(e, Spc))

    def covers_tn(self, tn: str) -> bool:
        """True when a ``one`` or ``range`` entry lists the (canonical) number."""
        for entry in self.entries:
            if isinstance(entry, One) and entry.tn == tn:
                return True
            if isinstance(entry, TnRange) and tn in entry:
                return True
        return False

    def to_der(self) -> bytes:
        return _tlv(_SEQUENCE, b"".join(_entry_der(e) for e in self.entries))

    @classmethod
    def from_der(cls, data: bytes) -> TNAuthList:
        tag, body, rest = _read(data)
        if tag != _SEQUENCE or rest:
            raise TNAuthListError("TNAuthList is not one SEQUENCE")
        entries: list[Entry] = []
        while body:
            tag, inner, body = _read(body)
            entries.append(_parse_entry(tag, inner))
        return cls(tuple(entries))

    @classmethod
    def of(cls, entries: Iterable[Entry]) -> TNAuthList:
        return cls(tuple(entries))


def _check_tn(tn: str) -> None:
    if not 1 <= len(tn) <= 15 or not set(tn) <= _TN_CHARS:
        raise TNAuthListError("TelephoneNumber must be 1-15 of 0-9 # *")


def _entry_der(entry: Entry) -> bytes:
    if isinstance(entry, Spc):
        return _tlv(_TAG_SPC, _ia5(entry.code))
    if isinstance(entry, TnRange):
        return _tlv(_TAG_RANGE, _tlv(_SEQUENCE, _ia5(entry.start) + _integer(entry.count)))
    return _tlv(_TAG_ONE, _ia5(entry.tn))


def _parse_entry(tag: int, inner: bytes) -> Entry:
    if tag == _TAG_SPC:
        return Spc(_read_ia5(inner))
    if tag == _TAG_ONE:
        return One(_read_ia5(inner))
    if tag == _TAG_RANGE:
        seq_tag, seq, rest = _read(inner)
        if seq_tag != _SEQUENCE or rest:
            raise TNAuthListError("range is not a SEQUENCE")
        start_tag, start, seq = _read(seq)
        count_tag, count, extra = _read(seq)
        if start_tag != _IA5STRING or count_tag != _INTEGER:
            raise TNAuthListError("range is not (IA5String, INTEGER)")
        # The ASN.1 range type is extensible ("..."): later members are ignored.
        del extra
        return TnRange(_ascii(start), _read_integer(count))
    raise TNAuthListError(f"unknown TNEntry tag 0x{tag:02x}")


def _read_ia5(inner: bytes) -> str:
    tag, value, rest = _read(inner)
    if tag != _IA5STRING or rest:
        raise TNAuthListError("expected one IA5String")
    return _ascii(value)


def _ascii(value: bytes) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError as exc:
        raise TNAuthListError("IA5String is not ASCII") from exc


def _read_integer(value: bytes) -> int:
    if not value or (len(value) > 1 and value[0] == 0 and value[1] < 0x80):
        raise TNAuthListError("INTEGER is not minimal DER")
    return int.from_bytes(value, "big", signed=True)


def _read(data: bytes) -> tuple[int, bytes, bytes]:
    """Read one TLV: (tag, value, remaining). Definite lengths only (DER)."""
    if len(data) < 2:
        raise TNAuthListError("truncated TLV")
    tag, first = data[0], data[1]
    if first < 0x80:
        length, offset = first, 2
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or len(data) < 2 + n:
            raise TNAuthListError("bad DER length")
        length = int.from_bytes(data[2 : 2 + n], "big")
        if length < 0x80 or data[2] == 0:
            raise TNAuthListError("non-minimal DER length")
        offset = 2 + n
    end = offset + length
    if end > len(data):
        raise TNAuthListError("truncated TLV value")
    return tag, data[offset:end], data[end:]


def _tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return bytes((tag, n)) + value
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(raw))) + raw + value


def _ia5(text: str) -> bytes:
    return _tlv(_IA5STRING, text.encode("ascii"))


def _integer(value: int) -> bytes:
    return _tlv(_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))
