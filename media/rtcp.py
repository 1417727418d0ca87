"""RTCP sender/receiver reports, SDES CNAME and BYE (RFC 3550 section 6).

Only what a telephony leg needs: compound SR/RR + SDES out, and SR/RR/BYE in. Other
packet types (APP, feedback) are skipped when parsing a compound packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
SDES_CNAME = 1

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01

_COMMON = struct.Struct("!BBH")
_BLOCK = struct.Struct("!IB3sIIII")
_SENDER_INFO = struct.Struct("!IIIII")


class RtcpParseError(ValueError):
    """The peer sent bytes that are not a valid RTCP compound packet."""


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report (RFC 3550 section 6.4.1)."""

    ssrc: int
    fraction_lost: int  # 8-bit fixed point, lost/expected * 256
    packets_lost: int  # cumulative, signed 24-bit
    highest_sequence: int  # extended highest sequence number received
    jitter: int  # in timestamp units
    lsr: int  # middle 32 bits of the last SR's NTP timestamp
    dlsr: int  # delay since that SR, 1/65536 s

    def __post_init__(self) -> None:
        if not 0 <= self.fraction_lost <= 255:
            raise ValueError("fraction lost out of range")
        if not -(1 << 23) <= self.packets_lost < (1 << 23):
            raise ValueError("cumulative lost out of range")

    def serialize(self) -> bytes:
        lost = (self.packets_lost & 0xFFFFFF).to_bytes(3, "big")
        return _BLOCK.pack(
            self.ssrc,
            self.fraction_lost,
            lost,
            self.highest_sequence & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.lsr,
            self.dlsr,
        )

    @classmethod
    def parse(cls, data: bytes, pos: int) -> ReportBlock:
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, pos)
        packets_lost = int.from_bytes(lost, "big", signed=True)
        return cls(ssrc, fraction, packets_lost, highest, jitter, lsr, dlsr)


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int  # 64-bit NTP format
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()

    def serialize(self) -> bytes:
        body = struct.pack("!I", self.ssrc) + _SENDER_INFO.pack(
            self.ntp_timestamp >> 32,
            self.ntp_timestamp & 0xFFFFFFFF,
            self.rtp_timestamp,
            self.packet_count & 0xFFFFFFFF,
            self.octet_count & 0xFFFFFFFF,
        )
        body += b"".join(r.serialize() for r in self.reports)
        return _pack(RTCP_SR, len(self.reports), body)


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()

    def serialize(self) -> bytes:
        body = struct.pack("!I", self.ssrc) + b"".join(r.serialize() for r in self.reports)
        return _pack(RTCP_RR, len(self.reports), body)


@dataclass(frozen=True, slots=True)
class SourceDescription:
    ssrc: int
    cname: str

    def serialize(self) -> bytes:
        cname = self.cname.encode()[:255]
        chunk = struct.pack("!IBB", self.ssrc, SDES_CNAME, len(cname)) + cname + b"\x00"
        chunk += b"\x00" * (-len(chunk) % 4)
        return _pack(RTCP_SDES, 1, chunk)


@dataclass(frozen=True, slots=True)
class Bye:
    sources: tuple[int, ...]

    def serialize(self) -> bytes:
        return _pack(
            RTCP_BYE, len(self.sources), struct.pack(f"!{len(self.sources)}I", *self.sources)
        )


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye


def _pack(packet_type: int, count: int, body: bytes) -> bytes:
    if count > 31:
        raise ValueError("RTCP count field holds at most 31 items")
    return _COMMON.pack(0x80 | count, packet_type, len(body) // 4) + body


def serialize_compound(packets: list[RtcpPacket]) -> bytes:
    return b"".join(p.serialize() for p in packets)


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Parse every packet of a compound RTCP datagram (RFC 3550 section 6.1)."""
    out: list[RtcpPacket] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 4:
            raise RtcpParseError("RTCP packet length is less than 4 bytes")
        first, ptype, words = _COMMON.unpack_from(data, pos)
        if first >> 6 != 2:
            raise RtcpParseError("RTCP packet has invalid version")
        end = pos + 4 + 4 * words
        if end > len(data):
            raise RtcpParseError("RTCP packet is truncated")
        count = first & 0x1F
        body_end = end
        if first & 0x20:
            padding = data[end - 1]
            if padding == 0 or end - padding < pos + 4:
                raise RtcpParseError("RTCP packet padding length is invalid")
            body_end -= padding
        body = bytes(data[pos + 4 : body_end])
        parsed = _parse_one(ptype, count, body)
        if parsed is not None:
            out.append(parsed)
        pos = end
    return out


def _parse_blocks(body: bytes, start: int, count: int) -> tuple[ReportBlock, ...]:
    if len(body) < start + 24 * count:
        raise RtcpParseError("RTCP report block is truncated")
    return tuple(ReportBlock.parse(body, start + 24 * i) for i in range(count))


def _parse_one(ptype: int, count: int, body: bytes) -> RtcpPacket | None:
    if ptype == RTCP_SR:
        if len(body) < 24:
            raise RtcpParseError("RTCP sender report length is invalid")
        (ssrc,) = struct.unpack_from("!I", body)
        ntp_hi, ntp_lo, rtp_ts, pkts, octets = _SENDER_INFO.unpack_from(body, 4)
        blocks = _parse_blocks(body, 24, count)
        return SenderReport(ssrc, ntp_hi << 32 | ntp_lo, rtp_ts, pkts, octets, blocks)
    if ptype == RTCP_RR:
        if len(body) < 4:
            raise RtcpParseError("RTCP receiver report length is invalid")
        (ssrc,) = struct.unpack_from("!I", body)
        return ReceiverReport(ssrc, _parse_blocks(body, 4, count))
    if ptype == RTCP_SDES:
        return _parse_sdes(body, count)
    if ptype == RTCP_BYE:
        if len(body) < 4 * count:
            raise RtcpParseError("RTCP bye length is invalid")
        return Bye(struct.unpack_from(f"!{count}I", body))
    return None


def _parse_sdes(body: bytes, count: int) -> SourceDescription | None:
    """Return the first chunk's CNAME (the only SDES item a telephony leg uses)."""
    if count == 0:
        return None
    if len(body) < 4:
        raise RtcpParseError("RTCP SDES source is truncated")
    (ssrc,) = struct.unpack_from("!I", body)
    pos = 4
    while pos < len(body) and body[pos] != 0:
        if pos + 2 > len(body):
            raise RtcpParseError("RTCP SDES item is truncated")
        kind, length = body[pos], body[pos + 1]
        if pos + 2 + length > len(body):
            raise RtcpParseError("RTCP SDES item is truncated")
        if kind == SDES_CNAME:
            return SourceDescription(
                ssrc, body[pos + 2 : pos + 2 + length].decode("utf-8", "replace")
            )
        pos += 2 + length
    return None


def ntp_timestamp(unix_time: float) -> int:
    """64-bit NTP timestamp for a Unix time in seconds."""
    seconds = int(unix_time)
    fraction = int((unix_time - seconds) * (1 << 32)) & 0xFFFFFFFF
    return ((seconds + NTP_EPOCH_OFFSET) & 0xFFFFFFFF) << 32 | fraction


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits used as LSR in report blocks."""
    return (ntp >> 16) & 0xFFFFFFFF
