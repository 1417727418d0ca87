"""``retention.slot_days``: the agent's calendar slots once past.

Before: ``sched_slots`` (provider ids with times) was no retention target: every slot ever
offered was kept for ever. Now the daily pass and ``carrier retention run`` purge slots
ended longer ago than ``retention.slot_days`` (audited, counts only); a slot an appointment
still points at stays (the appointment is dialing evidence, kept its own period), and so
does every slot still ahead."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import asyncpg
import pytest

from agent.runtime import VoiceAgent
from carrier.errors import ConfigError
from carrier.records.store import Records
from carrier.settings import RetentionSettings, Settings
from carrier.settings_retention import check_retention
from carrier.upkeep import app_slots, policy_for, retention_pass

pytestmark = pytest.mark.postgres
NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
HALF_HOUR = dt.timedelta(minutes=30)


async def _slots(db: asyncpg.Connection) -> list[str]:
    return sorted(r["id"] for r in await db.fetch("SELECT id FROM sched_slots"))


async def test_past_slots_go_after_slot_days_and_booked_ones_stay(
        records: Records, db_url: str) -> None:
    su = await asyncpg.connect(db_url)
    try:
        await su.execute("INSERT INTO sched_providers (id, name) VALUES ('dr', 'Dr Proba')")
        for sid, start in (("s-old", NOW - 400 * DAY), ("s-old-booked", NOW - 401 * DAY),
                           ("s-recent", NOW - 10 * DAY), ("s-ahead", NOW + 10 * DAY)):
            await su.execute("INSERT INTO sched_slots (id, provider_id, start_at, end_at)"
                             " VALUES ($1, 'dr', $2, $3)", sid, start, start + HALF_HOUR)
        await su.execute(
            "INSERT INTO sched_appointments (id, patient_id, provider_id, slot_id, start_at,"
            " end_at, status, updated_at) VALUES ('a-1', 'p-1', 'dr', 's-old-booked', $1, $1,"
            " 'completed', $1)", NOW - 401 * DAY)
        slots = app_slots(VoiceAgent())
        long = Settings(retention=RetentionSettings(slot_days=500))
        await retention_pass(records, long, NOW, slot_tables=slots)
        assert await _slots(su) == ["s-ahead", "s-old", "s-old-booked", "s-recent"]
        short = Settings(retention=RetentionSettings(slot_days=365))
        results = await retention_pass(records, short, NOW, slot_tables=slots)
        assert {r.table: r.rows for r in results}["sched_slots"] == 1
        assert await _slots(su) == ["s-ahead", "s-old-booked", "s-recent"]
        details = json.loads(await su.fetchval(
            "SELECT details FROM audit_log WHERE action = 'retention.purge'"
            " AND record_id = 'sched_slots'"))
        assert details["rows"] == 1
    finally:
        await su.close()


def test_slot_days_is_checked_and_in_the_policy_every_way_runs() -> None:
    bad = Settings(retention=RetentionSettings(slot_days=0))
    with pytest.raises(ConfigError) as refused:
        check_retention(bad, lambda _: "carrier.yaml")
    assert refused.value.key == "retention.slot_days"
    policy = policy_for(dataclasses.replace(Settings(), retention=RetentionSettings(
        slot_days=90)), VoiceAgent())
    assert {t.table: t.days for t in policy.targets}["sched_slots"] == 90
