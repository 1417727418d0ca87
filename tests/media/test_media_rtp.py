"""RTP packet vectors, truncation errors, round trips and wrap properties."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtp import (
    RtpPacket,
    RtpParseError,
    Unwrapper,
    is_rtcp,
    pack_rtp,
    parse_fields,
    seq_newer,
)

# A G.711 packet as a softphone sends it: V=2, M=1, PT=0, seq 0x1234, ts 0xA0, SSRC deadbeef
PCMU_VECTOR = bytes.fromhex("80801234000000a0deadbeef") + b"\xff" * 160
# V=2, P=1, X=1, CC=2, PT=8, two CSRCs, a one-byte-header extension, 3 bytes padding
FULL_VECTOR = (
    bytes.fromhex("b208ffff fffffff0 01020304".replace(" ", ""))
    + bytes.fromhex("0000000a0000000b")
    + bytes.fromhex("bede000110ab0000")
    + b"\xd5\xd5"
    + b"\x00\x00\x03"
)


def test_parse_pcmu_vector_field_by_field() -> None:
    packet = RtpPacket.parse(PCMU_VECTOR)
    assert packet.payload_type == 0
    assert packet.marker is True
    assert packet.sequence_number == 0x1234
    assert packet.timestamp == 160
    assert packet.ssrc == 0xDEADBEEF
    assert packet.csrc == ()
    assert packet.extension_profile is None
    assert packet.payload == b"\xff" * 160
    assert packet.serialize() == PCMU_VECTOR


def test_parse_full_vector_field_by_field() -> None:
    packet = RtpPacket.parse(FULL_VECTOR)
    assert packet.payload_type == 8
    assert packet.marker is False
    assert packet.sequence_number == 0xFFFF
    assert packet.timestamp == 0xFFFFFFF0
    assert packet.ssrc == 0x01020304
    assert packet.csrc == (10, 11)
    assert packet.extension_profile == 0xBEDE
    assert packet.extension == bytes.fromhex("10ab0000")
    assert packet.payload == b"\xd5\xd5"  # padding stripped
    # serialize drops the padding; everything else survives
    assert RtpPacket.parse(packet.serialize()) == packet
    assert packet.serialize() == FULL_VECTOR[:-3].replace(b"\xb2", b"\x92", 1)


@pytest.mark.parametrize(
    ("length", "message"),
    [
        (0, "RTP packet length is less than 12 bytes"),
        (11, "RTP packet length is less than 12 bytes"),
        (12, "RTP packet has truncated CSRC"),
        (19, "RTP packet has truncated CSRC"),
        (20, "RTP packet has truncated extension profile / length"),
        (24, "RTP packet has truncated extension value"),
        (27, "RTP packet has truncated extension value"),
    ],
)
def test_truncated_full_vector(length: int, message: str) -> None:
    with pytest.raises(RtpParseError, match=f"^{message}$"):
        RtpPacket.parse(FULL_VECTOR[:length])


def test_bad_version_and_padding() -> None:
    with pytest.raises(RtpParseError, match="invalid version"):
        RtpPacket.parse(b"\x40" + PCMU_VECTOR[1:])
    bad_padding = bytearray(FULL_VECTOR)
    bad_padding[-1] = 0
    with pytest.raises(RtpParseError, match="padding length is invalid"):
        RtpPacket.parse(bytes(bad_padding))
    bad_padding[-1] = 200
    with pytest.raises(RtpParseError, match="padding length is invalid"):
        RtpPacket.parse(bytes(bad_padding))


def test_fast_path_matches_dataclass() -> None:
    assert pack_rtp(0, 0x1234, 160, 0xDEADBEEF, b"\xff" * 160, marker=True) == PCMU_VECTOR


def test_field_validation() -> None:
    with pytest.raises(ValueError, match="payload type"):
        RtpPacket(128, 0, 0, 0)
    with pytest.raises(ValueError, match="sequence"):
        RtpPacket(0, 1 << 16, 0, 0)
    with pytest.raises(ValueError, match="multiple of 4"):
        RtpPacket(0, 0, 0, 0, extension_profile=1, extension=b"\x00")


def test_is_rtcp() -> None:
    assert not is_rtcp(PCMU_VECTOR)
    assert is_rtcp(bytes.fromhex("80c80006"))
    assert not is_rtcp(b"\x80")


packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence_number=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=200),
    marker=st.booleans(),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension_profile=st.none() | st.integers(0, 0xFFFF),
    extension=st.binary(max_size=16).map(lambda b: b[: len(b) // 4 * 4]),
).filter(lambda p: p.extension_profile is not None or not p.extension)


@settings(deadline=None)
@given(packets)
def test_round_trip(packet: RtpPacket) -> None:
    assert RtpPacket.parse(packet.serialize()) == packet


@settings(deadline=None)
@given(st.binary(max_size=64))
def test_parse_never_crashes_unexpectedly(data: bytes) -> None:
    with contextlib.suppress(RtpParseError):
        RtpPacket.parse(data)


@settings(deadline=None)
@given(
    start=st.integers(0, 0xFFFF),
    steps=st.lists(st.integers(-100, 300), min_size=1, max_size=300),
)
def test_sequence_unwrap_tracks_true_value(start: int, steps: list[int]) -> None:
    """Feeding wrapped values of any walk with jumps below half the range recovers it."""
    unwrapper = Unwrapper(16)
    true = start
    assert unwrapper.unwrap(start) == start
    highest = true
    for step in steps:
        true += step
        if true < highest - 0x7000:  # keep within half a cycle of the newest
            true = highest
        highest = max(highest, true)
        assert unwrapper.unwrap(true % (1 << 16)) == true


@settings(deadline=None)
@given(st.integers(0, 0xFFFFFFFF), st.integers(1, 10_000))
def test_timestamp_unwrap_across_wrap(start: int, count: int) -> None:
    unwrapper = Unwrapper(32)
    values = [(start + 160 * i) for i in range(0, count, max(1, count // 50))]
    assert [unwrapper.unwrap(v % (1 << 32)) for v in values] == values


@settings(deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(1, 0x7FFF))
def test_seq_newer(a: int, d: int) -> None:
    b = (a + d) & 0xFFFF
    assert seq_newer(b, a)
    assert not seq_newer(a, b)
    assert not seq_newer(a, a)


@settings(deadline=None)
@given(packets)
def test_fast_field_parser_agrees_with_full_parser(packet: RtpPacket) -> None:
    data = packet.serialize()
    fields = (
        packet.payload_type,
        packet.sequence_number,
        packet.timestamp,
        packet.ssrc,
        packet.payload,
    )
    assert parse_fields(data) == fields


def test_fast_field_parser_still_rejects_truncation() -> None:
    with pytest.raises(RtpParseError, match="less than 12 bytes"):
        parse_fields(PCMU_VECTOR[:11])
