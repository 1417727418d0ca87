"""Run a workflow as a conversation in a terminal or from a script.

The same engine as on a call: the simulator is a host that prints ``Say`` effects,
reads the caller's turns (one line each: text, ``#5`` or ``press 5`` for a key,
an empty line for silence, end of input for a hang-up) and executes actions
against the clinic's in-memory calendar.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from agent.memory import InMemoryMemoryStore, MemoryStore, interaction_from
from agent.scheduling import Appointment, AppointmentStatus, Calendar
from agent.workflow.effects import (
    Action,
    AddDoNotCall,
    Audit,
    CallerHangup,
    Dtmf,
    Effect,
    Hangup,
    Input,
    Listen,
    NoInput,
    RecordRevocation,
    Remember,
    Say,
    Transfer,
    Utterance,
)
from agent.workflow.engine import Conversation
from agent.workflow.host import ActionHost, MemorySink
from agent.workflow.model import Workflow
from agent.workflow.records import RecordSource, build_record
from carrier.errors import OperatorError

_KEY = re.compile(r"^\s*(?:#|press\s+|dtmf\s+|key\s+)([0-9*#])\s*$", re.IGNORECASE)
TURN = dt.timedelta(seconds=4)


def parse_turn(line: str | None) -> Input:
    if line is None:
        return CallerHangup()
    if not line.strip():
        return NoInput()
    m = _KEY.match(line)
    if m:
        return Dtmf(m.group(1))
    return Utterance(line.strip())


@dataclass
class SimulationResult:
    path: list[str]
    outcome: str | None
    effects: list[Effect] = field(default_factory=list)
    saved: list[tuple[str | None, str, dict[str, object]]] = field(default_factory=list)


def pick_appointment(workflow_id: str, appointments: list[Appointment],
                     now: dt.datetime) -> Appointment | None:
    if workflow_id == "no_show_reactivation":
        missed = [a for a in appointments if a.status == AppointmentStatus.MISSED]
        return missed[-1] if missed else None
    upcoming = [a for a in appointments if a.start > now and a.status in (
        AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)]
    return upcoming[0] if upcoming else None


async def simulate(  # noqa: PLR0912, PLR0915 - the host's effect dispatch table
    workflow: Workflow,
    source: RecordSource,
    patient_id: str,
    *,
    now: dt.datetime,
    read_line: Callable[[], str | None],
    write: Callable[[str], None],
    appointment_id: str | None = None,
    memory_store: MemoryStore | None = None,
    call_id: str = "sim-1",
    verbose: bool = False,
    calendar: Calendar | None = None,
) -> SimulationResult:
    patient = source.patient(patient_id)
    if patient is None:
        raise OperatorError(f"no patient with id {patient_id!r} in the clinic data")
    clinic = source.clinic()
    tz = ZoneInfo(clinic.timezone)
    calendar = calendar or source.calendar(now)
    providers = {p.id: p for p in await calendar.providers()}
    appointments = await calendar.appointments_for(patient_id)
    if appointment_id is not None:
        appointment: Appointment | None = await calendar.appointment(appointment_id)
    else:
        appointment = pick_appointment(workflow.id, appointments, now)
    prescription = source.prescription(patient_id)
    record = build_record(clinic, patient, appointment, providers)
    store = memory_store or InMemoryMemoryStore()
    memory = await store.load(patient_id)
    conv = Conversation(workflow, record, call_id=call_id, channel="simulator", memory=memory)
    sink = MemorySink()
    host = ActionHost(calendar, sink, patient_id=patient_id,
                      appointment_id=appointment.id if appointment else None, tz=tz,
                      providers=providers, prescription=prescription)
    result = SimulationResult(conv.path, None)
    pending: Iterator[Effect] = iter(conv.start(now))
    clock = now
    while True:
        effect = next(pending, None)
        if effect is None:
            break
        result.effects.append(effect)
        follow: list[Effect] = []
        if isinstance(effect, Say):
            write(f"AGENT: {effect.text}")
        elif isinstance(effect, Action):
            if verbose:
                write(f"  [action {effect.name}]")
            follow = conv.handle(await host.execute(effect, clock), clock)
        elif isinstance(effect, Listen):
            clock += TURN
            follow = conv.handle(parse_turn(read_line()), clock)
        elif isinstance(effect, Transfer):
            write(f"  [transfer to {effect.target}: {effect.summary}]")
        elif isinstance(effect, Hangup):
            write(f"  [hang up: {effect.reason}]")
        elif isinstance(effect, RecordRevocation):
            write("  [consent revoked: recorded in the consent ledger]")
        elif isinstance(effect, AddDoNotCall):
            write("  [number added to the do-not-call list]")
        elif isinstance(effect, Remember):
            result.outcome = effect.outcome
            if effect.patient_id is not None:
                await store.record(interaction_from(
                    effect.patient_id, "simulator", effect.workflow, effect.outcome, effect.at,
                    effect.collected, effect.facts))
        elif isinstance(effect, Audit) and verbose:
            s = effect.step
            write(f"  [audit {s.seq} {s.state} {s.event} {s.intent or ''} "
                  f"{dict(s.slots) or ''} {s.action or ''} {s.result or ''}]".rstrip())
        if follow:
            pending = iter([*follow, *pending])
    result.saved = list(sink.saved)
    return result
