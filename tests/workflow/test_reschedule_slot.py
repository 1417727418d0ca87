"""A reschedule hands the new slot to the call's outcome (``CallOutcome.new_slot``), so
the feeds' write-back can tell the source the new time (SIU^S13 SCH-11, FHIR start/end)."""

from __future__ import annotations

import asyncio
import datetime as dt

from agent.scheduling import Appointment, AppointmentStatus, InMemoryCalendar, Provider, Slot
from agent.workflow.effects import Action
from agent.workflow.host import ActionHost, MemorySink, new_slot
from carrier.plugin import NewSlot

NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)


def test_a_reschedule_gives_the_outcome_the_new_slot() -> None:
    old_start = NOW + dt.timedelta(days=1)
    new_start = NOW + dt.timedelta(days=3, hours=2)
    calendar = InMemoryCalendar(
        [Provider("dr-1", "Dr. Demo")],
        [Slot("s-new", "dr-1", new_start, new_start + dt.timedelta(minutes=20))],
        [Appointment("ap-1", "pat-1", "dr-1", old_start, old_start + dt.timedelta(minutes=20),
                     AppointmentStatus.BOOKED, None)])
    host = ActionHost(calendar, MemorySink(), patient_id="pat-1", appointment_id="ap-1",
                      tz=dt.UTC)
    assert new_slot(host) is None  # nothing moved yet

    async def go() -> str:
        await host.execute(Action("find_free_slots", {}), NOW)
        done = await host.execute(Action("reschedule_appointment", {"choice": 1}), NOW)
        return done.status

    assert asyncio.run(go()) == "ok"
    assert new_slot(host) == NewSlot(new_start, new_start + dt.timedelta(minutes=20), "dr-1")
