"""The console's retention (``GET /api/v1/retention``, ``POST /api/v1/retention/run``)
applies the policy ``carrier serve`` applies, the hosted application's tables included
(tests/records/test_retention_coverage.py has the tables and the rows). Before, the
console's run skipped the application's tables (conversation memory, done staff tasks)
and its policy did not name them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from agent.runtime import VoiceAgent
from carrier.console.app import ConsoleContext
from carrier.settings import RetentionSettings, Settings
from tests.console.conftest import SignedIn
from tests.records.test_retention_coverage import EXPIRING, LEFT, counts, seed

pytestmark = pytest.mark.postgres


async def test_the_console_runs_and_reports_the_same_policy(
        console: ConsoleContext, signin: Any) -> None:
    await seed(console.records.pool)
    console.settings = Settings(data_dir=console.settings.data_dir,
                                console=console.settings.console,
                                retention=RetentionSettings(transcript_days=30))
    console.application = SimpleNamespace(retained_tables=VoiceAgent().retained_tables)
    s: SignedIn = await signin("compliance")
    c = s.client
    policy = (await c.get("/api/v1/retention")).json()
    assert set(EXPIRING) <= set(policy["targets"])
    r = await c.post("/api/v1/retention/run", json={"confirm": True}, headers=s.headers())
    assert r.status_code == 200, r.text
    assert await counts(console.records.pool) == LEFT


async def test_the_console_purges_dial_evidence_and_call_records_as_the_command_does(
        console: ConsoleContext, signin: Any, clock: Any) -> None:
    """``retention.dial_evidence_days`` / ``call_record_days`` act through the console's
    run as through ``carrier retention run`` (tests/ops/test_retention_evidence.py): the
    same rows go, the same stay (an appointment ahead, a pending outreach, an open task)."""
    from tests.ops.test_retention_evidence import (  # noqa: PLC0415
        AFTER,
        CALL_DAYS,
        DIAL_DAYS,
        NOW,
        left,
    )
    from tests.ops.test_retention_evidence import seed as seed_evidence  # noqa: PLC0415

    async with console.records.pool.acquire() as conn:
        await seed_evidence(conn)
    console.settings = Settings(
        data_dir=console.settings.data_dir, console=console.settings.console,
        retention=RetentionSettings(dial_evidence_days=DIAL_DAYS, call_record_days=CALL_DAYS))
    console.application = VoiceAgent()
    clock.now = NOW  # the rows' ages are from this
    s: SignedIn = await signin("compliance")
    policy = (await s.client.get("/api/v1/retention")).json()
    assert policy["targets"]["dialer_attempts"] == DIAL_DAYS
    assert policy["targets"]["sched_appointments"] == DIAL_DAYS
    assert policy["targets"]["call_details"] == CALL_DAYS
    r = await s.client.post("/api/v1/retention/run", json={"confirm": True},
                            headers=s.headers())
    assert r.status_code == 200, r.text
    async with console.records.pool.acquire() as conn:
        got = await left(conn)
    # the ledgers were not seeded here: no do-not-call entry, no consent
    assert got == {**AFTER, "dnc": 0, "consent": 0}


async def test_the_database_lost_mid_run_is_a_503_and_the_next_run_finishes(
        console: ConsoleContext, signin: Any, clock: Any, db_url: str) -> None:
    """Before: the console's run let the database's going away escape as a 500 (a traceback
    in the log). Now: 503 saying nothing more was purged, and a second run finishes."""
    import asyncio  # noqa: PLC0415

    import asyncpg  # noqa: PLC0415

    from tests.ops.test_retention_evidence import (  # noqa: PLC0415
        AFTER,
        CALL_DAYS,
        DIAL_DAYS,
        NOW,
        left,
    )
    from tests.ops.test_retention_evidence import seed as seed_evidence  # noqa: PLC0415

    async with console.records.pool.acquire() as conn:
        await seed_evidence(conn)
    console.settings = Settings(
        data_dir=console.settings.data_dir, console=console.settings.console,
        retention=RetentionSettings(dial_evidence_days=DIAL_DAYS, call_record_days=CALL_DAYS))
    console.application = VoiceAgent()
    clock.now = NOW  # the rows' ages are from this
    s: SignedIn = await signin("compliance")
    holder = await asyncpg.connect(db_url)
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("LOCK TABLE call_details IN ACCESS EXCLUSIVE MODE")
        run = asyncio.create_task(s.client.post("/api/v1/retention/run", json={"confirm": True},
                                                headers=s.headers()))
        waiting = None
        while waiting is None:  # the run reaches call_details and waits on the lock
            assert not run.done(), run.result().text
            await asyncio.sleep(0.05)
            waiting = await holder.fetchval(
                "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE c.relname = 'call_details' AND NOT l.granted LIMIT 1")
        await holder.execute("SELECT pg_terminate_backend($1)", waiting)
        r = await run
        await tx.rollback()
    finally:
        await holder.close()
    assert r.status_code == 503, r.text
    assert "database" in r.json()["detail"]
    r = await s.client.post("/api/v1/retention/run", json={"confirm": True},
                            headers=s.headers())
    assert r.status_code == 200, r.text
    async with console.records.pool.acquire() as conn:
        assert await left(conn) == {**AFTER, "dnc": 0, "consent": 0}
