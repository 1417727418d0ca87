"""The shared pacer on a fake loop clock: absolute deadlines, phases, catch-up, faults."""

from __future__ import annotations

import heapq
from typing import Any

import pytest

from media.transport import LATENESS_BOUNDS, MAX_CATCH_UP, PERIOD, PHASES, Pacer, TickTarget


class FakeHandle:
    def __init__(self, callback: Any, args: tuple[Any, ...]) -> None:
        self.callback, self.args, self._cancelled = callback, args, False

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled


class FakeLoop:
    """Just enough of an event loop for the pacer: time, call_at, exception handler."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.timers: list[tuple[float, int, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self._n = 0
        self.callback_lag = 0.0  # how late every callback runs

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Any, *args: Any) -> FakeHandle:
        handle = FakeHandle(callback, args)
        self._n += 1
        heapq.heappush(self.timers, (when, self._n, handle))
        return handle

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        self.errors.append(context)

    def run_until(self, t: float) -> None:
        while self.timers and self.timers[0][0] <= t:
            when, _, handle = heapq.heappop(self.timers)
            if handle.cancelled():
                continue
            self.now = max(self.now, when + self.callback_lag)
            handle.callback(*handle.args)
        self.now = max(self.now, t)


class Recorder(TickTarget):
    def __init__(self, fail_at: int | None = None) -> None:
        self.ticks: list[tuple[float, bool]] = []
        self.skipped = 0
        self.failed: BaseException | None = None
        self.fail_at = fail_at

    def on_tick(self, now: float, late: bool) -> None:
        self.ticks.append((now, late))
        if self.fail_at is not None and len(self.ticks) >= self.fail_at:
            raise RuntimeError("synthetic fault")

    def on_skipped(self, count: int) -> None:
        self.skipped += count

    def on_failed(self, exc: BaseException) -> None:
        self.failed = exc


def make() -> tuple[FakeLoop, Pacer]:
    loop = FakeLoop()
    return loop, Pacer(loop)  # type: ignore[arg-type]


def test_ticks_on_absolute_deadlines_without_drift() -> None:
    loop, pacer = make()
    target = Recorder()
    pacer.add(target)
    loop.callback_lag = 0.003  # every callback 3 ms late: must not accumulate
    loop.run_until(1000.0 + 1000 * PERIOD)
    times = [t for t, _ in target.ticks]
    assert len(times) == 1000
    expected = [1000.0 + (n + 1) * PERIOD + 0.003 for n in range(1000)]
    assert max(abs(a - b) for a, b in zip(times, expected, strict=True)) < 1e-6
    assert not any(late for _, late in target.ticks)


def test_sessions_spread_over_phases() -> None:
    loop, pacer = make()
    targets = [Recorder() for _ in range(PHASES * 3)]
    for t in targets:
        pacer.add(t)
    loop.run_until(1000.0 + 10 * PERIOD)
    offsets = sorted({round((t.ticks[0][0] - 1000.0) % PERIOD, 6) for t in targets})
    assert len(offsets) == PHASES
    assert all(len(t.ticks) in (9, 10) for t in targets)


def test_stall_is_caught_up_then_skipped_when_too_long() -> None:
    loop, pacer = make()
    target = Recorder()
    pacer.add(target)
    loop.run_until(1000.0 + 10 * PERIOD)
    assert len(target.ticks) == 10
    # the loop is blocked for 3 periods: the missed ticks are replayed, marked late
    loop.now += 3 * PERIOD
    loop.run_until(loop.now)
    assert len(target.ticks) == 13  # deadlines +0.22, +0.24 and +0.26 all ran at +0.26
    assert [late for _, late in target.ticks[-3:]] == [True, True, False]
    # blocked for far longer: the backlog is skipped and counted, cadence resumes
    loop.now += (MAX_CATCH_UP + 10) * PERIOD
    loop.run_until(loop.now + 5 * PERIOD)
    assert target.skipped >= MAX_CATCH_UP
    assert len(target.ticks) < 13 + MAX_CATCH_UP + 10


def test_a_faulty_session_is_dropped_and_others_keep_ticking() -> None:
    loop, pacer = make()
    bad, good = Recorder(fail_at=3), Recorder()
    pacer.add(bad)
    for _ in range(PHASES):
        pacer.add(Recorder())
    pacer.add(good)  # same phase as `bad` (the least loaded one again)
    loop.run_until(1000.0 + 20 * PERIOD)
    assert isinstance(bad.failed, RuntimeError)
    assert len(bad.ticks) == 4  # the failing group tick, then alone to find the culprit
    assert len(good.ticks) >= 19
    assert loop.errors[0]["exception"] is bad.failed
    assert pacer.sessions == PHASES + 1


def test_remove_last_session_cancels_timers() -> None:
    loop, pacer = make()
    target = Recorder()
    pacer.add(target)
    loop.run_until(1000.0 + 3 * PERIOD)
    pacer.remove(target)
    loop.run_until(1000.0 + 10 * PERIOD)
    assert len(target.ticks) == 3
    assert pacer.sessions == 0


@pytest.mark.parametrize("early", [0.0, 1e-9])
def test_callback_slightly_early_does_not_lose_ticks(early: float) -> None:
    loop, pacer = make()
    target = Recorder()
    pacer.add(target)
    loop.callback_lag = -early
    loop.run_until(1000.0 + 50 * PERIOD)
    assert len(target.ticks) == 50


class BatchRecorder(Recorder):
    batches: list[int] = []  # noqa: RUF012 - class-wide on purpose: tick_group is a classmethod

    @classmethod
    def tick_group(cls, targets: Any, now: float, late: bool) -> None:
        cls.batches.append(len(targets))
        for target in targets:
            target.on_tick(now, late)


def test_one_batch_per_phase_and_tick_whatever_the_number_of_calls() -> None:
    loop, pacer = make()
    BatchRecorder.batches = []
    targets = [BatchRecorder() for _ in range(PHASES * 50)]
    for t in targets:
        pacer.add(t)
    loop.run_until(1000.0 + 10 * PERIOD)
    # 200 sessions, 10 ticks: 4 timer callbacks per period, each one batch of 50
    assert len(BatchRecorder.batches) in range(PHASES * 9, PHASES * 10 + 1)
    assert set(BatchRecorder.batches) == {50}


def test_lateness_is_measured_against_the_absolute_schedule() -> None:
    """A callback 8 ms late is on time (the peer's jitter buffer absorbs it); 12 ms late
    is late; and lateness never accumulates from one tick to the next."""
    for lag, expect_late in ((0.008, False), (0.012, True)):
        loop, pacer = make()
        target = Recorder()
        pacer.add(target)
        loop.callback_lag = lag
        loop.run_until(1000.0 + 100 * PERIOD)
        assert len(target.ticks) in (99, 100)
        assert {late for _, late in target.ticks} == {expect_late}


class Slow(Recorder):
    """A target whose tick takes ``cost`` seconds of the (fake) loop's time."""

    def __init__(self, loop: FakeLoop, cost: float) -> None:
        super().__init__()
        self.loop, self.cost = loop, cost

    def on_tick(self, now: float, late: bool) -> None:
        super().on_tick(now, late)
        self.loop.now += self.cost


def test_lateness_is_measured_when_the_ticks_work_is_done() -> None:

    loop, pacer = make()
    targets = [Slow(loop, 0.003) for _ in range(2)]  # two phases, 3 ms of work each
    for t in targets:
        pacer.add(t)
    loop.run_until(1000.0 + 10 * PERIOD)
    # on time at the callback, but each tick's packet leaves 3 ms after its deadline
    assert not any(late for t in targets for _, late in t.ticks)
    ticks = sum(len(t.ticks) for t in targets)
    assert sum(pacer.lateness) == ticks
    assert pacer.lateness[1] == ticks  # (2 ms, 5 ms]
    assert pacer.max_lateness == pytest.approx(0.003)
    # a 30 ms stall: the replayed ticks land in the buckets above 20 ms and 10 ms
    loop.now += 0.03
    loop.run_until(loop.now)
    assert pacer.lateness[len(LATENESS_BOUNDS)] == 0
    assert pacer.lateness[4] >= 1  # (20, 40] ms
    assert pacer.max_lateness > 0.02


def test_pacer_of_loop_does_not_create_one() -> None:
    loop = FakeLoop()
    assert Pacer.of(loop) is None  # type: ignore[arg-type]
