"""Run a workflow as a conversation in a terminal or from a script.

The same engine and the same effect loop (``runner``) as on a call: the simulator's
channel port prints ``Say`` effects, reads the caller's turns (one line each: text,
``#5`` or ``press 5`` for a key, an empty line for silence, end of input for a
hang-up) and executes actions against the clinic's in-memory calendar.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from agent.memory import InMemoryMemoryStore, MemoryStore, interaction_from
from agent.scheduling import Appointment, AppointmentStatus, Calendar
from agent.workflow.effects import (
    Action,
    ActionResult,
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
from agent.workflow.host import ActionHost, MemorySink, Texter
from agent.workflow.model import Workflow
from agent.workflow.records import RecordSource, build_record
from agent.workflow.runner import Bookkeeping, run_conversation
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


class _TerminalPort:
    """The simulator's channel: prompts are printed, turns read, time moves one turn a line."""

    def __init__(self, host: ActionHost, store: MemoryStore, *,
                 now: dt.datetime, read_line: Callable[[], str | None],
                 write: Callable[[str], None], verbose: bool, channel: str = "simulator"
                 ) -> None:
        self._host = host
        self._channel = channel
        self._store = store
        self._clock = now
        self._read_line = read_line
        self._write = write
        self._verbose = verbose

    def now(self) -> dt.datetime:
        return self._clock

    async def say(self, effect: Say) -> None:
        self._write(f"AGENT: {effect.text}")

    async def listen(self, effect: Listen, now: dt.datetime) -> Input:
        self._clock += TURN
        return parse_turn(self._read_line())

    async def act(self, effect: Action, now: dt.datetime) -> ActionResult:
        if self._verbose:
            self._write(f"  [action {effect.name}]")
        return await self._host.execute(effect, now)

    async def transfer(self, effect: Transfer) -> bool:
        self._write(f"  [transfer to {effect.target}: {effect.summary}]")
        return True  # the simulator's person always answers

    def transfer_failed(self, effect: Transfer) -> list[Effect]:
        return []

    async def hangup(self, effect: Hangup) -> None:
        self._write(f"  [hang up: {effect.reason}]")

    async def record(self, effect: Bookkeeping) -> None:
        match effect:
            case RecordRevocation():
                self._write("  [consent revoked: recorded in the consent ledger]")
            case AddDoNotCall(reason="wrong number"):
                self._write("  [number added to the do-not-call list: wrong number]")
            case AddDoNotCall():
                self._write("  [number added to the do-not-call list]")
            case Remember(patient_id=str() as patient_id):
                await self._store.record(interaction_from(
                    patient_id, self._channel, effect.workflow, effect.outcome, effect.at,
                    effect.collected, effect.facts))
            case Audit(step=s) if self._verbose:
                self._write(f"  [audit {s.seq} {s.state} {s.event} {s.intent or ''} "
                            f"{dict(s.slots) or ''} {s.action or ''} {s.result or ''}]".rstrip())


async def simulate(
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
    texter: Texter | None = None,
    channel: str = "simulator",
) -> SimulationResult:
    """``channel``: what the memory records the conversation as (``voice`` when a test
    stands the simulator in for a call; the engine and its inputs are the same)."""
    patient = source.patient(patient_id)
    if patient is None:
        raise OperatorError("no patient with that id in the clinic data")
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
    conv = Conversation(workflow, record, call_id=call_id, channel=channel, memory=memory)
    sink = MemorySink()
    host = ActionHost(calendar, sink, patient_id=patient_id,
                      appointment_id=appointment.id if appointment else None, tz=tz,
                      providers=providers, prescription=prescription,
                      verified=lambda: conv.verified, texter=texter)
    result = SimulationResult(conv.path, None)
    port = _TerminalPort(host, store, now=now, read_line=read_line, write=write,
                         verbose=verbose, channel=channel)
    result.outcome = await run_conversation(conv, port, now, observe=result.effects.append)
    result.saved = list(sink.saved)
    return result
