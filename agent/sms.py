"""Appointment reminders by text, and the patient's replies, on the agent's side.

The reminder names the clinic and the time only (the carrier's validated template, the
minimum necessary: never the provider or the reason for the visit). A reply is read with
the same grammars as a spoken answer (``agent.grammar.intents``) plus the letters the
reminder offers (C confirm, X cancel, R reschedule), and carried out by the same
whitelisted actions as on a call (``ActionHost``: ``confirm_appointment``,
``cancel_appointment``). Each outcome is remembered in the one conversation memory with
channel ``sms``, so the next voice reminder is skipped (the calendar says confirmed) and a
later call greets with context once the caller is verified (``route_context``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from agent.grammar.intents import detect
from agent.memory import MemoryStore, interaction_from
from agent.scheduling import Calendar
from agent.workflow.effects import Action
from agent.workflow.host import ActionHost, MemorySink
from agent.workflow.records import spoken_day, spoken_time

WORKFLOW = "appointment_reminder"
LETTERS = {"C": "confirm", "1": "confirm", "Y": "confirm", "YES": "confirm",
           "X": "cancel", "2": "cancel", "R": "reschedule", "3": "reschedule"}
ACK = {
    "confirm": "Thank you, your appointment is confirmed.",
    "cancel": "Your appointment is cancelled. Call us any time to book again.",
    "reschedule": "Thank you. We will call you to find a new time.",
    "unclear": "Sorry, we did not understand. Reply C to confirm, R to reschedule, X to cancel.",
}


class PatientTextLike(Protocol):
    @property
    def patient_id(self) -> str | None: ...

    @property
    def sender(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def at(self) -> dt.datetime: ...


SendToPatient = Callable[[str, str, str], Awaitable[Any]]
"""``(patient_id, purpose, text)``: the carrier's gated send (``SmsService.send_to_patient``)."""
Reply = Callable[[str, str], Awaitable[Any]]
"""``(number, text)``: an answer to the patient's own text (not an outreach)."""


def read_reply(text: str) -> str:
    """confirm / cancel / reschedule / unclear, from a reply text."""
    word = text.strip().strip(".!").upper()
    if word in LETTERS:
        return LETTERS[word]
    intents = detect(text)
    for intent in ("cancel", "reschedule"):
        if intent in intents:
            return intent
    if "affirm" in intents:
        return "confirm"
    return "unclear"


class TextReminders:
    """Sends reminders and answers the replies (a ``carrier.sms.service.TextHandler``)."""

    def __init__(self, calendar: Calendar, memory: MemoryStore, *, send: SendToPatient,
                 reply: Reply, template: str, clinic: str, tz: dt.tzinfo) -> None:
        self.calendar = calendar
        self.memory = memory
        self.send = send
        self.reply = reply
        self.template = template
        self.clinic = clinic
        self.tz = tz
        self._open: dict[str, str] = {}  # patient -> appointment the last reminder named

    async def send_reminder(self, patient_id: str, appointment_id: str) -> Any:
        appt = await self.calendar.appointment(appointment_id)
        local = appt.start.astimezone(self.tz)
        text = self.template.format(clinic=self.clinic, day=spoken_day(local),
                                    time=spoken_time(local))
        sent = await self.send(patient_id, "appointment_reminder", text)
        self._open[patient_id] = appointment_id
        return sent

    async def __call__(self, message: PatientTextLike) -> None:
        pid = message.patient_id
        appointment = self._open.get(pid) if pid else None
        if pid is None or appointment is None:
            return  # not a reply to a reminder: staff see it in the inbox (not ours)
        choice = read_reply(message.text)
        host = ActionHost(self.calendar, MemorySink(), patient_id=pid,
                          appointment_id=appointment, tz=self.tz)
        outcome = {"confirm": "confirmed", "cancel": "cancelled",
                   "reschedule": "asked_to_reschedule"}.get(choice)
        if choice in ("confirm", "cancel"):
            result = await host.execute(Action(f"{choice}_appointment", {}), message.at)
            if result.status != "ok":
                outcome, choice = None, "unclear"
        if outcome is not None:
            if choice != "reschedule":
                self._open.pop(pid, None)
            await self.memory.record(interaction_from(
                pid, "sms", WORKFLOW, outcome, message.at,
                facts={"appointment_id": appointment}))
        await self.reply(message.sender, ACK[choice])
