"""Appointment reminders by text: the same engine, grammars and actions as a call.

The reminder itself is the carrier's validated template (clinic and time only: the
exemption's minimum, never the provider or the reason for the visit). The reply opens a
conversation of ``appointment_reminder_sms`` on the one workflow engine through
:class:`TextPort`, the text channel's ``ChannelPort``: a ``Say`` is a text back, a
``Listen`` waits for the patient's next text, actions run on the same ``ActionHost``
(confirm, cancel, find slots, reschedule), and ``Remember`` goes to the one conversation
memory with channel ``sms``. On this channel the reminder's letters are its keys
(C = 1 confirm, X = 2 cancel, R = 3 reschedule), and so is a lone digit the question
offers; words go through the grammars. A reply is read without the quoted reminder or a
signature (``carrier.sms.body``); a thumbs-up or "Liked ..." is a yes, Y and N are yes and
no. Moving an appointment asks the date of birth first, as on the phone.

An opt-out the conversation hears ("9" at "appointment or messages?", or words the
carrier's keywords do not cover) is recorded through ``revoke`` (the carrier's STOP policy:
``SmsService.revoke``) before the goodbye is sent; a STOP the carrier took ends the
patient's open thread (:meth:`TextReminders.opted_out`): nothing more is sent.

``TextReminders`` owns one ``TaskGroup`` for the conversations it runs; use it as an
``async with`` block. It is the application's ``carrier.sms.service.TextHandler``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from agent.callback import HandOff
from agent.grammar import understand
from agent.i18n import SPANISH, Overlays, spanish_reminder
from agent.language import ChatLanguage, RecordsLanguages, text_meaning
from agent.memory import Memory, Promise, Turn, interaction_from
from agent.redact import KnownIdentifiers
from agent.scheduling import AppointmentStatus, Calendar
from agent.sms_bound import bounded
from agent.transcript_text import known_identifiers
from agent.workflow.effects import (
    Action,
    ActionResult,
    CallerHangup,
    Dtmf,
    Effect,
    Expectation,
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
from agent.workflow.records import ClinicInfo, build_record, spoken_day, spoken_time
from agent.workflow.runner import Bookkeeping, run_conversation
from carrier.records.store import DATABASE_UNAVAILABLE
from carrier.sms.body import body, reaction
from carrier.sms.compliance import EXEMPT_TEXT_LIMIT
from carrier.sms.settings import DEFAULT_REMINDER_ES

log = logging.getLogger("agent.sms")
WORKFLOW = "appointment_reminder_sms"
KEYS = {"C": "1", "X": "2", "R": "3"}


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
"""``(number, text)``: an answer within the patient's own conversation (``SmsService.reply``)."""
PatientFacts = Callable[[str], Awaitable[dict[str, Any] | None]]
"""The patient's record as workflow templates and identity checks read it (dob, first_name)."""
class Revoke(Protocol):
    """``(patient_id, evidence_ref, at, said, spanish=)``: an opt-out heard in the
    conversation (``said``: the patient's words), recorded by the carrier's STOP policy
    (``SmsService.revoke``); a str it returns is the confirmation that says what was
    revoked (sent as the goodbye; in Spanish when the thread is)."""

    def __call__(self, patient_id: str, evidence_ref: str, at: dt.datetime, said: str, *,
                 spanish: bool = False) -> Awaitable[Any]: ...


RevokeNumber = Callable[[str, str, dt.datetime, str], Awaitable[Any]]
"""``(number, evidence_ref, at, said)``: the same for a number that is no one patient's
(``SmsService.revoke_number``: its patients, or the do-not-call list)."""
_THANKS = frozenset({"thanks", "thank you", "thank you!", "thanks!", "ok", "okay", "k", "ty",
                     "thx", "great", "gracias", "got it"})
_URGENT = {"emergency": "If this is a medical emergency, call 911 now.",
           "crisis": "If you are thinking about hurting yourself, call or text 988, or call "
                     "911 now."}
_URGENT_ES = {"emergency": "Si es una emergencia médica, llame al 911 ahora.",
              "crisis": "Si piensa en hacerse daño, llame o escriba al 988, o llame al 911 "
                        "ahora."}
