"""What a call knows before its first word: the caller's record, the appointment the
workflow is about, the clinic's providers and the caller's conversation memory.

``what_is_known`` is read once, when the call is answered (``agent.handler``). A
records or calendar outage is not a failed call: the call goes on as with an unknown
caller (nothing of a patient to speak), and the outage is logged without PHI and audited.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.memory import MemoryView
from agent.scheduling import Appointment, AppointmentStatus, Provider
from carrier.plugin import CallContext
from carrier.records.store import DATABASE_UNAVAILABLE, RecordsUnavailable

if TYPE_CHECKING:
    from agent.handler import AgentRuntime
    from carrier.call import Call

log = logging.getLogger("agent.handler")


@dataclass(frozen=True)
class Known:
    """The caller and their appointment, as far as the records tell (all None: unknown)."""

    patient_id: str | None = None
    patient: dict[str, Any] | None = None
    appointment: Appointment | None = None
    providers: dict[str, Provider] = field(default_factory=dict)
    memory: MemoryView | None = None


async def what_is_known(rt: AgentRuntime, call: Call, context: CallContext, workflow_id: str,
                        now: dt.datetime) -> Known:
    """Everything the records know of this call's caller (an outage: an unknown caller)."""
    patient_id, patient = await patient_for(rt, call, {"patient_id": context.patient_id})
    providers: dict[str, Provider] = {}
    try:
        providers = {p.id: p for p in await rt.calendar.providers()}
        appointment = None
        if patient_id is not None:
            appts = await rt.calendar.appointments_for(patient_id)
            appointment = pick_appointment(workflow_id, appts, now, context.appointment_id)
        memory = await rt.memory.load(patient_id) if patient_id else None
    except DATABASE_UNAVAILABLE:
        # The calendar and memory live in the database too: during an outage the call
        # goes on as with an unknown caller (no PHI to speak), and is recorded.
        log.warning("call %s: calendar unreachable; continuing without it", call.call_id)
        return Known(providers=providers)
    return Known(patient_id, patient, appointment, providers, memory)


async def patient_for(rt: AgentRuntime, call: Any, context: Mapping[str, Any]
                      ) -> tuple[str | None, dict[str, Any] | None]:
    """The caller's record, or ``(None, None)``: unknown, ambiguous, or the records database
    unreachable (the call goes on as with an unknown caller, and is recorded)."""
    pid = context.get("patient_id")
    try:
        if pid is None and call.caller.number:
            found = await rt.records.find_patients_by_phone(
                call.caller.number, actor="agent", reason=f"identify caller {call.call_id}",
                queued=True)
            if len(found) == 1:
                pid = str(found[0].id)
        if pid is None:
            return None, None
        patient = await rt.records.get_patient(uuid.UUID(str(pid)), actor="agent",
                                               reason=f"call {call.call_id}", queued=True)
    except RecordsUnavailable:
        log.warning("call %s: records unreachable; continuing as an unknown caller",
                    call.call_id)
        await rt.records.audit("agent", "patient.lookup_unavailable", ("call", call.call_id),
                               "records database unreachable", {}, queued=True)
        return None, None
    if patient is None:
        return None, None
    first, _, last = patient.name.partition(" ")
    return str(patient.id), {
        "id": str(patient.id), "first_name": first, "last_name": last,
        "dob": patient.dob.isoformat() if patient.dob else "", "phone": patient.phone,
        "member_id": patient.member_id or "", "language": patient.language or "",
        "ehr_language": patient.ehr_language or "",
    }


def pick_appointment(workflow_id: str, appts: list[Appointment], now: dt.datetime,
                     wanted: str | None) -> Appointment | None:
    if wanted is not None:
        return next((a for a in appts if a.id == wanted), None)
    if workflow_id == "no_show_reactivation":
        missed = [a for a in appts if a.status == AppointmentStatus.MISSED]
        return missed[-1] if missed else None
    upcoming = [a for a in appts if a.start > now
                and a.status in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)]
    return min(upcoming, key=lambda a: a.start) if upcoming else None
