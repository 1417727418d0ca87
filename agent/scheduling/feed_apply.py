"""The agent's side of ``carrier.plugin.ScheduleFeed``: feed changes into its own tables.

The carrier's feeds (HL7 SIU over MLLP, FHIR R4 polling, CSV import) reduce what a
source sends to a neutral :class:`carrier.plugin.ScheduleChange` or
:class:`carrier.plugin.PrescriptionChange` and call these inside the one transaction of
that message, on its connection, so a message lands whole or not at all. The calendar's
status names stay here (``status_after``); the dialer then sees the result through
``CalendarAppointments`` as it sees any appointment: a booked one gets reminders, a
cancelled one stops them, a missed one starts no-show reactivation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.scheduling.model import AppointmentStatus
from carrier.plugin import PrescriptionChange, ScheduleChange, ScheduleChangeKind
from carrier.records.crypto import KeyRing

_FIXED: dict[ScheduleChangeKind, AppointmentStatus] = {
    ScheduleChangeKind.RESCHEDULED: AppointmentStatus.BOOKED,
    ScheduleChangeKind.CANCELLED: AppointmentStatus.CANCELLED,
    ScheduleChangeKind.DELETED: AppointmentStatus.CANCELLED,
    ScheduleChangeKind.NO_SHOW: AppointmentStatus.MISSED,
}


def status_after(kind: ScheduleChangeKind, current: AppointmentStatus | None,
                 moved: bool) -> AppointmentStatus:
    """The calendar status after a feed change. A booking or modification that does not
    move the appointment keeps a confirmation; one that moves it needs a new one."""
    if kind in _FIXED:
        return _FIXED[kind]
    if current is None or moved:
        return AppointmentStatus.BOOKED
    if kind is ScheduleChangeKind.BOOKED and current is AppointmentStatus.CANCELLED:
        return AppointmentStatus.BOOKED  # booked again under the same id
    return current


_UPSERT = (
    "INSERT INTO sched_appointments (id, patient_id, provider_id, slot_id, start_at,"
    " end_at, status, updated_at) VALUES ($1, $2, $3, NULL, $4, $5, $6, $7)"
    " ON CONFLICT (id) DO UPDATE SET patient_id = EXCLUDED.patient_id,"
    " provider_id = EXCLUDED.provider_id, start_at = EXCLUDED.start_at,"
    " end_at = EXCLUDED.end_at, status = EXCLUDED.status, updated_at = EXCLUDED.updated_at")


def appointment_id(change: ScheduleChange) -> str:
    return f"feed:{change.source}:{change.appointment_ref}"


class FeedCalendar:
    """``ScheduleFeed`` over ``sched_*`` and ``agent_prescriptions`` (``keys``: the
    records key ring, which encrypts medication and pharmacy as the clinic file's are)."""

    def __init__(self, keys: Any) -> None:
        self._keys = keys  # an object with ``.keys`` (Records) or a KeyRing

    def _ring(self) -> KeyRing:
        ring = getattr(self._keys, "keys", self._keys)
        assert isinstance(ring, KeyRing)
        return ring

    async def apply_schedule(self, conn: Any, change: ScheduleChange) -> str:
        app_id = appointment_id(change)
        provider = f"{change.source}:{change.provider_ref}"
        await conn.execute(
            "INSERT INTO sched_providers (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE"
            " SET name = COALESCE(NULLIF(EXCLUDED.name, ''), sched_providers.name)",
            provider, change.provider_name or change.provider_ref)
        row = await conn.fetchrow(
            "SELECT status, start_at, end_at FROM sched_appointments WHERE id = $1 FOR UPDATE",
            app_id)
        current = None if row is None else AppointmentStatus(row["status"])
        if change.starts_at is None:  # a cancellation that names the appointment only
            if row is not None:
                await conn.execute(
                    "UPDATE sched_appointments SET status = $2, updated_at = $3 WHERE id = $1",
                    app_id, str(status_after(change.kind, current, False)), change.changed_at)
            return app_id  # not known yet: the feed remembers it ended (a later booking
            #               sent before it is stale)
        moved = row is not None and (row["start_at"], row["end_at"]) != (
            change.starts_at, change.ends_at)
        status = status_after(change.kind, current, moved)
        await conn.execute(
            _UPSERT, app_id, change.patient_id, provider, change.starts_at, change.ends_at,
            str(status), change.changed_at)
        return app_id

    async def apply_schedules(self, conn: Any, changes: Sequence[ScheduleChange]
                              ) -> list[str]:
        """Many changes (a CSV file's rows, distinct appointments) in a few statements."""
        providers = {f"{c.source}:{c.provider_ref}": c.provider_name or c.provider_ref
                     for c in changes}
        await conn.executemany(
            "INSERT INTO sched_providers (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE"
            " SET name = COALESCE(NULLIF(EXCLUDED.name, ''), sched_providers.name)",
            sorted(providers.items()))
        ids = [appointment_id(c) for c in changes]
        rows = await conn.fetch("SELECT id, status, start_at, end_at FROM sched_appointments"
                                " WHERE id = ANY($1::text[]) FOR UPDATE", ids)
        known = {r["id"]: r for r in rows}
        values = []
        for app_id, c in zip(ids, changes, strict=True):
            row = known.get(app_id)
            current = None if row is None else AppointmentStatus(row["status"])
            moved = row is not None and (row["start_at"], row["end_at"]) != (c.starts_at,
                                                                               c.ends_at)
            values.append((app_id, c.patient_id, f"{c.source}:{c.provider_ref}", c.starts_at,
                           c.ends_at, str(status_after(c.kind, current, moved)), c.changed_at))
        await conn.executemany(_UPSERT, values)
        return ids

    async def apply_prescription(self, conn: Any, change: PrescriptionChange) -> str:
        rx_id = f"feed:{change.source}:{change.prescription_ref}"
        if not change.active:  # stopped or completed: no refill call is due for it
            await conn.execute("DELETE FROM agent_prescriptions WHERE id = $1", rx_id)
            return rx_id
        keys = self._ring()
        await conn.execute(
            "INSERT INTO agent_prescriptions (id, patient_id, medication_ct, pharmacy_ct,"
            " refill_due, source, updated_at) VALUES ($1, $2, $3, $4, $5, $6, now())"
            " ON CONFLICT (id) DO UPDATE SET patient_id = EXCLUDED.patient_id,"
            " medication_ct = EXCLUDED.medication_ct, pharmacy_ct = EXCLUDED.pharmacy_ct,"
            " refill_due = EXCLUDED.refill_due, source = EXCLUDED.source,"
            " updated_at = EXCLUDED.updated_at",
            rx_id, change.patient_id,
            keys.encrypt(change.medication, "agent_prescriptions", "medication", rx_id),
            keys.encrypt(change.pharmacy, "agent_prescriptions", "pharmacy", rx_id),
            change.refill_due, change.source)
        return rx_id