REMINDED_WITHIN_D = 8  # the earliest reminder goes 72 h ahead; a reply may come days later
ANSWERED_EVERY_S = 3600.0  # one "please call us" per number an hour: no loop with a robot
_YES_NO = {"Y": "yes", "N": "no"}


def read_turn(text: str, expect: Expectation | None = None,
              language: ChatLanguage | None = None) -> Input:
    """A text as the engine's input: a reminder letter, or a lone digit the question
    offers (``expect.dtmf``), is a key; a reaction, Y or N is yes or no; else the words
    the patient wrote (no quoted message, no signature), read by the thread's
    ``language`` when given (the first words in Spanish switch the thread to Spanish)."""
    said = body(text)
    word = said.strip(".!").strip().upper()
    if word in KEYS:
        return Dtmf(KEYS[word])
    if expect is not None and word.isdigit() and word in expect.dtmf:
        return Dtmf(word)
    liked = reaction(said)
    if liked is not None:
        return Utterance("yes" if liked else "no")
    if word in _YES_NO:
        return Utterance(_YES_NO[word])
    if not said:
        return NoInput()
    return language.heard(Utterance(said)) if language is not None \
        else Utterance(meaning(said))


def meaning(said: str) -> str:
    """A text's words as the grammars read them (``agent.language.text_meaning``)."""
    return text_meaning(said)


class TextPort:
    """The text channel for the runner: one patient, one number, one inbox. Every text
    in and out is a turn in the conversation memory (redacted, encrypted by the store)."""

    def __init__(self, host: ActionHost, memory: Memory, *, number: str, reply: Reply,
                 clock: Callable[[], dt.datetime], wait: float, patient_id: str,
                 workflow: str, revoke: Revoke, known: KnownIdentifiers | None = None,
                 language: ChatLanguage | None = None, hand_off: HandOff | None = None) -> None:
        self.host = host
        self._hand_off = hand_off
        self.language = language
        self._revoke = revoke
        self.memory = memory
        self.patient_id = patient_id
        self.workflow = workflow
        self.known = known
        self.number = number
        self._reply = reply
        self._clock = clock
        self._wait = wait
        self.inbox: asyncio.Queue[PatientTextLike | None] = asyncio.Queue(maxsize=16)
        self.sent: list[str] = []
        self.closed = False  # the patient opted out: nothing more is sent
        self._said = ""  # the patient's last text (an opt-out in it may name calls)
        self._confirmation: str | None = None  # what the opt-out recorded, in words

    def now(self) -> dt.datetime:
        return self._clock()

    async def say(self, effect: Say) -> None:
        if self.closed:
            return
        self.sent.append(effect.prompt_id)
        text = self.language.text(effect.text) if self.language is not None else effect.text
        if effect.prompt_id == "optout_goodbye" and self._confirmation is not None:
            text = self._confirmation  # says what was revoked: texts, or texts and calls
        await self._reply(self.number, text)
        await self._note("agent", text)

    async def _note(self, speaker: str, text: str) -> None:
        await self.memory.note(Turn(self.patient_id, "sms", self.workflow, speaker, text,
                                    self._clock()), self.known)

    async def listen(self, effect: Listen, now: dt.datetime) -> Input:
        if self.language is not None:
            await self.language.settle()  # verified by the last text: the choice is kept
        try:
            async with asyncio.timeout(self._wait):
                message = await self.inbox.get()
        except TimeoutError:
            return CallerHangup()  # no answer within the reply window: the thread ends
        if message is None:
            return CallerHangup()  # the service is stopping
        self._said = body(message.text)
        await self._note("patient", self._said)
        if self.language is not None:
            self.language.expectation(effect.expected)
        return read_turn(message.text, effect.expected, self.language)

    async def act(self, effect: Action, now: dt.datetime) -> ActionResult:
        return await self.host.execute(effect, now)

    async def transfer(self, effect: Transfer) -> bool:
        """Nobody to hand a text thread to (the workflow's failure path runs), but the
        texts said staff will contact the patient: a call-back task makes that true."""
        if self._hand_off is not None:
            try:
                await self._hand_off(self.patient_id, self.number, effect.target, self._clock())
            except DATABASE_UNAVAILABLE:
                log.warning("text thread: the call-back task could not be stored")
        return False

    def transfer_failed(self, effect: Transfer) -> list[Effect]:
        return []

    async def hangup(self, effect: Hangup) -> None:
        return None

    async def record(self, effect: Bookkeeping) -> None:
        # AddDoNotCall needs nothing more here: what a text opt-out covers (texts, or texts
        # and calls) is the carrier's STOP policy, which ``revoke`` applies.
        if isinstance(effect, RecordRevocation):
            how = "key" if effect.method == "dtmf" else "words"
            spanish = self.language is not None and self.language.spanish
            said = await self._revoke(effect.patient_id or self.patient_id,
                                      f"conversation:{how}", effect.at, self._said,
                                      spanish=spanish)
            self._confirmation = said if isinstance(said, str) else None
        if isinstance(effect, Remember) and effect.patient_id is not None:
            await self.memory.record(interaction_from(
                effect.patient_id, "sms", effect.workflow, effect.outcome, effect.at,
                effect.collected, effect.facts))


