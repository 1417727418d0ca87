"""The voice agent as the carrier's call handler (``carrier.plugin.CallHandler``).

``VoiceCallHandler(runtime)`` is built once, when the application starts, with the
:class:`AgentRuntime` every call shares (speech workers, voice, workflows, calendar,
records); the carrier then calls it as ``await handler(call, context)`` for each
answered call and gets a :class:`carrier.plugin.CallOutcome` back (no PHI in it).

One conversation per call, to its end. The workflow engine decides every step; the
shared effect loop (``agent.workflow.runner``) carries its effects out through this
module's live-call port: speech in and out through ``VoiceIO``, the records store
(consent, do-not-call, audit), the calendar and the conversation memory. At the end
the redacted transcript and the call record are stored. Each call owns one
``asyncio.TaskGroup``: the media pumps, the transcriptions, the prompts synthesised
ahead and every race (a turn against a hang-up) are its tasks, so nothing of a call
outlives it. Nothing of a call is kept after it either: a test or bench that needs the
raw turns passes a :class:`CallObserver` for that call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from agent.amd import AmdVerdict, detect_machine
from agent.answers import CallAnswers
from agent.call_setup import what_is_known
from agent.callback import offer_callback
from agent.contract import memory_channel, outcome_kind, workflow_for
from agent.endings import (
    FINISH_S,
    Budget,
    BudgetReached,
    add_dnc,
    after_hangup,
    closing_text,
    leave_minimal_message,
    request_opt_out,
    revoke,
    spoken_seconds,
    transfer_target,
    vouched,
    warm_transfer,
    with_interpreter,
)
from agent.i18n import Overlays
from agent.language import call_language
from agent.memory import Memory, interaction_from
from agent.prompts import PreparedAhead, fixed_prompts, is_personal
from agent.scheduling import Calendar
from agent.scheduling.prescriptions import PostgresRefillDesk
from agent.speech import EndpointConfig, SpeechToText, StreamingConfig, TextToSpeech
from agent.tasks import race
from agent.transcript_text import known_identifiers, store_call
from agent.turn_timing import TurnTiming
from agent.voice import Synthesizer, VoiceIO, frames_of
from agent.workflow.effects import (
    Action,
    ActionResult,
    AddDoNotCall,
    Audit,
    Effect,
    Hangup,
    Input,
    Listen,
    RecordRevocation,
    Remember,
    Say,
    Transfer,
)
from agent.workflow.engine import Conversation, EngineError
from agent.workflow.engine_parts import ending_records
from agent.workflow.host import ActionHost, Texter, new_slot
from agent.workflow.model import Workflow
from agent.workflow.records import ClinicInfo, build_record, caller_facts
from agent.workflow.runner import Bookkeeping, run_conversation
from carrier.call import LENGTH_LIMIT_REASON, Call, Direction
from carrier.plugin import AmdResult, CallContext, CallOutcome, OutcomeKind
from carrier.records.store import (
    DATABASE_UNAVAILABLE,
    Records,
)

log = logging.getLogger("agent.handler")

CALL_NAMESPACE = uuid.UUID("6f1c5a0e-3d61-4bb5-9a53-1b6f0c2f7a10")


def patient_uuid(external_id: str) -> uuid.UUID:
    """Stable record id for a patient known by an external (EHR/demo) id."""
    return uuid.uuid5(CALL_NAMESPACE, external_id)


@dataclass
class AgentRuntime:
    """What every call shares; built once by the application at start."""

    records: Records
    stt: SpeechToText | None  # None: the application was started without speech
    tts: TextToSpeech | None
    workflows: Mapping[str, Workflow]
    clinic: ClinicInfo
    calendar: Calendar
    memory: Memory
    routes: Mapping[str, str] = field(default_factory=dict)
    human_queue: str = "sip:frontdesk@127.0.0.1"
    queues: Mapping[str, str] = field(default_factory=dict)
    default_workflow: str = "patient_intake"
    no_input_s: float = 7.0
    endpoint: EndpointConfig | None = None
    streaming: StreamingConfig | None = None
    record_audio: bool = False
    # Spanish (issue 12): the Spanish voice and prompt overlays; None: English only.
    tts_es: TextToSpeech | None = None
    overlays: Overlays | None = None
    texter: Texter | None = None  # texts the patient asks for on a call (issue 17); None: off


@dataclass
class CallResult:
    """What one conversation did, while it runs (never kept after the call)."""

    call_id: str
    workflow: str
    patient_id: str | None
    outcome: str | None = None
    path: list[str] = field(default_factory=list)
    redacted: list[tuple[str, str]] = field(default_factory=list)
    amd: str | None = None
    timings: list[Any] = field(default_factory=list)
    # Unredacted turns, for this call only (handed to its observer, if any).
    raw_turns: list[tuple[str, str]] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class CallTrace:
    """One call as its observer sees it at the end: unredacted (PHI), never stored."""

    call_id: str
    path: tuple[str, ...]
    turns: tuple[tuple[str, str], ...]  # (speaker, text) as said
    timings: tuple[TurnTiming, ...]


class CallObserver(Protocol):
    """A per-call hook for tests and benches; off unless passed for that one call."""

    def call_finished(self, trace: CallTrace) -> None: ...


# Nobody spoke first (SILENT): the check ran and could not tell.
_AMD = {AmdVerdict.HUMAN.value: AmdResult.HUMAN, AmdVerdict.MACHINE.value: AmdResult.MACHINE,
        AmdVerdict.SILENT.value: AmdResult.UNKNOWN}


class VoiceCallHandler:
    """``carrier.plugin.CallHandler``: one conversation per answered call."""

    def __init__(self, runtime: AgentRuntime) -> None:
        self.runtime = runtime

    async def __call__(self, call: Call, context: CallContext, *,
                       observer: CallObserver | None = None) -> CallOutcome:
        rt = self.runtime
        workflow_id = workflow_for(context, call.called, routes=rt.routes,
                                   default=rt.default_workflow, known=rt.workflows)
        if workflow_id is None:
            log.warning("call %s: no workflow serves it", call.call_id)
            return CallOutcome(call.call_id, OutcomeKind.FAILED, detail="no_workflow")
        if rt.stt is None or rt.tts is None:
            return CallOutcome(call.call_id, OutcomeKind.FAILED, workflow=workflow_id,
                               detail="speech_off")
        conversation = await _LiveConversation.open(rt, call, context, workflow_id)
        result = conversation.result
        async with conversation.sink, asyncio.TaskGroup() as tasks:
            await conversation.run(rt.stt, rt.tts, tasks)
        if observer is not None:
            observer.call_finished(CallTrace(call.call_id, tuple(result.path),
                                             tuple(result.raw_turns), tuple(result.timings)))
        amd = _AMD.get(result.amd) if result.amd is not None else None
        return CallOutcome(
            call.call_id, outcome_kind(result.outcome, transfer_ok=conversation.transfer_ok),
            workflow=workflow_id, patient_id=result.patient_id, amd=amd,
            detail=result.outcome or "", new_slot=new_slot(conversation.host))


class _LiveConversation:
    """One call's conversation: the engine, its action host, and the live-call port
    (``agent.workflow.runner.ChannelPort``) through which its effects happen."""

    def __init__(self, rt: AgentRuntime, call: Call, conv: Conversation, *,
                 host: ActionHost, result: CallResult, facts: Mapping[str, Any],
                 patient: Mapping[str, Any] | None, sink: CallAnswers) -> None:
        self.rt = rt
        self.call = call
        self.conv = conv
        self.host = host
        self.result = result
        self.facts = facts  # what the workflow's templates may name (the patient's record)
        self.known = known_identifiers(patient)
        self.sink = sink
        self.started = dt.datetime.now(dt.UTC)
        self.transfer_ok: bool | None = None
        self.budget: Budget | None = None
        self._io: VoiceIO | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._ahead: PreparedAhead | None = None
        self.language = call_language(rt, conv, patient, result.patient_id, call.call_id)
        self.opt_out_pending = False  # an unverified web chat's opt-out: staff confirm it

    @classmethod
    async def open(cls, rt: AgentRuntime, call: Call, context: CallContext,
                   workflow_id: str) -> _LiveConversation:
        found = await what_is_known(rt, call, context, workflow_id, dt.datetime.now(dt.UTC))
        result = CallResult(call.call_id, workflow_id, found.patient_id)
        record = build_record(rt.clinic, found.patient, found.appointment, found.providers,
                              caller=caller_facts(
            outbound=call.direction is Direction.OUTBOUND, stir_status=call.caller.stir_status,
            verstat=call.caller.verstat, attestation=call.caller.attestation))
        conv = Conversation(rt.workflows[workflow_id], record, call_id=call.call_id,
                            channel="voice", memory=found.memory)
        sink = CallAnswers(rt.records, call.call_id)
        host = ActionHost(rt.calendar, sink, patient_id=found.patient_id,
                          appointment_id=found.appointment.id if found.appointment else None,
                          tz=ZoneInfo(rt.clinic.timezone), providers=found.providers,
                          verified=lambda: conv.verified,
                          refills=PostgresRefillDesk(rt.records), call_id=call.call_id,
                          texter=rt.texter)
        return cls(rt, call, conv, host=host, result=result, facts=record,
                   patient=found.patient, sink=sink)

    async def run(self, stt: SpeechToText, tts: TextToSpeech, tasks: asyncio.TaskGroup
                  ) -> None:
        """Talk until the conversation or the call ends, then store the call's record."""
        rt, call = self.rt, self.call
        async with VoiceIO(call.media, stt, tts, tasks=tasks, endpoint=rt.endpoint,
                           streaming=rt.streaming, no_input_s=rt.no_input_s,
                           record=rt.record_audio) as io:
            self._io = io
            self._tasks = tasks
            self.language.attach(io)  # a patient who prefers Spanish is greeted in it
            limit_s = call.context.max_duration_s
            if limit_s:  # plan within it; the carrier's own cut stays the backstop
                self.budget = Budget(limit_s, time.monotonic())
                self._follow_pace()
            try:
                await self._talk(io, io.tts, tasks)
            except BudgetReached:
                await self._close_for_time(io)
            except EngineError:
                log.exception("call %s: the workflow engine refused to go on", call.call_id)
                self.result.outcome = "engine_error"
                await call.hangup("error")
            except Exception:  # re-raised: the outcome is only named first
                self.result.outcome = self.result.outcome or "failed"
                raise
            finally:
                # However the conversation ended (a fault, a cancel at the length limit,
                # a hang-up racing a transfer), the call's record and transcript are stored.
                if call.end_reason == LENGTH_LIMIT_REASON:
                    # The carrier ends a call at its limit (the caller was not the one to go).
                    self.result.outcome = "length_limit"
                await store_call(rt, call, io, self.result, self.known, self.started)
                await self.language.settle()  # verified by the last answer: kept now

    def _closing_text(self) -> str:  # no PHI: the clinic's name and number
        return closing_text(self.rt.clinic.name, self._callback_number(), self.language.spanish)

    def _follow_pace(self) -> None:
        """Prompts are prepared ahead, and the closing budgeted, as they would be said now:
        in the call's language and voice, at the pace in use (slower once the caller asked
        for it). The closing is measured (and so cached) as soon as either changes, the
        last measurement scaled by the pace until then."""
        if self._ahead is not None:
            self._ahead.follow(self.io.pace)
        if self.budget is None or self._tasks is None:
            return
        text, pace, tts = self._closing_text(), self.io.pace, self.io.tts
        if self.budget.follow(text, pace):
            self._tasks.create_task(self._measure_closing(self.budget, tts, text, pace))

    @staticmethod
    async def _measure_closing(budget: Budget, tts: Synthesizer, text: str, pace: float
                               ) -> None:
        pcm = await tts.synthesize(text, pace=pace)
        budget.measured(text, pace, len(pcm) / 16000 + 0.5)

    async def _close_for_time(self, io: VoiceIO) -> None:
        """The budget is spent: a closing with the number to call, then our BYE."""
        self.result.outcome = "length_limit"
        await self.rt.records.audit("agent", "call.length_budget", ("call", self.call.call_id),
                                    "exempt-call length budget reached: closing said",
                                    {"limit_s": int(self.budget.limit_s) if self.budget else 0})
        if not self.call.ended.is_set():
            await io.say(self._closing_text(), interruptible=False, phi=False)
        await self.call.hangup("length_limit")

    async def _talk(self, io: VoiceIO, tts: Synthesizer, tasks: asyncio.TaskGroup) -> None:
        if self.call.direction is Direction.OUTBOUND:
            verdict = await detect_machine(io)
            self.result.amd = verdict.value
            if verdict is AmdVerdict.MACHINE:
                self.result.outcome = "machine_message"
                await leave_minimal_message(self.call, io, self.rt.clinic.name,
                                            self._callback_number(), self.rt.records)
                return
        # Synthesise the rest of the workflow's prompts while the first one plays.
        plain, personal = fixed_prompts(self.conv.workflow, self.facts)
        self._ahead = PreparedAhead(tts, plain, personal, io.synth_idle, tasks)
        self._ahead.follow(io.pace)  # and again at a slower pace if the caller asks for it
        try:
            self.result.path = self.conv.path  # the engine appends as the call moves
            await run_conversation(self.conv, self, self.started)
            self.result.path = list(self.conv.path)
        finally:
            await self._ahead.stop()

    # ---- the live call's ChannelPort ---------------------------------------------------

    @property
    def io(self) -> VoiceIO:
        assert self._io is not None, "the port is used only while the call's voice is open"
        return self._io

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    async def say(self, effect: Say) -> None:
        self.io.mark_decided()
        prompts = self.conv.workflow.prompts
        personal = effect.contains_phi or effect.prompt_id not in prompts \
            or is_personal(prompts[effect.prompt_id])
        text = self.language.text(effect.text)
        self._follow_pace()
        if self.budget is not None and not self.call.ended.is_set() and not self.budget.fits(
                spoken_seconds(text, self.io.tts.cache.get(text, pace=self.io.pace),
                               self.io.pace)):
            raise BudgetReached  # this prompt would run past the call's budget
        await self.io.say(text, interruptible=effect.interruptible, phi=personal)
        await self.language.offer(self.io)

    async def listen(self, effect: Listen, now: dt.datetime) -> Input:
        if self.call.ended.is_set():  # a key or words said just before still count
            return await after_hangup(self.io, self.call)
        await self.language.settle()  # the caller's choice, once they are verified
        self.language.before_listen(self.io)
        expected = self.language.expectation(effect.expected)
        self._follow_pace()
        budget = None if self.budget is None else max(0.0, self.budget.remaining())
        won = await race({"heard": self.io.listen(expected, now, wait_s=effect.wait_s),
                          "gone": self.call.ended.wait()}, wait_s=budget)
        if won is None and self.io.caller_speaking:
            # The soft end came mid-sentence: hear the caller out (an opt-out counts).
            won = await race({"heard": self.io.listen(expected, now, wait_s=effect.wait_s),
                              "gone": self.call.ended.wait()}, wait_s=FINISH_S)
        if won is None:
            raise BudgetReached
        if won[0] == "heard":
            heard: Input = won[1]
            return self.language.heard(self.io, heard)
        return await after_hangup(self.io, self.call)

    async def act(self, effect: Action, now: dt.datetime) -> ActionResult:
        return await self.host.execute(effect, now)

    async def transfer(self, effect: Transfer) -> bool:
        target = transfer_target(self.rt, effect.target)
        summary = with_interpreter(effect.summary, self.facts.get("patient"))
        if target.startswith("tel:"):  # a number: attended transfer, context first
            ok = await warm_transfer(self.call, target, summary, self._speak_to, self.io.detach)
        else:
            ok = await self.call.transfer(target, {"summary": summary})
        self.transfer_ok = ok
        if not ok and not self.call.ended.is_set():
            # The caller is still with us: offer a call-back (a yes is a staff task).
            await offer_callback(
                self._say_plain, lambda expected: self.listen(Listen(expected), self.now()),
                self.rt.records, queue=effect.target,
                patient_id=self.result.patient_id if self.conv.verified else None,
                call_id=self.call.call_id, caller_number=self.call.caller.number,
                clinic_number=self._callback_number(), spanish=self.language.spanish,
                now=self.now(), opted_out=self._opted_out)
        return ok

    async def _opted_out(self, method: str) -> None:
        """An opt-out at the call-back offer: revocation and do-not-call, as in the engine."""
        for effect in ending_records("opt_out", method, self.facts, "voice", self.now()):
            if isinstance(effect, RecordRevocation | AddDoNotCall):
                await self.record(effect)

    def transfer_failed(self, effect: Transfer) -> list[Effect]:
        return [Hangup("transfer_failed")]  # the apology and offer were said by transfer()

    async def _say_plain(self, text: str) -> None:  # no PHI: the clinic's number only
        await self.io.say(text, phi=False)

    def _callback_number(self) -> str:
        return str(build_record(self.rt.clinic, None, None, {})["callback_number"])

    async def _speak_to(self, leg: Call, text: str) -> None:  # to the human, not transcribed
        pcm = await self.io.tts.synthesize(text, persist=False)
        await leg.media.play(frames_of(pcm))

    async def hangup(self, effect: Hangup) -> None:
        await self.call.hangup(effect.reason)

    async def record(self, effect: Bookkeeping) -> None:
        rt, call = self.rt, self.call
        match effect:
            case RecordRevocation() | AddDoNotCall() if not vouched(call, self.conv.verified):
                if not self.opt_out_pending:  # one request holds the number and patient
                    method = effect.method if isinstance(effect, RecordRevocation) \
                        else effect.reason
                    await request_opt_out(rt, call, patient_id=effect.patient_id,
                                          phone=effect.phone, method=method, at=effect.at)
                self.opt_out_pending = True
                if isinstance(effect, RecordRevocation):
                    # Honoured at once all the same (revocation "by any reasonable means",
                    # 64.1200(a)(10)), and undoable: `carrier consent grant` restores it if
                    # the owner did not ask. No do-not-call entry, which nothing removes.
                    await revoke(rt, call, effect)
            case RecordRevocation():
                await revoke(rt, call, effect)
            case AddDoNotCall():
                await add_dnc(rt, call, effect)
            case Audit(step=s):
                # A routine step: durable in the spool is enough, so the reply that
                # follows it never waits for a database commit.
                await rt.records.audit(
                    "agent", f"workflow.{s.event}", ("call", call.call_id), s.workflow,
                    _flat({"state": s.state, "seq": s.seq, "intent": s.intent,
                           "slots": ",".join(f"{k}={v}" for k, v in sorted(s.slots.items())),
                           "action": s.action, "result": s.result}), at=s.at, queued=True)
            case Remember():
                self.result.outcome = effect.outcome
                if effect.patient_id is not None:
                    try:
                        await rt.memory.record(interaction_from(
                            effect.patient_id, memory_channel(call.context), effect.workflow,
                            effect.outcome, effect.at, effect.collected, effect.facts))
                    except DATABASE_UNAVAILABLE:
                        # Memory is a convenience; the call record and audit are durable.
                        log.warning("call %s: memory not kept (database unreachable)",
                                    call.call_id)


def _flat(details: Mapping[str, Any]) -> dict[str, Any]:
    """Audit details are flat scalars; empty values are left out."""
    return {k: v for k, v in details.items() if v not in (None, "")}
