"""RTCP SR/RR/SDES/BYE vectors and RFC 3550 appendix A receiver statistics."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpParseError,
    SenderReport,
    SourceDescription,
    ntp_middle,
    ntp_timestamp,
    parse_compound,
    serialize_compound,
)
from media.stats import ReceiverStats

BLOCK = ReportBlock(0x11223344, 64, 5, 0x0001_0010, 40, 0xAABBCCDD, 0x00018000)
SR_VECTOR = bytes.fromhex(
    "81c8000c"  # V=2 RC=1 PT=200 length=12 words
    "deadbeef"  # sender SSRC
    "e5a1b2c3"
    "80000000"  # NTP 64-bit
    "000003e8"  # RTP timestamp 1000
    "00000032"
    "00001f40"  # 50 packets, 8000 octets
    "11223344"
    "40"
    "000005"
    "00010010"
    "00000028"
    "aabbccdd"
    "00018000"
)


def test_sender_report_vector_field_by_field() -> None:
    [sr] = parse_compound(SR_VECTOR)
    assert isinstance(sr, SenderReport)
    assert sr.ssrc == 0xDEADBEEF
    assert sr.ntp_timestamp == 0xE5A1B2C3_80000000
    assert sr.rtp_timestamp == 1000
    assert sr.packet_count == 50
    assert sr.octet_count == 8000
    assert sr.reports == (BLOCK,)
    assert sr.serialize() == SR_VECTOR


def test_negative_cumulative_loss_and_rr() -> None:
    block = ReportBlock(1, 0, -3, 70000, 0, 0, 0)
    rr = ReceiverReport(7, (block,))
    data = rr.serialize()
    assert data[:4] == bytes.fromhex("81c90007")
    assert data[13:16] == bytes.fromhex("fffffd")
    assert parse_compound(data) == [rr]


def test_compound_with_sdes_and_bye_round_trip() -> None:
    packets = [
        ReceiverReport(5),
        SourceDescription(5, "abc@media"),
        Bye((5,)),
    ]
    data = serialize_compound(packets)
    assert len(data) % 4 == 0
    assert parse_compound(data) == packets


def test_unknown_packet_types_are_skipped() -> None:
    app = bytes.fromhex("80cc0002") + b"\x00\x00\x00\x05" + b"name"
    assert parse_compound(app + ReceiverReport(5).serialize()) == [ReceiverReport(5)]


@pytest.mark.parametrize(
    ("length", "message"),
    [
        (3, "RTCP packet length is less than 4 bytes"),
        (4, "RTCP packet is truncated"),
        (51, "RTCP packet is truncated"),
    ],
)
def test_truncated_sr(length: int, message: str) -> None:
    with pytest.raises(RtcpParseError, match=f"^{message}$"):
        parse_compound(SR_VECTOR[:length])


def test_inconsistent_lengths() -> None:
    short_sr = bytes.fromhex("80c80001") + b"\x00" * 4
    with pytest.raises(RtcpParseError, match="sender report length is invalid"):
        parse_compound(short_sr)
    claims_block = bytes.fromhex("81c90001") + b"\x00" * 4
    with pytest.raises(RtcpParseError, match="report block is truncated"):
        parse_compound(claims_block)
    with pytest.raises(RtcpParseError, match="invalid version"):
        parse_compound(b"\x00" + SR_VECTOR[1:])


def test_ntp_helpers() -> None:
    ntp = ntp_timestamp(0.5)
    assert ntp >> 32 == 2_208_988_800
    assert ntp & 0xFFFFFFFF == 0x80000000
    assert ntp_middle(0x1122334455667788) == 0x33445566


blocks = st.builds(
    ReportBlock,
    ssrc=st.integers(0, 0xFFFFFFFF),
    fraction_lost=st.integers(0, 255),
    packets_lost=st.integers(-(1 << 23), (1 << 23) - 1),
    highest_sequence=st.integers(0, 0xFFFFFFFF),
    jitter=st.integers(0, 0xFFFFFFFF),
    lsr=st.integers(0, 0xFFFFFFFF),
    dlsr=st.integers(0, 0xFFFFFFFF),
)


@settings(deadline=None)
@given(
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, (1 << 64) - 1),
    st.lists(blocks, max_size=31).map(tuple),
)
def test_sender_report_round_trip(ssrc: int, ntp: int, reports: tuple[ReportBlock, ...]) -> None:
    sr = SenderReport(ssrc, ntp, 1, 2, 3, reports)
    assert parse_compound(sr.serialize()) == [sr]


# --- receiver statistics (RFC 3550 A.1, A.3, A.8) ----------------------------------------


def feed(stats: ReceiverStats, seqs: list[int], start: int = 0) -> None:
    for i, seq in enumerate(seqs):
        stats.update(seq & 0xFFFF, (start + i) * 160, (start + i) * 160)


def test_probation_then_counts() -> None:
    stats = ReceiverStats(9, 100, 8000)
    assert stats.update(100, 0, 0) is False  # first packet of a new source is on probation
    assert stats.update(101, 160, 160) is True
    feed(stats, list(range(102, 200)), 2)
    assert stats.received == 99
    assert stats.expected == 99
    assert stats.lost == 0


def test_loss_and_fraction_lost_per_interval() -> None:
    stats = ReceiverStats(9, 0, 8000)
    seqs = [s for s in range(0, 100) if s % 10 != 5]  # 10% loss
    feed(stats, seqs)
    block = stats.report_block(0, 0)
    assert block.packets_lost == 10
    assert block.fraction_lost == (10 << 8) // 99  # expected excludes the probation packet
    feed(stats, list(range(100, 200)), 100)
    assert stats.report_block(0, 0).fraction_lost == 0  # new interval without loss


def test_sequence_wrap_extends_highest() -> None:
    stats = ReceiverStats(9, 0xFFF0, 8000)
    feed(stats, list(range(0xFFF0, 0x10010)))
    assert stats.extended_max == 0x1000F
    assert stats.lost == 0


def test_duplicates_make_loss_negative() -> None:
    stats = ReceiverStats(9, 10, 8000)
    feed(stats, [10, 11, 12, 12, 12])
    assert stats.lost == -2
    assert stats.snapshot().lost == 0


def test_source_restart_after_two_sequential_jump_packets() -> None:
    stats = ReceiverStats(9, 10, 8000)
    feed(stats, [10, 11, 12])
    assert stats.update(40000, 0, 0) is False  # big jump: wait for confirmation
    assert stats.update(40001, 160, 160) is True  # confirmed: re-synchronised
    assert stats.expected == 1
    assert stats.received == 1


def test_jitter_estimator_matches_a8() -> None:
    stats = ReceiverStats(9, 0, 8000)
    arrivals = [0, 160, 400, 480, 640]  # the third packet is 80 units late
    for i, arrival in enumerate(arrivals):
        stats.update(i, i * 160, arrival)
    # D values after probation: |80| then |80-0|... computed by hand with J += (|D|-J)/16
    j = 0.0
    transits = [a - i * 160 for i, a in enumerate(arrivals)][1:]
    for prev, cur in itertools.pairwise(transits):
        j += (abs(cur - prev) - j) / 16
    assert stats.jitter == int(j)
    assert stats.jitter > 0


def test_a_timestamp_jump_does_not_inflate_jitter() -> None:
    """A sender whose RTP timestamps jump (an SBC switching the media source under one
    SSRC, a clock reset) while packets keep arriving every 20 ms. Before: the jump fed
    the estimator as one packet of jitter the size of the jump (here 5 s: 2383 units,
    300 ms, fading over some 50 packets). Now a transit change past a second is a new
    timing baseline, not jitter; real jitter around it is still measured."""
    stats = ReceiverStats(9, 0, 8000)
    arrival, ts = 0, 0
    for seq in range(200):
        if seq == 100:
            ts += 8000 * 5  # a 5 s jump of the timestamp, none of the arrival
        stats.update(seq, ts, arrival + (40 if seq % 2 else 0))  # 5 ms of real jitter
        ts, arrival = ts + 160, arrival + 160
        if seq == 101:
            assert stats.jitter < 80, stats.jitter
    assert 20 < stats.jitter < 80
