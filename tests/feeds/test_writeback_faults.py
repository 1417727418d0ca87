"""A fault of ours while delivering one write-back (a destination's bug: here one that
raises with a patient's name in its text) costs that row a retry, never the call, the
other rows or the feeds. Over the embedded Postgres, the outcome recorded as a real call's
end is. Before: the exception went up through ``deliver_due``: out of the call handler
(the call's end raised) and, in ``Writeback.run``, out of the feeds' TaskGroup (the HL7
listener and the FHIR poll ended with it)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

import pytest

from carrier.feeds.hl7_out import Outcome
from carrier.feeds.writeback import OutcomeRecorder, Writeback
from carrier.plugin import OutcomeKind
from carrier.records.store import Records
from tests.feeds.conftest import Listening, now_utc
from tests.feeds.test_writeback import Scripted, _booked, _context

pytestmark = pytest.mark.postgres


class Buggy:
    """A destination with a bug on its first send."""

    def __init__(self) -> None:
        self.sent: list[Outcome] = []
        self.calls = 0
        self.delivered = asyncio.Event()

    async def send(self, outcome: Outcome) -> None:
        self.calls += 1
        if self.calls == 1:
            raise LookupError("no route for Testa Patience")
        self.sent.append(outcome)
        self.delivered.set()


async def test_a_delivery_bug_costs_one_retry_not_the_call_or_the_loop(
        hl7_server: Listening, records: Records, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    app_id, pid = await _booked(hl7_server, tmp_path)
    clock = [now_utc()]
    dest = Buggy()
    wb = Writeback(records, {"hl7": dest}, clock=lambda: clock[0])
    with caplog.at_level(logging.DEBUG):
        outcome = await OutcomeRecorder(Scripted(OutcomeKind.CONFIRMED), wb)(
            object(), _context(app_id, pid))  # the call ends normally
        assert outcome.kind == OutcomeKind.CONFIRMED
        row = await records.pool.fetchrow("SELECT status, last_error FROM feed_outbox")
        assert row["status"] == "pending"
        assert row["last_error"].startswith("internal fault (LookupError")
        stop = asyncio.Event()
        clock[0] += dt.timedelta(minutes=5)  # past the back-off
        run = asyncio.create_task(wb.run(stop, interval=3600))
        delivered = asyncio.create_task(dest.delivered.wait())
        await asyncio.wait([delivered, run], timeout=30, return_when=asyncio.FIRST_COMPLETED)
        delivered.cancel()
        stop.set()
        await run  # ended by stop, not by the fault
    assert len(dest.sent) == 1
    assert await records.pool.fetchval("SELECT status FROM feed_outbox") == "sent"
    assert "Testa" not in caplog.text
