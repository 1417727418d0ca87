"""Staff tasks carry PHI (the number to call, the closing note, the patient and call they
came from). Before, retention never purged them: a done task was kept for ever. Now a
task done longer ago than ``retention.transcript_days`` is purged with the transcripts, by
the pass ``carrier serve`` runs (the application's ``retained_tables``), and the purge is
audited as every purge is; an open task is never purged however old it is."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from agent.callback import create_callback_task
from agent.runtime import VoiceAgent
from agent.staff_tasks import close_task
from carrier.plugin import RetainsText
from carrier.records.store import Records
from carrier.settings import RetentionSettings, Settings
from carrier.upkeep import retention_pass

pytestmark = pytest.mark.postgres
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


async def _task(records: Records, created: dt.datetime, done: dt.datetime | None) -> int:
    task = await create_callback_task(records, queue="front_desk", patient_id="p-0042",
                                      call_id="call-7f3a", number="+15555550142", now=created)
    if done is not None:
        await close_task(records, task, actor="operator:frontdesk", note="called back",
                         now=done)
    return task


async def test_done_tasks_past_the_period_are_purged_and_open_ones_kept(
        records: Records) -> None:
    days = dt.timedelta(days=1)
    old_done = await _task(records, NOW - 400 * days, NOW - 399 * days)
    recent_done = await _task(records, NOW - 400 * days, NOW - 2 * days)
    old_open = await _task(records, NOW - 900 * days, None)
    app = VoiceAgent()
    assert isinstance(app, RetainsText)
    short = Settings(retention=RetentionSettings(transcript_days=30))
    results = await retention_pass(records, short, NOW, text_tables=app.retained_tables)
    assert {r.table: r.rows for r in results}["staff_tasks"] == 1
    left = await records.pool.fetch("SELECT id FROM staff_tasks ORDER BY id")
    assert [r["id"] for r in left] == [recent_done, old_open]
    assert old_done not in [r["id"] for r in left]
    await records.drain_spool()
    [entry] = await records.pool.fetch(
        "SELECT actor, record_id, details FROM audit_log WHERE action = 'retention.purge'"
        " AND record_id = 'staff_tasks'")
    assert entry["actor"] == "system:retention"
    assert json.loads(entry["details"])["rows"] == 1


async def test_the_period_is_the_transcripts_setting(records: Records) -> None:
    """The same task is kept under a longer ``retention.transcript_days``."""
    await _task(records, NOW - 400 * dt.timedelta(days=1), NOW - 399 * dt.timedelta(days=1))
    long = Settings(retention=RetentionSettings(transcript_days=500))
    results = await retention_pass(records, long, NOW, text_tables=VoiceAgent().retained_tables)
    assert {r.table: r.rows for r in results}["staff_tasks"] == 0
    assert await records.pool.fetchval("SELECT count(*) FROM staff_tasks") == 1
