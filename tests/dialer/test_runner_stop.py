"""A pass stopped by the process stopping (SIGINT/SIGTERM to ``campaign run`` or ``serve``).

Before, the runner had no way to be told: a signal let the pass lease, gate and dial every
due reminder before the process exited. Now the leases not yet gated are handed back
(pending, due, no dial counted), and a dial the gateway did not send because the stop
came while it waited for a trunk slot (``stopped``) is not a dial: due again at once and
not counted against the patient's caps.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import asyncpg
import pytest

from carrier.dialer.ports import DialResult, Outcome
from tests.dialer.conftest import FakeClock, FakeDialer, make_runner
from tests.dialer.test_runner import seed

pytestmark = pytest.mark.postgres


async def _states(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    rows = await pool.fetch("SELECT state, dials FROM dialer_outreach ORDER BY id")
    return [(r["state"], r["dials"]) for r in rows]


async def test_a_stopped_pass_hands_its_leases_back_undialled(pool: asyncpg.Pool) -> None:
    await seed(pool, 3)
    clock = FakeClock()
    dialer = FakeDialer(clock)
    runner = make_runner(pool, clock, dialer)
    stop = asyncio.Event()
    stop.set()  # the signal came as the pass began
    report = await runner.run_once(stop=stop)
    assert (report.leased, report.released, report.dialled) == (3, 3, 0)
    assert dialer.dials == []
    assert await _states(pool) == [("pending", 0)] * 3
    again = await runner.run_once()  # the next run, at once: all three, once each
    assert again.dialled == 3
    assert sorted(p for p, _, _ in dialer.dials) == ["p0", "p1", "p2"]


async def test_a_dial_not_sent_for_the_stop_is_due_again_and_not_a_call(
    pool: asyncpg.Pool
) -> None:
    await seed(pool, 1)
    clock = FakeClock()
    outcomes = [Outcome.STOPPED, Outcome.ANSWERED]
    dialer = FakeDialer(clock, script=lambda _r, _t, n: DialResult(outcomes[n - 1]))
    runner = make_runner(pool, clock, dialer)
    first = await runner.run_once()
    assert first.outcomes == Counter({"stopped": 1})
    assert first.dialled == 0
    assert await _states(pool) == [("pending", 0)]
    second = await runner.run_once()  # no wait, and the daily cap does not count it
    assert second.refused == Counter()
    assert second.outcomes == Counter({"answered": 1})
    assert await _states(pool) == [("done", 1)]
