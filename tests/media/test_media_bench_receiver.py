"""bench/media_receiver's far-end arithmetic on hand-made arrivals (no sockets, no clock)."""

from __future__ import annotations

from bench.media_receiver import late_fractions


def stream(
    delays_ms: dict[int, float], count: int = 50, ts0: int = 1000, seq0: int = 7
) -> list[tuple[float, int, int]]:
    """(arrival, RTP timestamp, sequence) of ``count`` 20 ms packets, each ``delays_ms``
    late (default 0) against an ideal 20 ms cadence starting at t=100 s."""
    return [
        (
            100.0 + n * 0.02 + delays_ms.get(n, 0.0) / 1000,
            (ts0 + 160 * n) % 2**32,
            (seq0 + n) % 2**16,
        )
        for n in range(count)
    ]


def test_on_time_stream_has_nothing_late_or_lost() -> None:
    r = late_fractions(stream({}))
    assert r == {"received": 50, "lost": 0, "late": {10: 0, 20: 0, 40: 0, 60: 0}}


def test_delays_are_counted_against_each_buffer() -> None:
    r = late_fractions(stream({5: 15.0, 6: 35.0, 7: 70.0}))
    assert r["late"] == {10: 3, 20: 2, 40: 1, 60: 1}


def test_a_stream_that_starts_late_is_measured_from_its_fastest_packet() -> None:
    # the first packet is 30 ms late, the rest on time: only the first one is late
    r = late_fractions(stream({0: 30.0}))
    assert r["late"] == {10: 1, 20: 1, 40: 0, 60: 0}


def test_missing_sequence_numbers_are_lost_across_wrap() -> None:
    packets = [p for p in stream({}, ts0=2**32 - 320, seq0=65530) if p[2] != 65534]
    assert any(p[2] < 10 for p in packets)  # the sequence wrapped inside the window
    r = late_fractions(packets)
    assert r["lost"] == 1
    assert r["received"] == 49
    assert r["late"][10] == 0  # the timestamp wrap is not a 6-day jump
