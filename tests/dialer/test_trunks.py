"""The process's one trunk pool: CPS token bucket, concurrency, failover, hold-down and
OPTIONS-probe recovery (pure, controlled clock), and its asyncio edge on a fake clock."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carrier.trunk_service import SlotOutcome, TrunkSlots
from carrier.trunks import TokenBucket, TrunkLimits, TrunkPool, TrunkState
from tests.dialer.conftest import FakeClock

CHAIN = ("primary", "secondary")


def test_token_bucket_paces_calls_per_second() -> None:
    b = TokenBucket(rate=2.0, burst=1.0)
    assert b.try_take(0.0)
    assert not b.try_take(0.1)
    assert b.ready_at(0.1) == pytest.approx(0.5)
    assert b.try_take(0.5)


def test_concurrency_limit_and_failover() -> None:
    pool = TrunkPool(
        [
            TrunkLimits("primary", cps=100, max_concurrent=2, burst=10),
            TrunkLimits("secondary", cps=100, max_concurrent=1, burst=10),
        ],
        hold_down=30,
    )
    assert [pool.acquire(0.0, CHAIN) for _ in range(4)] == [
        "primary", "primary", "secondary", None]
    pool.release("primary")
    assert pool.acquire(0.0, CHAIN) == "primary"
    for name in ("primary", "primary", "secondary"):
        pool.release(name)
    pool.mark_down("primary", 1.0)
    assert pool.acquire(2.0, CHAIN) == "secondary"
    assert pool.acquire(2.0, CHAIN) is None  # secondary full, primary down
    pool.release("secondary")
    # After the hold-down the primary is probed (once), and back only when it answers.
    assert pool.due_probes(31.5) == ["primary"]
    assert pool.due_probes(31.5) == []
    assert pool.acquire(31.5, ("primary",)) is None
    pool.probe_result("primary", True, 31.6)
    assert pool.acquire(31.6, CHAIN) == "primary"  # back after the hold-down and a probe
    with pytest.raises(RuntimeError):
        TrunkPool([TrunkLimits("t", 1, 1)]).release("t")


def test_a_trunk_that_fails_its_probe_stays_down_for_another_hold_down() -> None:
    """Regression (issue 10): the gateway's trunk_up flag never reset; here a down trunk
    is probed after each hold-down and comes back when the probe succeeds."""
    pool = TrunkPool([TrunkLimits("primary", cps=10, max_concurrent=5, burst=5)], hold_down=30)
    pool.mark_down("primary", 0.0)
    assert pool.next_probe_at() == 30.0
    assert pool.due_probes(29.9) == []
    assert pool.due_probes(30.0) == ["primary"]
    assert pool.state("primary") is TrunkState.PROBING
    pool.probe_result("primary", False, 30.5)
    assert pool.state("primary") is TrunkState.DOWN
    assert pool.due_probes(45.0) == []
    assert pool.due_probes(60.5) == ["primary"]
    pool.probe_result("primary", True, 61.0)
    assert pool.states() == {"primary": TrunkState.UP}
    assert pool.acquire(61.0, ("primary",)) == "primary"


def test_chain_follows_failover_links_once() -> None:
    pool = TrunkPool([TrunkLimits("a", 1, 1, failover="b"), TrunkLimits("b", 1, 1, failover="a"),
                      TrunkLimits("c", 1, 1)])
    assert pool.chain("a") == ("a", "b")
    assert pool.chain("c") == ("c",)


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan"), float("inf")])
def test_bucket_refuses_a_rate_that_limits_nothing_or_everything(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=rate, burst=1)


async def test_slots_fail_over_and_keep_the_down_trunk_out() -> None:
    """Three calls: the primary fails once (503), is marked down, the rest go straight to
    the secondary (what the runner test checks through the database, here at the edge)."""
    clock = FakeClock()
    pool = TrunkPool([TrunkLimits("primary", 50, 8, 8, failover="secondary"),
                      TrunkLimits("secondary", 50, 8, 8)])
    slots = TrunkSlots(pool, clock=clock.monotonic, sleep=clock.sleep)
    tried: list[str] = []

    async def attempt(trunk: str) -> str:
        tried.append(trunk)
        return "503" if trunk == "primary" else "200"

    def outcome_of(r: str) -> SlotOutcome:
        return SlotOutcome.TRUNK_DOWN if r == "503" else SlotOutcome.DONE

    placed = [await slots.place("primary", attempt, outcome_of) for _ in range(3)]
    assert tried == ["primary", "secondary", "secondary", "secondary"]
    assert [p.down for p in placed] == [("primary",), (), ()]
    assert [p.trunk for p in placed] == ["secondary"] * 3
    assert pool.active("secondary") == 0  # DONE frees the slot


async def test_slots_hold_a_call_until_released_and_report_no_trunk() -> None:
    clock = FakeClock()
    pool = TrunkPool([TrunkLimits("only", cps=100, max_concurrent=1, burst=10)])
    slots = TrunkSlots(pool, clock=clock.monotonic, sleep=clock.sleep)

    async def up(trunk: str) -> str:
        return "call"

    first = await slots.place("only", up, lambda _: SlotOutcome.HOLD)
    assert (first.trunk, pool.active("only")) == ("only", 1)
    second = asyncio.ensure_future(slots.place("only", up, lambda _: SlotOutcome.HOLD))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not second.done()  # waits for the held call's slot
    slots.release("only")
    assert (await second).trunk == "only"
    slots.release("only")
    pool.mark_down("only", clock.monotonic())
    nothing = await slots.place("only", up, lambda _: SlotOutcome.HOLD)
    assert (nothing.result, nothing.trunk) == (None, None)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(0.5, 50),
    burst=st.integers(1, 5),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=60),
)
def test_bucket_never_exceeds_rate_plus_burst(rate: float, burst: int, gaps: list[float]) -> None:
    b = TokenBucket(rate=rate, burst=burst)
    t, taken = 0.0, 0
    for gap in gaps:
        t += gap
        taken += b.try_take(t)
    assert taken <= burst + rate * t + 1e-9