class TextReminders:
    """Sends reminder texts and runs the conversation each reply opens."""

    def __init__(self, workflow: Workflow, calendar: Calendar, memory: Memory, *,
                 clinic: ClinicInfo, patient_facts: PatientFacts, send: SendToPatient,
                 reply: Reply, template: str, clock: Callable[[], dt.datetime],
                 template_es: str = DEFAULT_REMINDER_ES,
                 revoke: Revoke, reply_window_s: float = 24 * 3600.0,
                 revoke_number: RevokeNumber | None = None,
                 answer: Reply | None = None, overlays: Overlays | None = None,
                 hand_off: HandOff | None = None,
                 languages: RecordsLanguages | None = None) -> None:
        self.workflow = workflow
        self.languages = languages  # preferred languages: the reminder's, the thread's
        self.hand_off = hand_off  # an emergency's "our staff will contact you": a task
        # A thread the patient answers in Spanish goes on in Spanish: the workflow's own
        # Spanish texts, and the engine's built-in ones it does not word for texts itself.
        es = overlays or Overlays()
        self.spanish = {**{k: v for k, v in es.defaults.items() if k not in workflow.prompts},
                        **es.workflows.get(workflow.id, {})}
        self.revoke = revoke
        self.revoke_number = revoke_number
        self.answer = answer  # SmsService.answer: nothing to a number that opted out
        self._answered: dict[str, dt.datetime] = {}  # number -> last "please call us"
        self.calendar = calendar
        self.memory = memory
        self.clinic = clinic
        self.patient_facts = patient_facts
        self.send = send
        self.reply = reply
        self.template, self.template_es = template, template_es  # sms.reminder_template*
        self.clock = clock
        self.reply_window_s = reply_window_s
        self.tz = ZoneInfo(clinic.timezone)
        self._open: dict[str, str] = {}  # patient -> appointment the last reminder named
        self._threads: dict[str, _Thread] = {}
        self._group: asyncio.TaskGroup | None = None
        self.outcomes: dict[str, str | None] = {}

    async def __aenter__(self) -> TextReminders:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        return self

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        group, self._group = self._group, None
        for thread in self._threads.values():  # open threads end as unanswered
            thread.port.inbox.put_nowait(None)
        if group is not None:
            await group.__aexit__(et, exc, tb)

    async def send_reminder(self, patient_id: str, appointment_id: str) -> Any:
        appt = await self.calendar.appointment(appointment_id)
        local = appt.start.astimezone(self.tz)
        text = self.template.format(clinic=self.clinic.name, day=spoken_day(local),
                                    time=spoken_time(local))
        if self.spanish and self.languages and await self.languages.of(patient_id) == SPANISH:
            es = spanish_reminder(self.template_es, self.clinic.name, spoken_day(local),
                                  local.hour, local.minute)
            text = es if len(es) <= EXEMPT_TEXT_LIMIT else text
        sent = await self.send(patient_id, "appointment_reminder", text)
        self._open[patient_id] = appointment_id
        return sent

    async def __call__(self, message: PatientTextLike) -> None:
        message = bounded(message)  # a bounded string to the grammars (agent.sms_bound)
        pid = message.patient_id
        if pid is None:
            await self._no_patient(message)  # unknown or shared number
            return
        thread = self._threads.get(pid)
        if thread is None:
            appointment = self._open.pop(pid, None) or await self._reminded(pid, message)
            if appointment is None or self._group is None:
                await self._outside_thread(pid, message)
                return
            thread = await self._open_thread(pid, appointment, message.sender)
            self._threads[pid] = thread
            self._group.create_task(self._run(pid, thread))
        await thread.port.inbox.put(message)

    async def _reminded(self, pid: str, message: PatientTextLike) -> str | None:
        """A reminder letter (C, X, R) with no reminder held open (sent before a restart,
        or answered after the reply window): the patient's one upcoming appointment in
        the next ``REMINDED_WITHIN_D`` days; None when there is none or several."""
        if body(message.text).strip(" .!").upper() not in KEYS:
            return None
        horizon = message.at + dt.timedelta(days=REMINDED_WITHIN_D)
        upcoming = [a for a in await self.calendar.appointments_for(pid)
                    if a.status in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)
                    and message.at < a.start <= horizon]
        return upcoming[0].id if len(upcoming) == 1 else None

    async def _outside_thread(self, pid: str, message: PatientTextLike) -> None:
        """No reminder open (none sent, or its conversation has ended): an opt-out ("please
        stop calling me at work", which is no keyword) is recorded, then the confirmation
        of what was revoked; anything else is answered with the clinic's number."""
        said = body(message.text)
        if "opt_out" in understand(meaning(said)).intents:
            done = await self.revoke(pid, "conversation:words", message.at, said)
            await self.reply(message.sender, done if isinstance(done, str) else self._stopped)
            return
        prefers = await self.languages.of(pid) if self.languages and self.spanish else None
        await self._answer(message, spanish=prefers == SPANISH)

    async def _no_patient(self, message: PatientTextLike) -> None:
        """A number that is no one patient's (unknown, or shared by several): an opt-out is
        still recorded by number; anything else is answered with the clinic's number."""
        said = body(message.text)
        if "opt_out" in understand(meaning(said)).intents and self.revoke_number is not None:
            done = await self.revoke_number(message.sender, "conversation:words", message.at,
                                            said)
            await self.reply(message.sender, done if isinstance(done, str) else self._stopped)
            return
        await self._answer(message)

    @property
    def _stopped(self) -> str:
        return (f"{self.clinic.name}: You are unsubscribed and will receive no more "
                "messages. Reply START to resubscribe.")

    async def _answer(self, message: PatientTextLike, *, spanish: bool = False) -> None:
        """A text nobody here reads: where to call (an emergency: 911 or 988 first). Not
        to a thumbs-up or a thanks, and once an hour per number at most."""
        said = body(message.text)
        intents = understand(meaning(said)).intents
        urgent = "crisis" if "crisis" in intents else "emergency" if "emergency" in intents \
            else None
        if urgent is None and (reaction(said) is not None or said.strip().lower() in _THANKS
                               or not said.strip()):
            return
        last = self._answered.get(message.sender)
        if urgent is None and last is not None and \
                (message.at - last).total_seconds() < ANSWERED_EVERY_S:
            return
        if self.answer is None:
            return
        self._answered = {n: t for n, t in self._answered.items()  # only the last hour's
                          if (message.at - t).total_seconds() < ANSWERED_EVERY_S}
        self._answered[message.sender] = message.at
        text = (f"{self.clinic.name}: We cannot answer texts here. Please call us at "
                f"{self.clinic.callback_number}.")
        if spanish:  # the patient's preferred language
            text = (f"{self.clinic.name}: No podemos responder mensajes aquí. Llámenos al "
                    f"{self.clinic.callback_number}.")
        if urgent is not None:
            text = f"{(_URGENT_ES if spanish else _URGENT)[urgent]} {text}"
        await self.answer(message.sender, text)

    async def opted_out(self, patient_id: str) -> None:
        """The carrier took a STOP from this patient: the open thread ends, sending nothing
        more, and a reply to the last reminder opens none."""
        self._open.pop(patient_id, None)
        thread = self._threads.get(patient_id)
        if thread is not None:
            thread.port.closed = True
            with contextlib.suppress(asyncio.QueueFull):
                thread.port.inbox.put_nowait(None)

    async def settled(self, patient_id: str) -> str | None:
        """Wait until this patient's thread has ended; its outcome (tests, the CLI)."""
        thread = self._threads.get(patient_id)
        if thread is not None:
            await thread.done.wait()
        return self.outcomes.get(patient_id)

    async def _open_thread(self, pid: str, appointment_id: str, number: str) -> _Thread:
        patient = await self.patient_facts(pid)
        appt = await self.calendar.appointment(appointment_id)
        providers = {p.id: p for p in await self.calendar.providers()}
        record = build_record(self.clinic, patient, appt, providers)
        view = await self.memory.load(pid)
        thread_id = f"sms-{uuid.uuid4().hex[:12]}"
        conv = Conversation(self.workflow, record, call_id=thread_id, channel="sms",
                            memory=view)
        host = ActionHost(self.calendar, MemorySink(), patient_id=pid,
                          appointment_id=appointment_id, tz=self.tz, providers=providers,
                          verified=lambda: conv.verified)
        port = TextPort(host, self.memory, number=number, reply=self.reply,
                        clock=self.clock, wait=self.reply_window_s, patient_id=pid,
                        workflow=self.workflow.id, known=known_identifiers(patient),
                        revoke=self.revoke, language=ChatLanguage(
                            conv, self.spanish, preferred=(patient or {}).get("language"),
                            keep=self.languages.keeper(pid, f"text thread {thread_id}")
                            if self.languages else None),
                        hand_off=self.hand_off)
        return _Thread(conv, port, asyncio.Event())

    async def _run(self, pid: str, thread: _Thread) -> None:
        try:
            self.outcomes[pid] = await run_conversation(thread.conv, thread.port, self.clock())
            if thread.port.language is not None:
                await thread.port.language.settle()  # verified by the thread's last text
        except Exception as exc:  # noqa: BLE001 - one thread's fault ends no other (TaskGroup)
            log.error("text thread failed (%s)", type(exc).__name__)  # noqa: TRY400 - no PHI
        finally:
            self._threads.pop(pid, None)
            thread.done.set()


