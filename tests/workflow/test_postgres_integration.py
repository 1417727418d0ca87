"""The reminder against the local Postgres calendar and Postgres conversation memory."""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from agent.memory import PostgresMemoryStore
from agent.scheduling import AppointmentStatus
from agent.scheduling.postgres import PostgresCalendar
from agent.workflow.loader import load_workflow
from agent.workflow.records import ClinicFileSource
from agent.workflow.simulator import simulate

from .helpers import CLINIC, NOW, WORKFLOWS

pytestmark = pytest.mark.postgres


async def test_reminder_reschedules_in_postgres_and_next_call_remembers(db_url: str) -> None:
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    try:
        source = ClinicFileSource(CLINIC)
        calendar = PostgresCalendar(pool, tz=ZoneInfo("America/New_York"))
        await calendar.load(*source.calendar_data(NOW), NOW)
        store = PostgresMemoryStore(pool)
        workflow = load_workflow(WORKFLOWS / "appointment_reminder.yaml")

        async def call(turns: list[str]) -> list[str]:
            lines = iter(turns)
            result = await simulate(workflow, source, "pat-1001", now=NOW,
                                    read_line=lambda: next(lines, None), write=lambda _: None,
                                    memory_store=store, calendar=calendar)
            return result.path

        first = await call(["yes", "March fifth nineteen eighty", "reschedule"])  # hangs up
        assert first[-1] == "offer_slots"
        second = await call(["yes", "3/5/1980", "yes", "the first one"])
        assert "details_after_request" in second
        assert second[-1] == "rescheduled"
        rows = await pool.fetch("SELECT id, status FROM sched_appointments "
                                "WHERE patient_id = 'pat-1001' ORDER BY start_at")
        statuses = {r["id"]: r["status"] for r in rows}
        assert statuses["appt-1"] == str(AppointmentStatus.CANCELLED)
        assert sorted(statuses.values()) == ["booked", "cancelled"]
        outcomes = await pool.fetch("SELECT outcome, channel FROM conversation_memory "
                                    "ORDER BY id")
        assert [r["outcome"] for r in outcomes] == ["asked_to_reschedule", "rescheduled"]
    finally:
        await asyncio.wait_for(pool.close(), 10)
