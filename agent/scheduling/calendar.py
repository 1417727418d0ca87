"""The calendar interface and the in-memory implementation (simulator and tests).

Implementations: ``InMemoryCalendar`` here, ``PostgresCalendar`` (local system of
record, migration 0100) and ``FhirCalendar`` (an EHR over FHIR R4).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Protocol

from agent.scheduling.model import (
    Appointment,
    AppointmentStatus,
    NotFound,
    Provider,
    Slot,
    SlotTaken,
    matches,
)


class Calendar(Protocol):
    async def providers(self) -> list[Provider]: ...

    async def appointment(self, appointment_id: str) -> Appointment: ...

    async def appointments_for(self, patient_id: str) -> list[Appointment]: ...

    async def free_slots(self, *, after: dt.datetime, limit: int = 3,
                         day: dt.date | None = None, part_of_day: str | None = None,
                         provider_id: str | None = None) -> list[Slot]: ...

    async def book(self, patient_id: str, slot_id: str, now: dt.datetime) -> Appointment: ...

    async def set_status(self, appointment_id: str, status: AppointmentStatus,
                         now: dt.datetime) -> Appointment: ...

    async def reschedule(self, appointment_id: str, slot_id: str,
                         now: dt.datetime) -> Appointment: ...


class InMemoryCalendar:
    def __init__(self, providers: Iterable[Provider], slots: Iterable[Slot],
                 appointments: Iterable[Appointment], *, tz: dt.tzinfo = dt.UTC) -> None:
        self._providers = {p.id: p for p in providers}
        self._slots = {s.id: s for s in slots}
        self._appointments = {a.id: a for a in appointments}
        self._tz = tz
        self._next = 1

    async def providers(self) -> list[Provider]:
        return sorted(self._providers.values(), key=lambda p: p.id)

    async def appointment(self, appointment_id: str) -> Appointment:
        try:
            return self._appointments[appointment_id]
        except KeyError:
            raise NotFound(f"appointment {appointment_id}") from None

    async def appointments_for(self, patient_id: str) -> list[Appointment]:
        return sorted((a for a in self._appointments.values() if a.patient_id == patient_id),
                      key=lambda a: a.start)

    async def free_slots(self, *, after: dt.datetime, limit: int = 3,
                         day: dt.date | None = None, part_of_day: str | None = None,
                         provider_id: str | None = None) -> list[Slot]:
        found = [s for s in self._slots.values()
                 if matches(s, after=after, day=day, part_of_day=part_of_day,
                            provider_id=provider_id, tz=self._tz)]
        return sorted(found, key=lambda s: (s.start, s.provider_id))[:limit]

    async def book(self, patient_id: str, slot_id: str, now: dt.datetime) -> Appointment:
        slot = self._slots.get(slot_id)
        if slot is None:
            raise NotFound(f"slot {slot_id}")
        if not slot.free:
            raise SlotTaken(f"slot {slot_id}")
        self._slots[slot_id] = Slot(slot.id, slot.provider_id, slot.start, slot.end, free=False)
        appt_id = f"appt-new-{self._next}"
        self._next += 1
        appt = Appointment(appt_id, patient_id, slot.provider_id, slot.start, slot.end,
                           AppointmentStatus.BOOKED, slot.id)
        self._appointments[appt_id] = appt
        return appt

    async def set_status(self, appointment_id: str, status: AppointmentStatus,
                         now: dt.datetime) -> Appointment:
        appt = await self.appointment(appointment_id)
        updated = Appointment(appt.id, appt.patient_id, appt.provider_id, appt.start, appt.end,
                              status, appt.slot_id)
        self._appointments[appt.id] = updated
        if status == AppointmentStatus.CANCELLED and appt.slot_id in self._slots:
            s = self._slots[appt.slot_id]
            self._slots[s.id] = Slot(s.id, s.provider_id, s.start, s.end, free=True)
        return updated

    async def reschedule(self, appointment_id: str, slot_id: str,
                         now: dt.datetime) -> Appointment:
        old = await self.appointment(appointment_id)
        new = await self.book(old.patient_id, slot_id, now)
        await self.set_status(old.id, AppointmentStatus.CANCELLED, now)
        return new


def working_hour_slots(providers: Iterable[Provider], *, first_day: dt.date, days: int,
                       start: dt.time, end: dt.time, minutes: int, weekdays: Iterable[int],
                       tz: dt.tzinfo, busy: Iterable[tuple[str, dt.datetime]] = ()) -> list[Slot]:
    """Free slots from working hours, minus (provider, start) pairs already booked."""
    taken = set(busy)
    allowed = set(weekdays)
    out: list[Slot] = []
    for provider in providers:
        for offset in range(days):
            day = first_day + dt.timedelta(days=offset)
            if day.weekday() not in allowed:
                continue
            cursor = dt.datetime.combine(day, start, tz)
            stop = dt.datetime.combine(day, end, tz)
            while cursor + dt.timedelta(minutes=minutes) <= stop:
                slot_end = cursor + dt.timedelta(minutes=minutes)
                if (provider.id, cursor) not in taken:
                    sid = f"slot-{provider.id}-{cursor.strftime('%Y%m%dT%H%M')}"
                    out.append(Slot(sid, provider.id, cursor, slot_end))
                cursor = slot_end
    return out
