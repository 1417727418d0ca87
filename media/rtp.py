"""RTP packets (RFC 3550 section 5.1) and sequence/timestamp unwrapping.

aiortc's ``RtpPacket`` was considered: it imports PyAV at module load, is mutable and
parses header extensions through a WebRTC extension map. For G.711 telephony we keep a
small immutable packet with the raw extension bytes, which is also cheaper per packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTP_VERSION = 2
RTP_HEADER_LENGTH = 12
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32

_HEADER = struct.Struct("!BBHII")
_EXT_HEADER = struct.Struct("!HH")


class RtpParseError(ValueError):
    """The peer sent bytes that are not a valid RTP packet (the datagram is dropped)."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type < 128:
            raise ValueError("RTP payload type out of range")
        if not 0 <= self.sequence_number < SEQ_MOD:
            raise ValueError("RTP sequence number out of range")
        if not 0 <= self.timestamp < TS_MOD or not 0 <= self.ssrc < TS_MOD:
            raise ValueError("RTP timestamp or SSRC out of range")
        if len(self.csrc) > 15:
            raise ValueError("RTP packet carries at most 15 CSRCs")
        if len(self.extension) % 4:
            raise ValueError("RTP header extension length must be a multiple of 4")

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        if len(data) < RTP_HEADER_LENGTH:
            raise RtpParseError(f"RTP packet length is less than {RTP_HEADER_LENGTH} bytes")
        first, second, seq, ts, ssrc = _HEADER.unpack_from(data)
        if first >> 6 != RTP_VERSION:
            raise RtpParseError("RTP packet has invalid version")
        cc = first & 0x0F
        pos = RTP_HEADER_LENGTH + 4 * cc
        if len(data) < pos:
            raise RtpParseError("RTP packet has truncated CSRC")
        csrc = struct.unpack_from(f"!{cc}I", data, RTP_HEADER_LENGTH) if cc else ()
        profile: int | None = None
        extension = b""
        if first & 0x10:
            if len(data) < pos + 4:
                raise RtpParseError("RTP packet has truncated extension profile / length")
            profile, words = _EXT_HEADER.unpack_from(data, pos)
            pos += 4
            extension = data[pos : pos + 4 * words]
            if len(extension) != 4 * words:
                raise RtpParseError("RTP packet has truncated extension value")
            pos += 4 * words
        end = len(data)
        if first & 0x20:
            padding = data[-1]
            if padding == 0 or end - padding < pos:
                raise RtpParseError("RTP packet padding length is invalid")
            end -= padding
        return cls(
            second & 0x7F,
            seq,
            ts,
            ssrc,
            bytes(data[pos:end]),
            bool(second & 0x80),
            csrc,
            profile,
            bytes(extension),
        )

    def serialize(self) -> bytes:
        first = RTP_VERSION << 6 | len(self.csrc)
        ext = b""
        if self.extension_profile is not None:
            first |= 0x10
            ext = _EXT_HEADER.pack(self.extension_profile, len(self.extension) // 4)
            ext += self.extension
        header = _HEADER.pack(
            first,
            self.marker << 7 | self.payload_type,
            self.sequence_number,
            self.timestamp,
            self.ssrc,
        )
        csrc = struct.pack(f"!{len(self.csrc)}I", *self.csrc) if self.csrc else b""
        return header + csrc + ext + self.payload


def pack_rtp(
    payload_type: int, seq: int, timestamp: int, ssrc: int, payload: bytes, *, marker: bool = False
) -> bytes:
    """Fast path for the sender: a plain header (no CSRC, no extension) plus payload."""
    return _HEADER.pack(0x80, marker << 7 | payload_type, seq, timestamp, ssrc) + payload


def pack_header(
    payload_type: int, seq: int, timestamp: int, ssrc: int, marker: bool = False
) -> bytes:
    """The plain 12-byte header alone (``pack_rtp`` without the payload)."""
    return _HEADER.pack(0x80, marker << 7 | payload_type, seq, timestamp, ssrc)


def parse_fields(data: bytes) -> tuple[int, int, int, int, bytes]:
    """``(payload_type, sequence, timestamp, ssrc, payload)`` for the receive hot path.

    Plain packets (no padding, extension or CSRC: every G.711 softphone's) skip building
    an ``RtpPacket``; anything else goes through the full parser and its checks.
    """
    if len(data) >= RTP_HEADER_LENGTH and data[0] == 0x80:
        _, second, seq, ts, ssrc = _HEADER.unpack_from(data)
        return second & 0x7F, seq, ts, ssrc, data[RTP_HEADER_LENGTH:]
    packet = RtpPacket.parse(data)
    return (
        packet.payload_type,
        packet.sequence_number,
        packet.timestamp,
        packet.ssrc,
        packet.payload,
    )


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 section 4 demultiplexing: RTCP packet types 192-223 in the second byte."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def seq_newer(a: int, b: int) -> bool:
    """True when 16-bit sequence number ``a`` is ahead of ``b`` (RFC 1982 arithmetic)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


class Unwrapper:
    """Extends a wrapping counter (16-bit sequence or 32-bit timestamp) to an unbounded int.

    Each value is placed at the extension closest to the previous one, so reordering by
    less than half the range never moves a value into the wrong cycle.
    """

    __slots__ = ("_half", "_last", "_mod")

    def __init__(self, bits: int) -> None:
        self._mod = 1 << bits
        self._half = 1 << (bits - 1)
        self._last: int | None = None

    def unwrap(self, value: int) -> int:
        last = self._last
        if last is None:
            self._last = value
            return value
        delta = (value - last) % self._mod
        if delta >= self._half:
            delta -= self._mod
        extended = last + delta
        if delta > 0:
            self._last = extended
        return extended

    def reset(self) -> None:
        self._last = None
