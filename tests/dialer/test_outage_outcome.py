"""Issue 11 item 4 for the dialer: a call that ends while the database is away keeps its
outcome. The finished dial (its attempts, the outreach's outcome and, for a confirmed
appointment, the appointment's other reminders stopped) goes through the records outbox and
is applied when the server is back, over the lease's reclaim as ``interrupted``.

The outage is the real Postgres refusing the test's database (connections dropped, new ones
refused) rather than a stopped server, which would cost a cluster of its own (~10 s);
``tests/records/test_live_faults.py`` stops the server under the real dialer loop.

Before: the write raised, the pass counted the call ``unrecorded`` and the outcome was lost;
the outreach was closed as ``interrupted`` and the patient who confirmed was called again
for the next reminder.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from carrier.dialer.campaign import REMINDER_CAMPAIGN, CampaignPolicy, PlannedOutreach
from carrier.dialer.gate import GateRequest
from carrier.dialer.ports import DialResult, Outcome
from carrier.dialer.runner import OUTAGE_ERRORS
from carrier.dialer.store import DIAL_DONE, OutreachStore
from carrier.records.calls import CallRecord
from carrier.records.crypto import LocalKek
from carrier.records.embedded import EmbeddedPostgres
from carrier.records.store import Records
from tests.dialer.conftest import START, FakeClock, make_runner

pytestmark = pytest.mark.postgres


class HeldDialer:
    """The gateway's boundary: the call is up until ``release``; the first trunk was down,
    the second carried it and the patient confirmed."""

    def __init__(self) -> None:
        self.dials: list[str] = []
        self.dialling = asyncio.Event()
        self.release = asyncio.Event()

    async def dial(self, request: GateRequest, trunk: str, *, max_call_seconds: int | None,
                   context: Any = None, not_after: Any = None,
                   recheck: Any = None) -> DialResult:
        self.dials.append(request.patient_id)
        self.dialling.set()
        await self.release.wait()
        return DialResult(Outcome.ANSWERED, confirmed=True, trunk="secondary",
                          down=("primary",))


def _reminder(label: str, due: dt.datetime) -> PlannedOutreach:
    return PlannedOutreach(REMINDER_CAMPAIGN, "a1", "p1", "appointment_reminder", label, due,
                           START + dt.timedelta(days=3))


@contextlib.asynccontextmanager
async def database_down(cluster: EmbeddedPostgres, db_url: str) -> AsyncIterator[None]:
    """The server refuses the database: its connections are ended, new ones refused."""
    name = urlsplit(db_url).path.lstrip("/")
    admin = await asyncpg.connect(cluster.uri())
    try:
        await admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE datname = $1", name)
        yield
    finally:
        await admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        await admin.close()


async def _call_ends_in_outage(records: Records, store: OutreachStore,
                               cluster: EmbeddedPostgres, db_url: str) -> FakeClock:
    """A pass dials p1 (two reminders for appointment a1); the database goes away while the
    call is up; the call ends, confirmed; the pass reports the outage. The clock returned
    is past the lease's expiry."""
    clock, dialer = FakeClock(), HeldDialer()
    await store.add([_reminder("72h", START), _reminder("24h", START + dt.timedelta(days=2))],
                    START)
    runner = make_runner(records.pool, clock, dialer)  # type: ignore[arg-type]
    runner.store = store
    run = asyncio.create_task(runner.run_once())
    await asyncio.wait_for(dialer.dialling.wait(), timeout=10)
    async with database_down(cluster, db_url):
        dialer.release.set()  # the call ends while the database is away
        with pytest.raises(OUTAGE_ERRORS):  # the pass reports it (the loop backs off)
            await asyncio.wait_for(run, timeout=30)
        assert records.outbox.spooled == 1
    assert dialer.dials == ["p1"]
    clock.advance(CampaignPolicy().lease_for.total_seconds() + 1)
    return clock


