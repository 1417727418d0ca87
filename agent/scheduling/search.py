"""Finding open times that honour what the caller asked for.

"Thursday afternoon", "next Tuesday", "later that day", "whatever's earliest",
"anything next week": the search looks for exactly that first. When nothing matches it
says so (``exact`` is False) and gives the nearest open times instead: the same day at
another time, else the first days after the one asked for. It never passes off another
day as the one asked for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from agent.grammar.dates import DatePreference
from agent.scheduling.calendar import Calendar
from agent.scheduling.model import Appointment, Slot


@dataclass(frozen=True)
class SlotSearch:
    slots: tuple[Slot, ...]
    exact: bool  # every slot is what the caller asked for


async def search_slots(calendar: Calendar, pref: DatePreference | None, *, after: dt.datetime,
                       limit: int, provider_id: str | None, tz: dt.tzinfo,
                       appointment: Appointment | None = None) -> SlotSearch:
    if pref is None or (pref.date is None and pref.part_of_day is None
                        and not pref.later_same_day):
        found = await calendar.free_slots(after=after, limit=limit, provider_id=provider_id)
        return SlotSearch(tuple(found), True)
    day, days, start = pref.date, pref.days, after
    if pref.later_same_day:
        if appointment is None:
            found = await calendar.free_slots(after=after, limit=limit, provider_id=provider_id)
            return SlotSearch(tuple(found), False)
        day, days = appointment.start.astimezone(tz).date(), 1
        start = max(after, appointment.start)
    exact = await _within(calendar, day, days, pref.part_of_day, after=start, limit=limit,
                          provider_id=provider_id)
    if exact:
        return SlotSearch(tuple(exact), True)
    nearest = await _nearest(calendar, day, days, after=start, limit=limit,
                             provider_id=provider_id, tz=tz)
    return SlotSearch(tuple(nearest), False)


async def _within(calendar: Calendar, day: dt.date | None, days: int, part: str | None, *,
                  after: dt.datetime, limit: int, provider_id: str | None) -> list[Slot]:
    if day is None:
        return await calendar.free_slots(after=after, limit=limit, part_of_day=part,
                                         provider_id=provider_id)
    found: list[Slot] = []
    for offset in range(days):
        found += await calendar.free_slots(after=after, limit=limit - len(found),
                                           day=day + dt.timedelta(days=offset),
                                           part_of_day=part, provider_id=provider_id)
        if len(found) >= limit:
            break
    return found


async def _nearest(calendar: Calendar, day: dt.date | None, days: int, *, after: dt.datetime,
                   limit: int, provider_id: str | None, tz: dt.tzinfo) -> list[Slot]:
    """The same days at any time, else the first open times from the day asked for."""
    same = await _within(calendar, day, days, None, after=after, limit=limit,
                         provider_id=provider_id)
    if same or day is None:
        return same or await calendar.free_slots(after=after, limit=limit,
                                                 provider_id=provider_id)
    from_day = max(after, dt.datetime.combine(day, dt.time(0), tz))
    found = await calendar.free_slots(after=from_day, limit=limit, provider_id=provider_id)
    return found or await calendar.free_slots(after=after, limit=limit, provider_id=provider_id)


def describe(pref: DatePreference | None) -> str:
    """What was asked, in words for the "nothing then" prompt: "on Thursday afternoon"."""
    if pref is None:
        return "at that time"
    part = f" {pref.part_of_day}" if pref.part_of_day else ""
    if pref.later_same_day:
        return "later that day"
    if pref.date is None:
        return f"in the{part}" if part else "at that time"
    if pref.days >= 7:
        return f"the week of {pref.date:%B} {pref.date.day}" + (f" in the{part}" if part else "")
    return f"on {pref.date:%A}{part}"
