"""Every table that holds PHI and expires is purged by every way retention runs: the daily
pass of ``carrier serve``, ``carrier retention run`` and the console's ``POST
/api/v1/retention/run`` apply one policy (and ``GET /api/v1/retention`` says what it is).

Before: ``call_answers`` (the raw answers a caller gave, encrypted: a date of birth, a
name) and the delivered ``feed_outbox`` payloads (appointment outcomes, refill requests,
encrypted) were never purged by anything; ``carrier retention run`` purged neither the
texts (``sms_messages``) nor the application's tables (conversation memory, done staff
tasks), and the console's run skipped the application's tables, so an operator who ran
retention by hand was told it was done while those rows stayed."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from agent.runtime import VoiceAgent
from carrier.cli import main
from carrier.records.store import Records
from carrier.settings import RetentionSettings, Settings
from carrier.upkeep import retention_pass
from tests.records.test_cli import env

__all__ = ["env"]
pytestmark = pytest.mark.postgres
T = TypeVar("T")
NOW = dt.datetime.now(dt.UTC)
OLD = NOW - dt.timedelta(days=400)
RECENT = NOW - dt.timedelta(days=2)
EXPIRING = ("sms_messages", "conversation_memory", "staff_tasks", "call_answers",
            "feed_outbox")


async def seed(db: Any) -> None:
    """One old and one recent row in each table; an old feed message not yet delivered."""
    for at in (OLD, RECENT):
        await db.execute(
            "INSERT INTO sms_messages (patient_id, direction, subject, at)"
            " VALUES ('p-1', 'out', 'reminder', $1)", at)
        await db.execute(
            "INSERT INTO conversation_memory (patient_id, channel, workflow, outcome, at)"
            " VALUES ('p-1', 'sms', 'w', 'confirmed', $1)", at)
        await db.execute(
            "INSERT INTO staff_tasks (kind, queue, patient_id, status, created_at, done_at,"
            " done_by) VALUES ('callback', 'front_desk', 'p-1', 'done', $1, $1, 'op')", at)
        await db.execute(
            "INSERT INTO call_answers (call_id, kind, patient_id, answers_ct, at)"
            " VALUES ('c-1', 'intake', 'p-1', '\\x00'::bytea, $1)", at)
        await db.execute(
            "INSERT INTO feed_outbox (dedup_key, destination, kind, payload_ct, status,"
            " next_at, created_at, sent_at) VALUES ($2, 'hl7', 'confirmed', '\\x00'::bytea,"
            " 'sent', $1, $1, $1)", at, f"sent-{at.isoformat()}")
    await db.execute(
        "INSERT INTO feed_outbox (dedup_key, destination, kind, payload_ct, status, next_at,"
        " created_at) VALUES ('pending-old', 'hl7', 'confirmed', '\\x00'::bytea, 'failed',"
        " $1, $1)", OLD)


async def counts(pool: Any) -> dict[str, int]:
    return {t: int(await pool.fetchval(f"SELECT count(*) FROM {t}"))
            for t in EXPIRING}


# each table: the recent row left; feed_outbox: the recent delivered one and the undelivered
LEFT = {"sms_messages": 1, "conversation_memory": 1, "staff_tasks": 1, "call_answers": 1,
        "feed_outbox": 2}


async def test_the_daily_pass_purges_every_expiring_table(records: Records) -> None:
    await seed(records.pool)
    short = Settings(retention=RetentionSettings(transcript_days=30))
    await retention_pass(records, short, NOW, text_tables=VoiceAgent().retained_tables)
    assert await counts(records.pool) == LEFT


def test_the_command_purges_what_the_daily_pass_purges(env: Path, db_url: str,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    async def with_db(fn: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
        pool = await asyncpg.create_pool(db_url, min_size=1, max_size=1)
        try:
            return await fn(pool)
        finally:
            await pool.close()

    asyncio.run(with_db(seed))
    assert main(["retention", "run", "--transcript-days", "30"]) == 0
    out = capsys.readouterr().out
    assert asyncio.run(with_db(counts)) == LEFT
    for table in EXPIRING:
        assert f"{table}: before" in out
