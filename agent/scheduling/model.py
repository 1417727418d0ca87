"""Calendar data: providers, slots, appointments. PHI-free apart from patient ids and times."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    MISSED = "missed"
    COMPLETED = "completed"


class SchedulingError(Exception):
    """A calendar operation failed; the message names ids only, never PHI."""


class NotFound(SchedulingError):
    pass


class SlotTaken(SchedulingError):
    """The slot was booked by someone else between the offer and the booking."""


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    specialty: str = ""


@dataclass(frozen=True)
class Slot:
    id: str
    provider_id: str
    start: dt.datetime
    end: dt.datetime
    free: bool = True

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end <= self.start:
            raise ValueError("a slot needs an aware start before its end")


@dataclass(frozen=True)
class Appointment:
    id: str
    patient_id: str
    provider_id: str
    start: dt.datetime
    end: dt.datetime
    status: AppointmentStatus
    slot_id: str | None = None


PARTS_OF_DAY = {"morning": (0, 12), "afternoon": (12, 17), "evening": (17, 24)}


def matches(slot: Slot, *, after: dt.datetime, day: dt.date | None, part_of_day: str | None,
            provider_id: str | None, tz: dt.tzinfo) -> bool:
    """The search rule every calendar implementation shares."""
    if not slot.free or slot.start <= after:
        return False
    if provider_id is not None and slot.provider_id != provider_id:
        return False
    local = slot.start.astimezone(tz)
    if day is not None and local.date() != day:
        return False
    if part_of_day is not None:
        low, high = PARTS_OF_DAY[part_of_day]
        if not low <= local.hour < high:
            return False
    return True
