"""Reads the local calendar's appointments by SQL (the carrier never imports `agent`).

Only `sched_appointments` (migration 0100) is read, and only ids, patient ids, start times
and statuses: no clinical data. `sync_campaigns` turns the calendar into outreach rows:
reminders for booked appointments, stops for closed ones, reactivation for missed ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

from carrier.dialer.campaign import (
    STOP_STATUSES,
    Appointment,
    CampaignPolicy,
    plan_no_show,
    plan_reminders,
)
from carrier.dialer.store import OutreachStore


class SqlCalendar:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def upcoming(self, now: dt.datetime, horizon: dt.timedelta) -> list[Appointment]:
        rows = await self.pool.fetch(
            "SELECT id, patient_id, start_at, status FROM sched_appointments"
            " WHERE start_at > $1 AND start_at <= $2 ORDER BY start_at",
            now,
            now + horizon,
        )
        return [Appointment(r["id"], r["patient_id"], r["start_at"], r["status"]) for r in rows]

    async def missed_since(self, since: dt.datetime) -> list[tuple[Appointment, dt.datetime]]:
        """Appointments marked missed since `since`, with when they were marked."""
        rows = await self.pool.fetch(
            "SELECT id, patient_id, start_at, status, updated_at FROM sched_appointments"
            " WHERE status = 'missed' AND updated_at >= $1 ORDER BY updated_at",
            since,
        )
        return [
            (Appointment(r["id"], r["patient_id"], r["start_at"], r["status"]), r["updated_at"])
            for r in rows
        ]

    async def status(self, appointment_id: str) -> str | None:
        value = await self.pool.fetchval(
            "SELECT status FROM sched_appointments WHERE id = $1", appointment_id
        )
        return None if value is None else str(value)


@dataclass(frozen=True)
class SyncReport:
    added: int
    stopped: int


async def sync_campaigns(
    store: OutreachStore, calendar: SqlCalendar, policy: CampaignPolicy, now: dt.datetime
) -> SyncReport:
    """Idempotent: run it every minute; known outreach rows are never duplicated."""
    horizon = max(policy.reminder_offsets) + dt.timedelta(days=1)
    upcoming = await calendar.upcoming(now, horizon)
    planned = plan_reminders(upcoming, policy, now)
    missed = await calendar.missed_since(now - policy.no_show_valid_for)
    planned += [plan_no_show(appt, marked, policy) for appt, marked in missed]
    added = await store.add(planned, now)
    stopped = 0
    for appt in upcoming:
        if appt.status in STOP_STATUSES:
            stopped += await store.stop_appointment(appt.id, appt.status, now)
    for appt, _ in missed:  # reminders of a missed appointment are moot
        stopped += await store.stop_appointment_campaign(appt.id, "reminders", "missed", now)
    return SyncReport(added, stopped)
