"""Executes the engine's whitelisted actions against a calendar and a record sink.

The engine only names an action; this host does it. Writes of collected answers
go to a ``RecordSink`` (the records engineer backs it with encrypted fields; the
simulator and tests keep them in memory). Every method returns an
``ActionResult``; scheduling failures become statuses, never exceptions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from agent.grammar import DatePreference
from agent.scheduling import Appointment, AppointmentStatus, Calendar, NotFound, Provider, SlotTaken
from agent.scheduling.prescriptions import (
    NOT_NEEDED_KIND,
    MemoryRefillDesk,
    Prescription,
    RefillDesk,
    prescriptions_from,
)
from agent.scheduling.search import describe, search_slots
from agent.workflow.effects import Action, ActionResult
from agent.workflow.records import slot_label
from carrier.plugin import NewSlot

MIN_LEAD = dt.timedelta(hours=2)  # never offer a slot the patient cannot reach in time


class RecordSink(Protocol):
    def save(self, patient_id: str | None, kind: str, values: Mapping[str, Any]) -> None: ...


class Texter(Protocol):
    """Sends a text the patient asked for on this conversation (the SMS channel)."""

    async def send_address(self, patient_id: str, now: dt.datetime) -> bool: ...


class MemorySink:
    def __init__(self) -> None:
        self.saved: list[tuple[str | None, str, dict[str, Any]]] = []

    def save(self, patient_id: str | None, kind: str, values: Mapping[str, Any]) -> None:
        self.saved.append((patient_id, kind, dict(values)))


def new_slot(host: ActionHost) -> NewSlot | None:
    """The slot the call rescheduled the appointment to, for the write-back (or None)."""
    new = host.rebooked
    return None if new is None else NewSlot(new.start, new.end, new.provider_id)


class ActionHost:
    def __init__(self, calendar: Calendar, sink: RecordSink, *, patient_id: str | None,
                 appointment_id: str | None, tz: dt.tzinfo,
                 providers: Mapping[str, Provider] | None = None,
                 prescription: Mapping[str, Any] | None = None,
                 verified: Callable[[], bool] | None = None,
                 refills: RefillDesk | None = None, call_id: str | None = None,
                 texter: Texter | None = None) -> None:
        self._calendar = calendar
        self._sink = sink
        self.patient_id = patient_id
        # Has the conversation verified the patient? (the engine's ``verified``). Without
        # it, who owns the caller ID is no proof of who is talking: answers are kept
        # unlinked for staff to match, never written to that patient's record.
        self._verified = verified or (lambda: False)
        self.appointment_id = appointment_id
        self.rebooked: Appointment | None = None  # the slot a reschedule moved it to
        self._tz = tz
        self._providers = dict(providers or {})
        if refills is None and prescription is not None and patient_id is not None:
            refills = MemoryRefillDesk(prescriptions_from([{**prescription,
                                                            "patient_id": patient_id}]))
        self._refills = refills  # prescriptions due, and staff tasks for refill requests
        self._rx: Prescription | None = None
        self._call_id = call_id
        self._texter = texter
        self._offers: list[str] = []

    async def execute(self, action: Action, now: dt.datetime) -> ActionResult:
        handler = getattr(self, f"_do_{action.name}", None)
        if handler is None:
            return ActionResult(action.name, "error", {"reason": "not available here"})
        try:
            result: ActionResult = await handler(action, now)
        except NotFound:
            return ActionResult(action.name, "error", {"reason": "not found"})
        return result

    async def _do_find_free_slots(self, action: Action, now: dt.datetime) -> ActionResult:
        # What was asked first; when nothing matches, "nearest" (the workflow says so).
        pref = action.args.get("preference")
        pref = pref if isinstance(pref, DatePreference) else None
        appointment = (await self._calendar.appointment(self.appointment_id)
                       if pref is not None and pref.later_same_day and self.appointment_id
                       else None)
        found = await search_slots(self._calendar, pref, after=now + MIN_LEAD,
                                   limit=int(action.args.get("limit") or 3),
                                   provider_id=action.args.get("provider") or None,
                                   tz=self._tz, appointment=appointment)
        self._offers = [s.id for s in found.slots]
        offers = [{"slot_id": s.id, "label": self._label(s.start, s.provider_id)}
                  for s in found.slots]
        if not offers:
            return ActionResult(action.name, "none", {"offers": [], "spoken": ""})
        spoken = "; ".join(f"{o['label']}" for o in offers)
        return ActionResult(action.name, "ok" if found.exact else "nearest",
                            {"offers": offers, "spoken": spoken, "asked": describe(pref)})

    def _label(self, start: dt.datetime, provider_id: str) -> str:
        provider = self._providers.get(provider_id)
        return slot_label(start.astimezone(self._tz), provider.name if provider else None)

    def _chosen(self, action: Action) -> str | None:
        choice = action.args.get("choice")
        if not isinstance(choice, int) or not 1 <= choice <= len(self._offers):
            return None
        return self._offers[choice - 1]

    async def _do_reschedule_appointment(self, action: Action, now: dt.datetime) -> ActionResult:
        slot_id = self._chosen(action)
        if slot_id is None or self.appointment_id is None:
            return ActionResult(action.name, "error", {"reason": "no choice"})
        try:
            new = await self._calendar.reschedule(self.appointment_id, slot_id, now)
        except SlotTaken:
            return ActionResult(action.name, "taken", {})
        self.appointment_id = new.id
        self.rebooked = new
        return ActionResult(action.name, "ok", {"appointment_id": new.id, "slot_id": slot_id,
                                                "label": self._label(new.start, new.provider_id)})

    async def _do_book_appointment(self, action: Action, now: dt.datetime) -> ActionResult:
        slot_id = self._chosen(action)
        if slot_id is None or self.patient_id is None:
            return ActionResult(action.name, "error", {"reason": "no choice"})
        try:
            new = await self._calendar.book(self.patient_id, slot_id, now)
        except SlotTaken:
            return ActionResult(action.name, "taken", {})
        return ActionResult(action.name, "ok", {"appointment_id": new.id, "slot_id": slot_id,
                                                "label": self._label(new.start, new.provider_id)})

    async def _set(self, action: Action, status: AppointmentStatus,
                   now: dt.datetime) -> ActionResult:
        if self.appointment_id is None:
            return ActionResult(action.name, "error", {"reason": "no appointment"})
        appt = await self._calendar.set_status(self.appointment_id, status, now)
        return ActionResult(action.name, "ok", {"appointment_id": appt.id})

    async def _do_confirm_appointment(self, action: Action, now: dt.datetime) -> ActionResult:
        return await self._set(action, AppointmentStatus.CONFIRMED, now)

    async def _do_cancel_appointment(self, action: Action, now: dt.datetime) -> ActionResult:
        return await self._set(action, AppointmentStatus.CANCELLED, now)

    @property
    def verified_patient(self) -> str | None:
        """The patient the conversation verified, or None (answers are then unlinked)."""
        return self.patient_id if self._verified() else None

    async def _save(self, action: Action, kind: str) -> ActionResult:
        patient = self.verified_patient
        self._sink.save(patient, kind, action.args)
        return ActionResult(action.name, "ok", {"linked": patient is not None})

    async def _do_save_demographics(self, action: Action, now: dt.datetime) -> ActionResult:
        return await self._save(action, "demographics")

    async def _do_save_insurance(self, action: Action, now: dt.datetime) -> ActionResult:
        return await self._save(action, "insurance")

    async def _do_save_visit_reason(self, action: Action, now: dt.datetime) -> ActionResult:
        return await self._save(action, "visit_reason")

    async def _do_save_screening(self, action: Action, now: dt.datetime) -> ActionResult:
        return await self._save(action, "screening")

    async def _do_request_refill(self, action: Action, now: dt.datetime) -> ActionResult:
        """The patient said yes: a task for staff (durable, audited) before "request sent"
        is said; without a verified patient and a looked-up prescription, nothing is sent."""
        patient = self.verified_patient
        if self._refills is None or self._rx is None or patient is None:
            return ActionResult(action.name, "error", {"reason": "no prescription"})
        task = await self._refills.request(self._rx, call_id=self._call_id, now=now)
        self._sink.save(patient, "refill_request", action.args)
        return ActionResult(action.name, "ok", {"task_id": task.id, "queue": task.queue})

    async def _do_refill_not_needed(self, action: Action, now: dt.datetime) -> ActionResult:
        """The patient said no refill is needed ("the doctor stopped it"): a task for staff
        to check the record, durable before the patient is told so."""
        if self._refills is None or self._rx is None or self.verified_patient is None:
            return ActionResult(action.name, "error", {"reason": "no prescription"})
        task = await self._refills.request(self._rx, call_id=self._call_id, now=now,
                                           kind=NOT_NEEDED_KIND)
        return ActionResult(action.name, "ok", {"task_id": task.id, "queue": task.queue})

    async def _do_text_address(self, action: Action, now: dt.datetime) -> ActionResult:
        """"Text me the address": sent to the verified patient's own number, at once."""
        patient = self.verified_patient
        if self._texter is None or patient is None:
            return ActionResult(action.name, "error", {"reason": "no text channel"})
        sent = await self._texter.send_address(patient, now)
        return ActionResult(action.name, "ok" if sent else "failed", {})

    async def _do_lookup_refill(self, action: Action, now: dt.datetime) -> ActionResult:
        patient = self.verified_patient
        if self._refills is None or patient is None:
            return ActionResult(action.name, "none", {})
        self._rx = await self._refills.due(patient, now)
        if self._rx is None:
            return ActionResult(action.name, "none", {})
        return ActionResult(action.name, "ok", self._rx.spoken())
