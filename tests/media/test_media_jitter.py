"""Adaptive jitter buffer driven by a hand-moved clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.jitter import Gap, JitterBuffer, JitterFrame

P = 0.02
SSRC = 0x1234


def payload(i: int) -> bytes:
    return i.to_bytes(4, "big")


def play(
    jb: JitterBuffer, arrivals: list[tuple[float, int]], ticks: int, ts0: int = 0, t0: float = 0.0
):  # type: ignore[no-untyped-def]
    """Deliver (arrival_time, frame_index) packets and call get() every 20 ms."""
    out: list[int | Gap] = []
    pending = sorted(arrivals)
    k = 0
    for n in range(ticks):
        now = t0 + n * P + 0.001
        while k < len(pending) and pending[k][0] <= now:
            _, i = pending[k]
            jb.put(SSRC, (ts0 + 160 * i) & 0xFFFFFFFF, payload(i), pending[k][0])
            k += 1
        got = jb.get(now)
        out.append(int.from_bytes(got.payload, "big") if isinstance(got, JitterFrame) else got)
    return out


def frames(out: list[int | Gap]) -> list[int]:
    return [x for x in out if isinstance(x, int)]


def test_in_order_stream_plays_every_frame_once_in_order() -> None:
    jb = JitterBuffer()
    out = play(jb, [(i * P, i) for i in range(100)], 110)
    got = frames(out)
    assert got == list(range(got[0], 100))
    assert got[0] <= 1  # at most one frame dropped while settling to the minimum delay
    assert out[0] is Gap.NOT_STARTED
    assert jb.stats.lost == 0
    assert jb.stats.late == 0


def test_reordered_and_duplicated_packets() -> None:
    arrivals = []
    for i in range(60):
        t = i * P + (0.015 if i % 7 == 3 else 0.0)  # every 7th packet overtaken by the next
        arrivals.append((t, i))
        if i % 5 == 0:
            arrivals.append((t + 0.001, i))  # duplicate
    jb = JitterBuffer()
    got = frames(play(jb, arrivals, 70))
    assert got == sorted(set(got))
    assert set(range(2, 60)) <= set(got)
    assert jb.stats.duplicates >= 10


def test_loss_is_reported_and_playout_continues() -> None:
    jb = JitterBuffer()
    out = play(jb, [(i * P, i) for i in range(50) if i not in (20, 21, 30)], 60)
    assert out.count(Gap.LOST) == 3
    got = frames(out)
    assert 19 in got
    assert 22 in got
    assert 31 in got


def test_timestamp_wrap_is_seamless() -> None:
    ts0 = 0xFFFFFFFF - 160 * 25  # wraps after 25 frames
    jb = JitterBuffer()
    got = frames(play(jb, [(i * P, i) for i in range(60)], 70, ts0=ts0))
    assert got == list(range(got[0], 60))


def test_ssrc_change_resets() -> None:
    jb = JitterBuffer()
    for i in range(10):
        jb.put(SSRC, 160 * i, payload(i), i * P)
    for n in range(8):
        jb.get(0.08 + n * P)
    jb.put(SSRC + 1, 999_999, payload(500), 0.3)
    assert jb.stats.resets == 1
    assert jb.get(0.31) is Gap.NOT_STARTED
    got = jb.get(0.3 + jb.target_delay + 0.001)
    assert isinstance(got, JitterFrame)
    assert got.payload == payload(500)


def test_sender_restart_far_away_resyncs() -> None:
    jb = JitterBuffer()
    out = play(
        jb, [(i * P, i) for i in range(20)] + [(0.4 + i * P, 100_000 + i) for i in range(20)], 45
    )
    assert jb.stats.resets == 1
    assert frames(out)[-1] > 100_000


def test_delay_grows_with_jitter_and_shrinks_back() -> None:
    jb = JitterBuffer(max_delay=0.2)
    calm = [(i * P, i) for i in range(100)]
    play(jb, calm, 100)
    calm_target = jb.target_delay
    # bursts: packets arrive in clumps of 4 every 80 ms
    jb2 = JitterBuffer(max_delay=0.2)
    bursty = [((i // 4) * 4 * P + 0.06, i) for i in range(200)]
    out = play(jb2, bursty, 215)
    assert jb2.target_delay > calm_target
    assert jb2.target_delay <= 0.2
    # after settling, the bursty stream plays without gaps
    tail = out[100:200]
    assert all(isinstance(x, int) for x in tail), tail


def test_underrun_holds_cursor_then_late_packet_still_plays() -> None:
    jb = JitterBuffer(min_delay=0.04, initial_delay=0.04)
    for i in range(5):
        jb.put(SSRC, 160 * i, payload(i), i * P)
    played = [jb.get(0.09 + n * P) for n in range(5)]
    assert any(isinstance(x, JitterFrame) for x in played)
    assert jb.get(0.2) is Gap.UNDERRUN  # nothing newer yet
    jb.put(SSRC, 160 * 5, payload(5), 0.21)  # late, but the cursor waited for it
    got = jb.get(0.22)
    assert isinstance(got, JitterFrame)
    assert got.payload == payload(5)
    assert jb.stats.late == 0


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="jitter delays"):
        JitterBuffer(min_delay=0.1, initial_delay=0.05)


@settings(max_examples=30, deadline=None)
@given(
    delays=st.lists(st.floats(0, 0.15), min_size=10, max_size=120),
    drop=st.sets(st.integers(0, 119), max_size=20),
    dup=st.sets(st.integers(0, 119), max_size=20),
    ts0=st.integers(0, 0xFFFFFFFF),
)
def test_output_is_strictly_increasing_and_never_repeats(
    delays: list[float], drop: set[int], dup: set[int], ts0: int
) -> None:
    """Whatever the network does (delay, reorder, loss, duplicates, wrap), each frame plays
    at most once, in order, and the buffer stays within its capacity."""
    arrivals = []
    for i, d in enumerate(delays):
        if i in drop:
            continue
        arrivals.append((i * P + d, i))
        if i in dup:
            arrivals.append((i * P + d + 0.005, i))
    jb = JitterBuffer()
    out = play(jb, arrivals, len(delays) + 20, ts0=ts0)
    got = frames(out)
    assert got == sorted(set(got))
    assert jb.depth <= 60
    sent = set(range(len(delays))) - drop
    assert set(got) <= sent
    # every distinct packet is either buffered or counted late (late duplicates count too)
    assert jb.stats.received <= len(sent) <= jb.stats.received + jb.stats.late


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 0xFFFFFFFF), st.floats(0, 0.01))
def test_wrap_anywhere_gives_same_output(ts0: int, jitter: float) -> None:
    arrivals = [(i * P + (jitter if i % 3 == 0 else 0.0), i) for i in range(40)]
    reference = play(JitterBuffer(), arrivals, 50, ts0=0)
    assert play(JitterBuffer(), arrivals, 50, ts0=ts0) == reference
