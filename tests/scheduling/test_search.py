"""Slot search honours what was asked, and says when it gives the nearest instead."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

from agent.grammar.dates import DatePreference
from agent.scheduling import Appointment, AppointmentStatus, InMemoryCalendar, Provider
from agent.scheduling.calendar import working_hour_slots
from agent.scheduling.search import SlotSearch, describe, search_slots

TZ = ZoneInfo("America/New_York")
MONDAY = dt.date(2026, 11, 23)
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
PROVIDER = Provider("prov-1", "Dr. Ada Testwell", "family medicine")


def calendar(days: int = 10) -> InMemoryCalendar:
    slots = working_hour_slots([PROVIDER], first_day=MONDAY, days=days, start=dt.time(9),
                               end=dt.time(17), minutes=30, weekdays=range(5), tz=TZ)
    return InMemoryCalendar([PROVIDER], slots, [], tz=TZ)


def find(pref: DatePreference | None, cal: InMemoryCalendar | None = None,
         appointment: Appointment | None = None) -> SlotSearch:
    return asyncio.run(search_slots(cal or calendar(), pref, after=NOW, limit=3,
                                    provider_id=None, tz=TZ, appointment=appointment))


def test_day_and_part_of_day_are_honoured() -> None:
    found = find(DatePreference(dt.date(2026, 11, 26), "afternoon"))
    assert found.exact
    assert all(s.start.astimezone(TZ).date() == dt.date(2026, 11, 26) for s in found.slots)
    assert all(s.start.astimezone(TZ).hour >= 12 for s in found.slots)


def test_a_week_spans_its_days_and_earliest_is_the_first_open_time() -> None:
    week = find(DatePreference(dt.date(2026, 11, 30), None, days=7))
    assert week.exact
    assert week.slots[0].start.astimezone(TZ).date() == dt.date(2026, 11, 30)
    earliest = find(DatePreference(None, None, earliest=True))
    assert earliest.exact
    assert earliest.slots[0].start.astimezone(TZ) == dt.datetime(2026, 11, 23, 10, 30, tzinfo=TZ)


def test_later_that_day_follows_the_appointment() -> None:
    appt = Appointment("a", "p", "prov-1", dt.datetime(2026, 11, 24, 14, 0, tzinfo=TZ),
                       dt.datetime(2026, 11, 24, 14, 30, tzinfo=TZ), AppointmentStatus.BOOKED)
    found = find(DatePreference(None, None, later_same_day=True), appointment=appt)
    assert found.exact
    assert all(s.start.astimezone(TZ).date() == dt.date(2026, 11, 24) for s in found.slots)
    assert all(s.start > appt.start for s in found.slots)


def test_nothing_matching_gives_the_nearest_and_says_so() -> None:
    saturday = DatePreference(dt.date(2026, 11, 28), "morning")
    found = find(saturday)
    assert not found.exact
    assert found.slots[0].start.astimezone(TZ).date() == dt.date(2026, 11, 30)
    assert describe(saturday) == "on Saturday morning"
    evening = find(DatePreference(dt.date(2026, 11, 26), "evening"))
    assert not evening.exact  # the same day at another time, said to be so
    assert all(s.start.astimezone(TZ).date() == dt.date(2026, 11, 26) for s in evening.slots)