async def test_a_call_ending_in_an_outage_keeps_its_outcome(
    pg_cluster: EmbeddedPostgres, db_url: str, tmp_path: Path, test_kek: LocalKek
) -> None:
    # Replayed only when the test drains the spool, so the lease's reclaim comes first.
    records = await Records.open(db_url, test_kek, tmp_path / "spool", retry_interval=3600)
    try:
        store = OutreachStore(records.pool, records.outbox)
        clock = await _call_ends_in_outage(records, store, pg_cluster, db_url)
        spooled = records.outbox.spool.read()
        assert await store.reclaim_expired(clock.now()) == (0, 1)  # closed as interrupted
        assert await records.drain_spool()
        await _assert_outcome(records.pool)

        # Idempotent: the same record applied again changes nothing.
        await records.outbox.put(DIAL_DONE.name, spooled[0])
        await _assert_outcome(records.pool)
        assert records.health().ok
    finally:
        await records.close()


async def test_a_spooled_outcome_waits_for_the_dialer_after_a_restart(
    pg_cluster: EmbeddedPostgres, db_url: str, tmp_path: Path, test_kek: LocalKek
) -> None:
    """The process ends during the outage. The next one's outbox replays its spool before the
    dialer has registered its operation: that record is kept (other writes go on), and it
    is applied once the dialer's store is built."""
    records = await Records.open(db_url, test_kek, tmp_path / "spool", retry_interval=3600)
    try:
        store = OutreachStore(records.pool, records.outbox)
        clock = await _call_ends_in_outage(records, store, pg_cluster, db_url)
    finally:
        await records.close()
    records = await Records.open(db_url, test_kek, tmp_path / "spool", retry_interval=3600)
    try:
        await records.record_call(CallRecord("c1", "inbound", START, START), [])
        assert not await records.drain_spool()  # the dialer's record waits for its operation
        assert records.outbox.spooled == 1
        assert await records.outbox.waiting(DIAL_DONE.name) == 1
        assert records.health().ok
        assert await records.call_record("c1") is not None  # the call record did not wait
        store = OutreachStore(records.pool, records.outbox)
        assert await store.reclaim_expired(clock.now()) == (0, 1)
        assert await records.drain_spool()
        await _assert_outcome(records.pool)
    finally:
        await records.close()


async def test_no_reminder_is_leased_before_a_spooled_outcome_is_replayed(
    pg_cluster: EmbeddedPostgres, db_url: str, tmp_path: Path, test_kek: LocalKek
) -> None:
    """The database is back and the 24 h reminder is due before the outbox's next replay
    (an hour away here). Before: the next pass leased it and the patient who confirmed
    during the outage was called again. Now the lease replays the finished dial first, which
    stops the sibling (while it cannot be replayed, nothing is leased)."""
    records = await Records.open(db_url, test_kek, tmp_path / "spool", retry_interval=3600)
    try:
        store = OutreachStore(records.pool, records.outbox)
        clock = await _call_ends_in_outage(records, store, pg_cluster, db_url)
        clock.advance(dt.timedelta(days=2).total_seconds())  # the 24 h reminder is due
        assert await store.lease("w2", clock.now(), dt.timedelta(minutes=5), 10) == []
        assert records.outbox.spooled == 0
        await _assert_outcome(records.pool)
    finally:
        await records.close()


async def _assert_outcome(pool: asyncpg.Pool) -> None:
    attempts = await pool.fetch("SELECT trunk, outcome FROM dialer_attempts ORDER BY id")
    assert [(r["trunk"], r["outcome"]) for r in attempts] == [
        ("primary", "trunk_down"), ("secondary", "confirmed")]
    rows = await pool.fetch("SELECT label, state, outcome, dials FROM dialer_outreach"
                            " ORDER BY label DESC")
    assert [tuple(r) for r in rows] == [
        ("72h", "done", "confirmed", 1),  # the real outcome, over "interrupted"
        ("24h", "cancelled", "confirmed", 0),  # the other reminder is stopped
    ]
