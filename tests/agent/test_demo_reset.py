"""The README's demo call reminds the same booked visit on every run: a run that confirmed
it, or a clinic seeded on an earlier day, does not turn the next run into 'already
confirmed' about a past date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.runtime import restore_demo_appointment, seed_demo
from agent.scheduling.model import AppointmentStatus
from agent.scheduling.postgres import PostgresCalendar
from agent.workflow.records import ClinicFileSource
from carrier.records.store import Records
from carrier.settings import Settings

pytestmark = pytest.mark.postgres


async def test_the_demo_appointment_is_booked_again_relative_to_today(
        settings: Settings, records: Records) -> None:
    source = ClinicFileSource(Path(settings.config_dir) / settings.clinic_file)
    tz = ZoneInfo(source.clinic().timezone)
    seeded_on = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    ids = await seed_demo(settings, records, seeded_on)
    calendar = PostgresCalendar(records.pool, tz=tz)
    await calendar.set_status("appt-1", AppointmentStatus.CONFIRMED, seeded_on)
    stale = await calendar.appointment("appt-1")

    now = dt.datetime.now(dt.UTC)
    await restore_demo_appointment(settings, records, "appt-1", now)
    appt = await calendar.appointment("appt-1")
    wanted = next(a for a in source.calendar_data(now)[2] if a.id == "appt-1")
    assert appt.status == AppointmentStatus.BOOKED
    assert appt.start == wanted.start != stale.start
    assert appt.patient_id == ids["pat-1001"]
    # The other seeded appointments are left as they are.
    other = next(a for a in source.calendar_data(seeded_on)[2] if a.id == "appt-2")
    assert (await calendar.appointment("appt-2")).start == other.start
