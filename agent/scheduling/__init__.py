"""Scheduling: the calendar interface, local (in-memory, Postgres) and FHIR R4 implementations."""

from agent.scheduling.calendar import Calendar, InMemoryCalendar, working_hour_slots
from agent.scheduling.model import (
    Appointment,
    AppointmentStatus,
    NotFound,
    Provider,
    SchedulingError,
    Slot,
    SlotTaken,
)

__all__ = ["Appointment", "AppointmentStatus", "Calendar", "InMemoryCalendar", "NotFound",
           "Provider", "SchedulingError", "Slot", "SlotTaken", "working_hour_slots"]
