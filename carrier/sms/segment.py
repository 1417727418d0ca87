"""SMS segmentation: GSM 03.38 (7-bit) and UCS-2, with concatenation headers (UDH).

Pure: text in, parts out. A text that fits one SMS goes as one part with no header
(160 GSM-7 septets or 70 UCS-2 units); a longer one is split into parts that each carry
a 6-byte concatenation header (3GPP TS 23.040 9.2.3.24.1: IEI 0x00, length 3, reference,
total, sequence), leaving 153 septets or 67 UCS-2 units per part. An escaped GSM
character (two septets) and a UTF-16 surrogate pair are never cut in two.

GSM-7 is carried unpacked, one septet per octet, as SMPP's data_coding 0 expects
(SMPP 3.4 5.2.19); UCS-2 is UTF-16BE (data_coding 8).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# 3GPP TS 23.038 6.2.1: the default alphabet, position = septet value.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# 6.2.1.1: the extension table, reached through ESC (0x1B).
GSM7_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C,
                  "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65}
ESC = 0x1B
_BASIC = {ch: i for i, ch in enumerate(GSM7_BASIC) if i != ESC}
_EXT_DECODE = {v: k for k, v in GSM7_EXTENSION.items()}

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
MAX_PARTS = 255
UDH_LENGTH = 6


class Coding(enum.IntEnum):
    """The SMPP data_coding value of each alphabet."""

    GSM7 = 0x00
    UCS2 = 0x08


class SegmentError(ValueError):
    """The text cannot be sent (too many parts, or undecodable bytes)."""


@dataclass(frozen=True)
class Part:
    """One short message on the wire: ``udh + payload`` is the SMPP short_message."""

    coding: Coding
    payload: bytes
    udh: bytes = b""
    text: str = ""

    @property
    def short_message(self) -> bytes:
        return self.udh + self.payload

    @property
    def esm_class(self) -> int:
        return 0x40 if self.udh else 0x00  # UDHI: the message starts with a header


@dataclass(frozen=True)
class Plan:
    """How a text goes out: its alphabet, its parts, and its length in that alphabet."""

    coding: Coding
    parts: tuple[Part, ...]
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)


def gsm7_units(text: str) -> int | None:
    """Septets the text needs in GSM-7, or None when it needs UCS-2."""
    total = 0
    for ch in text:
        if ch in _BASIC:
            total += 1
        elif ch in GSM7_EXTENSION:
            total += 2
        else:
            return None
    return total


def encode_gsm7(text: str) -> bytes:
    out = bytearray()
    for ch in text:
        if ch in _BASIC:
            out.append(_BASIC[ch])
        elif ch in GSM7_EXTENSION:
            out += bytes((ESC, GSM7_EXTENSION[ch]))
        else:
            raise SegmentError("character outside the GSM 03.38 alphabet")
    return bytes(out)


def decode_gsm7(data: bytes) -> str:
    out: list[str] = []
    escaped = False
    for septet in data:
        if septet > 0x7F:
            raise SegmentError("a GSM-7 septet is below 0x80")
        if escaped:
            # 23.038: an unknown extension code shows the basic character (space for ESC ESC)
            out.append(_EXT_DECODE.get(septet, " " if septet == ESC else GSM7_BASIC[septet]))
            escaped = False
        elif septet == ESC:
            escaped = True
        else:
            out.append(GSM7_BASIC[septet])
    return "".join(out)


def _chunks(units: list[tuple[str, int]], limit: int) -> list[str]:
    """Group (character, width) pairs into chunks of at most ``limit`` width."""
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for ch, width in units:
        if used + width > limit:
            chunks.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += width
    if current:
        chunks.append("".join(current))
    return chunks


def plan(text: str, *, reference: int = 0) -> Plan:
    """The parts of ``text``; ``reference`` (0-255) ties the parts of one message together."""
    if not text:
        raise SegmentError("an SMS has at least one character")
    if not 0 <= reference <= 0xFF:
        raise SegmentError("the concatenation reference is one octet")
    septets = gsm7_units(text)
    if septets is not None:
        coding, single, per_part, total = Coding.GSM7, GSM7_SINGLE, GSM7_PART, septets
        units = [(ch, 2 if ch in GSM7_EXTENSION else 1) for ch in text]
    else:
        coding, single, per_part = Coding.UCS2, UCS2_SINGLE, UCS2_PART
        units = [(ch, 2 if ord(ch) > 0xFFFF else 1) for ch in text]
        total = sum(w for _, w in units)
    encode = encode_gsm7 if coding is Coding.GSM7 else _encode_ucs2
    if total <= single:
        return Plan(coding, (Part(coding, encode(text), text=text),), total)
    chunks = _chunks(units, per_part)
    if len(chunks) > MAX_PARTS:
        raise SegmentError(f"text needs {len(chunks)} parts (limit {MAX_PARTS})")
    parts = tuple(
        Part(coding, encode(chunk), bytes((5, 0x00, 3, reference, len(chunks), i)), chunk)
        for i, chunk in enumerate(chunks, start=1)
    )
    return Plan(coding, parts, total)


def _encode_ucs2(text: str) -> bytes:
    return text.encode("utf-16-be")


def decode(coding: int, data: bytes) -> str:
    """A received short message's text (data_coding 0/1 read as GSM-7/ASCII, 8 as UCS-2)."""
    if coding == Coding.UCS2:
        try:
            return data.decode("utf-16-be")
        except UnicodeDecodeError:
            raise SegmentError("invalid UCS-2 payload") from None
    if coding == 0x01:
        return data.decode("ascii", errors="replace")
    if coding == 0x03:
        return data.decode("latin-1")
    return decode_gsm7(data)


def split_udh(esm_class: int, data: bytes) -> tuple[bytes, bytes]:
    """``(udh, payload)`` of a received short message (no header unless UDHI is set)."""
    if not esm_class & 0x40 or not data:
        return b"", data
    length = data[0] + 1
    if length > len(data):
        raise SegmentError("the user data header is longer than the message")
    return data[:length], data[length:]


def concat_info(udh: bytes) -> tuple[int, int, int] | None:
    """``(reference, total, sequence)`` from a header's concatenation element, if any."""
    i = 1
    while i + 1 < len(udh):
        iei, size = udh[i], udh[i + 1]
        body = udh[i + 2:i + 2 + size]
        if iei == 0x00 and size == 3 and len(body) == 3:
            return body[0], body[1], body[2]
        if iei == 0x08 and size == 4 and len(body) == 4:
            return (body[0] << 8) | body[1], body[2], body[3]
        i += 2 + size
    return None
