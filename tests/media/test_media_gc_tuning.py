"""media.transport.tune_gc: the first pacer makes CPython's older collections rare.

A full collection stalls every session's tick (10-14 ms at 250 calls, bench/media_capacity
``gc ms``); it comes after enough middle-generation collections promoted objects that
were only briefly alive. The churn here is a tick's worth of such objects per tick."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from media.transport import GC_YOUNG_THRESHOLD, tune_gc


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def older_collections(ticks: int = 100, calls: int = 250, per_call: int = 4) -> int:
    """Middle and full collections while ``calls`` each keep ``per_call`` fresh tracked
    objects per tick, alive until the next tick's replace them (as wake-up futures and
    address tuples live across a tick)."""
    seen: list[int] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] >= 1:
            seen.append(info["generation"])

    gc.collect()  # every generation's count starts at zero
    gc.callbacks.append(on_gc)
    try:
        alive: list[dict[str, int]] = []
        for tick in range(ticks):
            alive = [{"call": c, "tick": tick} for c in range(calls) for _ in range(per_call)]
        del alive
    finally:
        gc.callbacks.remove(on_gc)
    return len(seen)


def test_cpython_defaults_collect_the_older_generations_under_call_churn(
    thresholds: None,
) -> None:
    gc.set_threshold(700, 10, 10)
    assert older_collections() >= 5


def test_tuned_thresholds_leave_the_older_generations_alone(thresholds: None) -> None:
    gc.set_threshold(700, 10, 10)
    assert tune_gc() == (GC_YOUNG_THRESHOLD, 10, 10)  # middle and old kept
    assert older_collections() == 0


def test_a_higher_threshold_or_a_disabled_collector_is_kept(thresholds: None) -> None:
    gc.set_threshold(50_000, 20, 5)
    assert tune_gc() == (50_000, 20, 5)
    gc.set_threshold(0, 10, 10)  # gc.disable()d by its threshold: stays off
    assert tune_gc() == (0, 10, 10)
