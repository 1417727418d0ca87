"""The local calendar in Postgres (tables from migration 0100).

Booking takes the slot with ``UPDATE ... WHERE free RETURNING``, so two callers
racing for one slot cannot both get it: the loser gets ``SlotTaken``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from agent.scheduling.model import (
    PARTS_OF_DAY,
    Appointment,
    AppointmentStatus,
    NotFound,
    Provider,
    Slot,
    SlotTaken,
)


def _appt(row: Mapping[str, Any]) -> Appointment:
    return Appointment(row["id"], row["patient_id"], row["provider_id"], row["start_at"],
                       row["end_at"], AppointmentStatus(row["status"]), row["slot_id"])


class PostgresCalendar:
    """Any asyncpg pool (``acquire()``) works; ``tz`` is the clinic's time zone."""

    def __init__(self, pool: Any, *, tz: dt.tzinfo, timeout: float = 5.0) -> None:
        self._pool = pool
        self._tz = tz
        self._timeout = timeout

    async def load(self, providers: Iterable[Provider], slots: Iterable[Slot],
                   appointments: Iterable[Appointment], now: dt.datetime) -> None:
        """Seed (idempotently) from the demo clinic data."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.executemany(
                "INSERT INTO sched_providers (id, name, specialty) VALUES ($1, $2, $3) "
                "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, "
                "specialty = EXCLUDED.specialty",
                [(p.id, p.name, p.specialty) for p in providers], timeout=self._timeout)
            await conn.executemany(
                "INSERT INTO sched_slots (id, provider_id, start_at, end_at, free) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                [(s.id, s.provider_id, s.start, s.end, s.free) for s in slots],
                timeout=self._timeout)
            await conn.executemany(
                "INSERT INTO sched_appointments ("
                "id, patient_id, provider_id, slot_id, start_at, end_at, status, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
                [(a.id, a.patient_id, a.provider_id, a.slot_id, a.start, a.end, str(a.status),
                  now) for a in appointments], timeout=self._timeout)

    async def restore(self, appt: Appointment, now: dt.datetime) -> None:
        """Put one seeded appointment back as the clinic file has it (time and status);
        the demo call does this so that every run reminds the same booked visit."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO sched_appointments ("
                "id, patient_id, provider_id, slot_id, start_at, end_at, status, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET "
                "patient_id = EXCLUDED.patient_id, provider_id = EXCLUDED.provider_id, "
                "slot_id = EXCLUDED.slot_id, start_at = EXCLUDED.start_at, "
                "end_at = EXCLUDED.end_at, status = EXCLUDED.status, "
                "updated_at = EXCLUDED.updated_at",
                appt.id, appt.patient_id, appt.provider_id, appt.slot_id, appt.start, appt.end,
                str(appt.status), now, timeout=self._timeout)

    async def providers(self) -> list[Provider]:
        rows = await self._pool.fetch("SELECT id, name, specialty FROM sched_providers "
                                      "ORDER BY id", timeout=self._timeout)
        return [Provider(r["id"], r["name"], r["specialty"]) for r in rows]

    async def appointment(self, appointment_id: str) -> Appointment:
        row = await self._pool.fetchrow(
            "SELECT "
            "id, patient_id, provider_id, slot_id, start_at, end_at, status "
            "FROM sched_appointments WHERE id = $1", appointment_id,
            timeout=self._timeout)
        if row is None:
            raise NotFound(f"appointment {appointment_id}")
        return _appt(row)

    async def appointments_for(self, patient_id: str) -> list[Appointment]:
        rows = await self._pool.fetch(
            "SELECT "
            "id, patient_id, provider_id, slot_id, start_at, end_at, status "
            "FROM sched_appointments WHERE patient_id = $1 "
            "ORDER BY start_at, id", patient_id, timeout=self._timeout)
        return [_appt(r) for r in rows]

    async def free_slots(self, *, after: dt.datetime, limit: int = 3,
                         day: dt.date | None = None, part_of_day: str | None = None,
                         provider_id: str | None = None) -> list[Slot]:
        low, high = PARTS_OF_DAY[part_of_day] if part_of_day else (0, 24)
        tzname = str(self._tz)
        rows = await self._pool.fetch(
            "SELECT id, provider_id, start_at, end_at FROM sched_slots "
            "WHERE free AND start_at > $1 "
            "AND ($2::text IS NULL OR provider_id = $2) "
            "AND ($3::date IS NULL OR (start_at AT TIME ZONE $4)::date = $3) "
            "AND extract(hour FROM start_at AT TIME ZONE $4) >= $5 "
            "AND extract(hour FROM start_at AT TIME ZONE $4) < $6 "
            "ORDER BY start_at, provider_id LIMIT $7",
            after, provider_id, day, tzname, low, high, limit, timeout=self._timeout)
        return [Slot(r["id"], r["provider_id"], r["start_at"], r["end_at"]) for r in rows]

    async def book(self, patient_id: str, slot_id: str, now: dt.datetime) -> Appointment:
        async with self._pool.acquire() as conn, conn.transaction():
            return await self._book(conn, patient_id, slot_id, now)

    async def _book(self, conn: Any, patient_id: str, slot_id: str,
                    now: dt.datetime) -> Appointment:
        slot = await conn.fetchrow(
            "UPDATE sched_slots SET free = false WHERE id = $1 AND free "
            "RETURNING id, provider_id, start_at, end_at", slot_id, timeout=self._timeout)
        if slot is None:
            exists = await conn.fetchval("SELECT 1 FROM sched_slots WHERE id = $1", slot_id,
                                         timeout=self._timeout)
            raise SlotTaken(f"slot {slot_id}") if exists else NotFound(f"slot {slot_id}")
        appt_id = f"appt-{uuid.uuid4().hex[:12]}"
        row = await conn.fetchrow(
            "INSERT INTO sched_appointments ("
            "id, patient_id, provider_id, slot_id, start_at, end_at, status, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, 'booked', $7) RETURNING "
            "id, patient_id, provider_id, slot_id, start_at, end_at, status",
            appt_id, patient_id, slot["provider_id"], slot_id, slot["start_at"],
            slot["end_at"], now, timeout=self._timeout)
        return _appt(row)

    async def set_status(self, appointment_id: str, status: AppointmentStatus,
                         now: dt.datetime) -> Appointment:
        async with self._pool.acquire() as conn, conn.transaction():
            return await self._set_status(conn, appointment_id, status, now)

    async def _set_status(self, conn: Any, appointment_id: str, status: AppointmentStatus,
                          now: dt.datetime) -> Appointment:
        row = await conn.fetchrow(
            "UPDATE sched_appointments SET status = $2, updated_at = $3 WHERE id = $1 "
            "RETURNING "
            "id, patient_id, provider_id, slot_id, start_at, end_at, status",
            appointment_id, str(status), now, timeout=self._timeout)
        if row is None:
            raise NotFound(f"appointment {appointment_id}")
        if status == AppointmentStatus.CANCELLED and row["slot_id"] is not None:
            await conn.execute("UPDATE sched_slots SET free = true WHERE id = $1",
                               row["slot_id"], timeout=self._timeout)
        return _appt(row)

    async def reschedule(self, appointment_id: str, slot_id: str,
                         now: dt.datetime) -> Appointment:
        async with self._pool.acquire() as conn, conn.transaction():
            old = await conn.fetchrow(
                "SELECT "
                "id, patient_id, provider_id, slot_id, start_at, end_at, status "
                "FROM sched_appointments WHERE id = $1 FOR UPDATE",
                appointment_id, timeout=self._timeout)
            if old is None:
                raise NotFound(f"appointment {appointment_id}")
            new = await self._book(conn, old["patient_id"], slot_id, now)
            await self._set_status(conn, appointment_id, AppointmentStatus.CANCELLED, now)
            return new
