"""The voice agent as the carrier's call handler: ``async def handle(call, context)``.

One conversation per call, to its end. The workflow engine decides every step; this
module only carries its effects out on a live call (speech in and out through
``VoiceIO``), against the records store (consent, do-not-call, audit), the calendar
and the conversation memory, and at the end stores the redacted transcript and the
call record.

``AgentRuntime`` holds what all calls share (speech workers, voice, workflows,
calendar, records); ``carrier/app.py`` builds it once and passes it in ``context``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from agent.amd import AmdVerdict, detect_machine
from agent.memory import MemoryStore, interaction_from
from agent.redact import KnownIdentifiers, redact
from agent.scheduling import Appointment, AppointmentStatus, Calendar, Provider
from agent.voice import VoiceIO
from agent.workflow.effects import (
    Action,
    AddDoNotCall,
    Audit,
    CallerHangup,
    Effect,
    Hangup,
    Listen,
    RecordRevocation,
    Remember,
    Say,
    Transfer,
)
from agent.workflow.engine import Conversation
from agent.workflow.host import ActionHost
from agent.workflow.model import Workflow
from agent.workflow.records import ClinicInfo, build_record, spoken_phone
from carrier.records.store import (
    DATABASE_UNAVAILABLE,
    CallRecord,
    Channel,
    Records,
    RecordsUnavailable,
)

log = logging.getLogger("agent.handler")

CALL_NAMESPACE = uuid.UUID("6f1c5a0e-3d61-4bb5-9a53-1b6f0c2f7a10")


def patient_uuid(external_id: str) -> uuid.UUID:
    """Stable record id for a patient known by an external (EHR/demo) id."""
    return uuid.uuid5(CALL_NAMESPACE, external_id)


@dataclass
class AgentRuntime:
    records: Records
    stt: Any
    tts: Any
    workflows: Mapping[str, Workflow]
    clinic: ClinicInfo
    calendar: Calendar
    memory: MemoryStore
    routes: Mapping[str, str] = field(default_factory=dict)
    human_queue: str = "sip:frontdesk@127.0.0.1"
    queues: Mapping[str, str] = field(default_factory=dict)
    default_workflow: str = "patient_intake"
    no_input_s: float = 7.0
    endpoint: Any = None  # agent.speech.EndpointConfig from the speech settings
    streaming: Any = None  # agent.speech.StreamingConfig from the speech settings
    record_audio: bool = False
    results: list[CallResult] = field(default_factory=list)


@dataclass
class CallResult:
    """What one conversation did (kept for the demo printout and the tests)."""

    call_id: str
    workflow: str
    patient_id: str | None
    outcome: str | None = None
    path: list[str] = field(default_factory=list)
    redacted: list[tuple[str, str]] = field(default_factory=list)
    amd: str | None = None
    timings: list[Any] = field(default_factory=list)
    # Unredacted turns, in memory for this process only (tests, the demo printout never).
    raw_turns: list[tuple[str, str]] = field(default_factory=list, repr=False)


class _RecordSink:
    """Answers the workflow collects go to encrypted storage; only their names are audited."""

    def __init__(self, records: Records, call_id: str) -> None:
        self.records = records
        self.call_id = call_id
        self.pending: list[asyncio.Task[Any]] = []

    def save(self, patient_id: str | None, kind: str, values: Mapping[str, Any]) -> None:
        # The records facade encrypts them and makes them durable (spooled in an outage).
        self.pending.append(asyncio.ensure_future(self.records.add_call_answers(
            self.call_id, kind, patient_id, values)))


async def _patient_for(rt: AgentRuntime, call: Any, context: Mapping[str, Any]
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
        "member_id": patient.member_id or "",
    }


def _pick_appointment(workflow_id: str, appts: list[Appointment], now: dt.datetime,
                      wanted: str | None) -> Appointment | None:
    if wanted is not None:
        return next((a for a in appts if a.id == wanted), None)
    if workflow_id == "no_show_reactivation":
        missed = [a for a in appts if a.status == AppointmentStatus.MISSED]
        return missed[-1] if missed else None
    upcoming = [a for a in appts if a.start > now
                and a.status in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)]
    return min(upcoming, key=lambda a: a.start) if upcoming else None


async def handle(call: Any, context: Mapping[str, Any]) -> CallResult:
    """Run one conversation on ``call`` to its end."""
    rt: AgentRuntime = context["runtime"]
    now = dt.datetime.now(dt.UTC)
    workflow_id = str(context.get("workflow") or rt.routes.get(call.called)
                      or rt.default_workflow)
    workflow = rt.workflows[workflow_id]
    patient_id, patient = await _patient_for(rt, call, context)
    result = CallResult(call.call_id, workflow_id, patient_id)
    rt.results.append(result)
    tz = ZoneInfo(rt.clinic.timezone)
    providers: dict[str, Provider] = {p.id: p for p in await rt.calendar.providers()}
    appointment = None
    if patient_id is not None:
        appts = await rt.calendar.appointments_for(patient_id)
        appointment = _pick_appointment(workflow_id, appts, now, context.get("appointment_id"))
    record = build_record(rt.clinic, patient, appointment, providers)
    memory = await rt.memory.load(patient_id) if patient_id else None
    conv = Conversation(workflow, record, call_id=call.call_id, channel="voice", memory=memory)
    sink = _RecordSink(rt.records, call.call_id)
    host = ActionHost(rt.calendar, sink, patient_id=patient_id,
                      appointment_id=appointment.id if appointment else None, tz=tz,
                      providers=providers)
    known = _known(patient)
    async with VoiceIO(call.media, rt.stt, rt.tts, endpoint=rt.endpoint,
                       streaming=rt.streaming,
                       no_input_s=rt.no_input_s, record=rt.record_audio) as io:
        if context.get("direction") == "outbound":
            verdict = await detect_machine(io)
            result.amd = verdict.value
            if verdict is AmdVerdict.MACHINE:
                await _leave_minimal_message(rt, call, io, result)
                await _finish(rt, call, io, result, known, now)
                return result
        # Synthesise the rest of the workflow's prompts while the first one plays.
        plain, personal = _fixed_prompts(workflow, record)
        prepare = asyncio.create_task(_prepare(rt.tts, plain, personal, io.synth_idle))
        try:
            await _run(rt, call, conv, host, io, result, now)
        finally:
            prepare.cancel()
            await asyncio.gather(prepare, return_exceptions=True)
        await _finish(rt, call, io, result, known, now)
    await asyncio.gather(*sink.pending, return_exceptions=True)
    return result


async def _run(  # noqa: PLR0912, PLR0917 - one branch per effect type, like the simulator
    rt: AgentRuntime, call: Any, conv: Conversation, host: ActionHost,
    io: VoiceIO, result: CallResult, start: dt.datetime,
) -> None:
    pending: list[Effect] = list(conv.start(start))
    result.path = conv.path  # the engine appends to it as the conversation moves
    while pending:
        effect = pending.pop(0)
        now = dt.datetime.now(dt.UTC)
        follow: list[Effect] = []
        if isinstance(effect, Say):
            io.mark_decided()
            personal = effect.contains_phi or effect.prompt_id not in conv.workflow.prompts \
                or _is_personal(conv.workflow.prompts[effect.prompt_id])
            await io.say(effect.text, interruptible=effect.interruptible, phi=personal)
        elif isinstance(effect, Listen):
            if call.ended.is_set():
                follow = conv.handle(CallerHangup(), now)
            else:
                heard = await _listen_or_hangup(call, io, effect, now)
                follow = conv.handle(heard, dt.datetime.now(dt.UTC))
        elif isinstance(effect, Action):
            follow = conv.handle(await host.execute(effect, now), now)
        elif isinstance(effect, RecordRevocation):
            await _revoke(rt, call, effect)
        elif isinstance(effect, AddDoNotCall):
            phone = effect.phone or call.caller.number
            if phone:
                await rt.records.dnc_add(phone, source="voice_opt_out", actor="agent",
                                         reason=f"opt-out on call {call.call_id}")
        elif isinstance(effect, Audit):
            s = effect.step
            await rt.records.audit(
                "agent", f"workflow.{s.event}", ("call", call.call_id), s.workflow,
                _flat({"state": s.state, "seq": s.seq, "intent": s.intent,
                       "slots": ",".join(f"{k}={v}" for k, v in sorted(s.slots.items())),
                       "action": s.action, "result": s.result}), at=s.at)
        elif isinstance(effect, Remember):
            result.outcome = effect.outcome
            if effect.patient_id is not None:
                await rt.memory.record(interaction_from(
                    effect.patient_id, "voice", effect.workflow, effect.outcome, effect.at,
                    effect.collected, effect.facts))
        elif isinstance(effect, Transfer):
            await call.transfer(transfer_target(rt, effect.target), {"summary": effect.summary})
        elif isinstance(effect, Hangup):
            await call.hangup(effect.reason)
        pending = follow + pending
    result.path = list(conv.path)


async def _listen_or_hangup(call: Any, io: VoiceIO, listen: Listen, now: dt.datetime) -> Any:
    listen_task = asyncio.ensure_future(io.listen(listen.expected, now))
    ended = asyncio.ensure_future(call.ended.wait())
    done, _ = await asyncio.wait({listen_task, ended}, return_when=asyncio.FIRST_COMPLETED)
    if listen_task in done:
        ended.cancel()
        return listen_task.result()
    listen_task.cancel()
    await asyncio.gather(listen_task, return_exceptions=True)
    return CallerHangup()


async def _revoke(rt: AgentRuntime, call: Any, effect: RecordRevocation) -> None:
    if effect.patient_id is not None:
        await rt.records.consent_revoke(
            uuid.UUID(effect.patient_id), Channel.VOICE, source=f"call_{effect.method}",
            evidence_ref=call.call_id, actor="agent", at=effect.at)
    else:
        await rt.records.audit("agent", "consent.revoke_unmatched", ("call", call.call_id),
                               "opt-out from a caller not matched to a patient",
                               {"method": effect.method}, at=effect.at)


async def _leave_minimal_message(rt: AgentRuntime, call: Any, io: VoiceIO,
                                 result: CallResult) -> None:
    """Minimum necessary on a machine: organisation and callback number, nothing else."""
    await io.wait_for_silence(quiet_s=0.8, limit_s=20.0)
    number = build_record(rt.clinic, None, None, {})["callback_number"]
    text = (f"Hello, this is {rt.clinic.name} calling with a message. "
            f"Please call us back at {number}. Thank you.")
    await io.say(text, interruptible=False)
    result.outcome = "machine_message"
    await rt.records.audit("agent", "call.machine_message", ("call", call.call_id),
                           "answering machine: minimum-necessary message left", {})
    await call.hangup("machine_message")


async def _finish(  # noqa: PLR0917 - the call's pieces, gathered once at its end
    rt: AgentRuntime, call: Any, io: VoiceIO, result: CallResult,
    known: KnownIdentifiers, started: dt.datetime,
) -> None:
    try:
        providers = [p.name for p in await rt.calendar.providers()]
    except DATABASE_UNAVAILABLE:
        providers = []  # the calendar is in the database too; redaction still runs
    keep = [rt.clinic.name, spoken_phone(rt.clinic.callback_number), *providers]
    result.redacted = [(who, redact_keeping(text, known, keep))
                       for who, text in io.transcript.turns]
    result.timings = list(io.timings)
    result.raw_turns = list(io.transcript.turns)
    # The records facade encrypts the transcript and audio and makes the whole call durable
    # (committed, or spooled while the database is away and stored when it returns).
    await rt.records.record_call(
        CallRecord(call.call_id, str(getattr(call.direction, "value", call.direction)),
                   started_at=started, ended_at=dt.datetime.now(dt.UTC),
                   workflow=result.workflow, patient_id=result.patient_id,
                   outcome=result.outcome or "ended", stir_status=call.caller.stir_status,
                   verstat=call.caller.verstat, amd=result.amd),
        result.redacted,
        recording=(np.concatenate(io.recording).astype("<i2").tobytes()
                   if io.recording else None),
        sample_rate=16000)
    await rt.records.audit("agent", "call.transcript_stored", ("call", call.call_id),
                           result.workflow, {"turns": len(result.redacted),
                                             "outcome": result.outcome or "ended"})


def transfer_target(rt: AgentRuntime, target: str) -> str:
    """A workflow names a queue; the configuration says where that queue rings."""
    if target in rt.queues:
        return rt.queues[target]
    if target.startswith(("sip:", "sips:", "tel:")):
        return target
    return rt.human_queue


def redact_keeping(text: str, known: KnownIdentifiers, keep: list[str]) -> str:
    """Redact PHI but keep the organisation's and providers' names (not PHI) readable."""
    marks: dict[str, str] = {}
    for i, phrase in enumerate(sorted(set(keep), key=len, reverse=True)):
        if phrase and phrase in text:
            mark = f"qqkeep{chr(97 + i)}qq"
            marks[mark] = phrase
            text = text.replace(phrase, mark)
    out = redact(text, known)
    for mark, phrase in marks.items():
        out = out.replace(mark, phrase)
    return out


def _flat(details: Mapping[str, Any]) -> dict[str, Any]:
    """Audit details are flat scalars; empty values are left out."""
    return {k: v for k, v in details.items() if v not in (None, "")}


def _known(patient: Mapping[str, Any] | None) -> KnownIdentifiers:
    if not patient:
        return KnownIdentifiers()
    dob = None
    if patient.get("dob"):
        dob = dt.date.fromisoformat(str(patient["dob"]))
    names = tuple(str(patient[k]) for k in ("first_name", "last_name") if patient.get(k))
    return KnownIdentifiers(names=names, dob=dob, phones=(str(patient.get("phone", "")),),
                            member_ids=(str(patient.get("member_id", "")),))


# Template fields that carry no PHI: a prompt using only these may be cached on disk.
_PLAIN_FIELDS = frozenset({"org_name", "callback_number", "queue_name"})


async def _prepare(tts: Any, plain: list[str], personal: list[str],
                   idle: asyncio.Event) -> None:
    """Synthesise ahead, one prompt at a time, only while nothing is synthesised live."""
    for texts, persist in ((personal, False), (plain, True)):  # PHI: memory only
        for text in texts:
            await idle.wait()
            await tts.prepare([text], persist=persist)


def _fixed_prompts(workflow: Workflow, record: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Prompts whose text is known before the call, split into PHI-free ones (cached on
    disk, shared by every call) and ones filled from the patient's record (memory only)."""
    from agent.workflow.template import render  # noqa: PLC0415 - only needed here

    plain: list[str] = []
    personal: list[str] = []
    for prompt in workflow.prompts.values():
        try:
            text = render(prompt.text, record)
        except (KeyError, ValueError, AttributeError):
            continue  # depends on an answer from this call; synthesised when needed
        (personal if _is_personal(prompt) else plain).append(text)
    return plain, personal


def _is_personal(prompt: Any) -> bool:
    """A prompt filled from anything but the organisation's own details identifies someone
    (even a first name does), so its audio is never written to disk."""
    from agent.workflow.template import fields  # noqa: PLC0415

    used = {f.split(".")[0] for f in fields(prompt.text)}
    return bool(prompt.phi or used - _PLAIN_FIELDS)