@dataclass
class _Thread:
    conv: Conversation
    port: TextPort
    done: asyncio.Event


SendRequested = Callable[[str, str], Awaitable[Any]]
"""``(patient_id, text)``: a text the patient asked for (``SmsService.send_requested``)."""


class AddressTexter:
    """"Text me the address" on any channel: a promise in the one memory, kept at once by
    a text to the patient's number on record (``agent.workflow.host.Texter``)."""

    def __init__(self, memory: Memory, send: SendRequested, *, clinic: str, address: str,
                 channel: str, workflow: str) -> None:
        self.memory = memory
        self.send = send
        self.address = address
        self.text = f"{clinic}: our address is {address}."
        self.channel = channel
        self.workflow = workflow

    async def send_address(self, patient_id: str, now: dt.datetime) -> bool:
        if not self.address:
            return False  # no address_line in the clinic file: nothing to promise
        promise = Promise(patient_id, self.channel, self.workflow, "send_address", now)
        await self.memory.promise(promise)
        try:
            await self.send(patient_id, self.text)
        except (OSError, TimeoutError, LookupError) as exc:
            # The promise stays open in memory: the next conversation sees it.
            log.warning("address text not sent (%s)", type(exc).__name__)
            return False
        await self.memory.keep(promise, now)
        return True


def records_patient_facts(records: Any) -> PatientFacts:
    """The patient's record (``carrier.records``) as workflows read it; each read audited."""
    async def patient_facts(patient_id: str) -> dict[str, Any] | None:
        p = await records.get_patient(uuid.UUID(patient_id), actor="agent",
                                      reason="text conversation")
        if p is None:
            return None
        first, _, last = p.name.partition(" ")
        return {"id": patient_id, "first_name": first, "last_name": last,
                "dob": p.dob.isoformat() if p.dob else "", "phone": p.phone,
                "language": p.language or ""}
    return patient_facts
