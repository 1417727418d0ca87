"""Why the demo's log said "audit chain: replayed N spooled rows" during a call with the
database up: the agent's routine audit entries (the caller lookup, the patient read) are
appended with ``queued=True``, which takes the spool on purpose (fsync'd at once so the
call never waits on a commit, committed 50 ms later with whatever else was queued). No
write failed (the log had no "spooling" warning): no pool exhaustion, no timeout. The
replay of those rows was logged as if it recovered from an outage; now it is a debug line,
and "replayed" is kept for a spool a failure (or an earlier run) left.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from carrier.records.store import Records

pytestmark = pytest.mark.postgres


async def test_queued_entries_on_a_healthy_database_are_no_replay_news(
    records: Records, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="carrier.records")
    await asyncio.gather(*(records.audit("agent", "patient.read", ("call", str(n)), "test",
                                         queued=True) for n in range(5)))
    assert await records.drain_spool()
    assert not [r for r in caplog.records if r.levelno >= logging.INFO], caplog.text
    conn = await asyncpg.connect(db_url)
    try:
        landed = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'patient.read'")
    finally:
        await conn.close()
    assert landed == 5
