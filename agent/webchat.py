"""Web text chat (``carrier.plugin.ChatHandler``): the same conversation as a call, in text.

``TextChatHandler(runtime)`` runs one chat of the patient web page to its end on the
same engine, workflows, action host, records bookkeeping and transcript storage as a
call (``agent.handler``): only the port's speaking and listening differ. A ``Say`` is a
message to the page, a ``Listen`` waits for the patient's next message (a lone digit is
a key where the question offers it, and 0, 9, * and # always are, as on the phone's
keypad; otherwise "2" is the words "2", the second of three offered times; words go
through the grammars, in Spanish when the first message was: ``ChatLanguage``; the chat
begins in the found patient's preferred language, and a language asked for is kept as
the preference once the patient is verified, as on a call), a transfer finds
nobody (the workflow's failure path runs: the number to call). The patient is found by
the number they typed, as caller ID finds them on a call, and since that number is not
vouched for, the workflow asks the date of birth and the full name before any PHI
(``agent.workflow.stepup``). At the end the transcript is stored redacted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from agent.contract import outcome_kind, workflow_for
from agent.grammar import understand
from agent.handler import AgentRuntime, _LiveConversation
from agent.i18n import Overlays
from agent.language import ChatLanguage, preference_keeper, text_meaning
from agent.transcript_text import store_call
from agent.workflow.effects import (
    CallerHangup,
    Dtmf,
    Expectation,
    Hangup,
    Input,
    Listen,
    NoInput,
    Say,
    Transfer,
    Utterance,
)
from agent.workflow.engine import EngineError
from agent.workflow.host import new_slot
from agent.workflow.runner import run_conversation
from carrier.plugin import CallContext, CallOutcome, OutcomeKind
from carrier.webchat.chat import TextLeg

log = logging.getLogger("agent.webchat")

NO_REPLY_S = 600.0  # the page's own idle limit ends a session first; this is a backstop


# An opt-out from a chat that has not verified the patient (agent.endings.request_opt_out).
PENDING = ("We have recorded your request: no more automated calls about this patient. "
           "This chat cannot verify the phone number, so our staff will also confirm it with "
           "the number's owner. Goodbye.")
PENDING_ES = ("Hemos registrado su solicitud: no habrá más llamadas automáticas sobre este "
              "paciente. Este chat no puede verificar el número, así que nuestro personal "
              "también lo confirmará con su titular. Adiós.")

GLOBAL_KEYS = "09*#"  # a person, opt-out (never lost), repeat: keys at every question
MUST_ACT = frozenset({"opt_out", "emergency", "crisis"})  # never lost to a length limit


def read_message(text: str | None, expect: Expectation | None = None) -> Input:
    """A message as the engine's input: None (gone), empty (no input), a key, or words."""
    if text is None:
        return CallerHangup()
    text = text.strip()
    if not text:
        return NoInput()
    if len(text) == 1 and text in "0123456789*#" and (
            expect is None or text in GLOBAL_KEYS or text in expect.dtmf):
        return Dtmf(text)
    return Utterance(text)


@dataclass
class _Transcript:
    turns: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _TextIO:
    """What ``store_call`` reads of a call's voice: the turns (no timings, no audio)."""

    transcript: _Transcript = field(default_factory=_Transcript)
    timings: list[object] = field(default_factory=list)
    recording: list[object] | None = None


class TextChatHandler:
    def __init__(self, runtime: AgentRuntime) -> None:
        self.runtime = runtime

    async def __call__(self, leg: TextLeg, context: CallContext) -> CallOutcome:
        rt = self.runtime
        workflow_id = workflow_for(context, leg.called, routes=rt.routes,
                                   default=rt.default_workflow, known=rt.workflows)
        if workflow_id is None:
            log.warning("chat %s: no workflow serves it", leg.call_id)
            return CallOutcome(leg.call_id, OutcomeKind.FAILED, detail="no_workflow")
        chat = await _TextConversation.open(rt, leg, context, workflow_id)
        assert isinstance(chat, _TextConversation)
        await chat.run()
        await chat.sink.settle()
        result = chat.result
        return CallOutcome(leg.call_id,
                           outcome_kind(result.outcome, transfer_ok=chat.transfer_ok),
                           workflow=workflow_id, patient_id=result.patient_id,
                           detail=result.outcome or "", new_slot=new_slot(chat.host))


class _TextConversation(_LiveConversation):
    """The live call's port with text in place of speech (bookkeeping and actions shared)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.call, TextLeg)
        self.leg: TextLeg = self.call
        self.text_io = _TextIO()
        # The chat begins in the preferred language of the patient the typed number finds
        # (as a call does by caller ID: a language is no PHI, and nothing else is said);
        # the first message in Spanish, or asking for a language, switches the prompts; a
        # Spanish opt-out is one in an English chat too (agent.language.text_meaning).
        # What was asked for becomes the preference once the patient is verified.
        overlays = self.rt.overlays or Overlays()
        pid = self.result.patient_id
        self.chat_language = ChatLanguage(
            self.conv, overlays.for_workflow(self.conv.workflow.id),
            preferred=self.language.preferred,
            keep=None if pid is None else preference_keeper(
                self.rt.records, pid, f"web chat {self.leg.call_id}"))

    async def run(self) -> None:  # type: ignore[override]
        """Chat until the conversation or the session ends; then the record and transcript."""
        try:
            self.result.path = self.conv.path
            await run_conversation(self.conv, self, self.started)
            self.result.path = list(self.conv.path)
        except EngineError:
            log.exception("chat %s: the workflow engine refused to go on", self.leg.call_id)
            self.result.outcome = "engine_error"
        finally:
            self.leg.mark_ended("normal")
            await store_call(self.rt, self.leg, self.text_io,  # type: ignore[arg-type]
                             self.result, self.known, self.started)
            await self.chat_language.settle()  # verified by the last message: kept now

    async def say(self, effect: Say) -> None:
        text = self.chat_language.text(effect.text)
        if effect.prompt_id == "optout_goodbye" and self.opt_out_pending:
            text = PENDING_ES if self.chat_language.spanish else PENDING  # not done yet
        self.text_io.transcript.turns.append(("agent", text))
        await self.leg.send(text)

    async def listen(self, effect: Listen, now: dt.datetime) -> Input:
        await self.chat_language.settle()  # the patient's choice, once they are verified
        while True:
            try:
                async with asyncio.timeout(NO_REPLY_S):
                    text = await self.leg.receive()
            except TimeoutError:
                text = None
            if not self._too_long(text):
                break
            assert text is not None
            self.text_io.transcript.turns.append(("caller", text.strip()))
            limit = self.leg.max_chars
            shorter = (f"Su mensaje es muy largo: envíe uno de {limit} caracteres como máximo."
                       if self.chat_language.spanish else
                       f"Your message is too long: please send a shorter one, at most "
                       f"{limit} characters.")
            self.text_io.transcript.turns.append(("agent", shorter))
            await self.leg.send(shorter)
        if text is not None and text.strip():
            self.text_io.transcript.turns.append(("caller", text.strip()))
        expected = self.chat_language.expectation(effect.expected)
        return self.chat_language.heard(read_message(text, expected))

    def _too_long(self, text: str | None) -> bool:
        """Over ``webchat.max_message_chars`` with nothing in it that must be acted on:
        an opt-out, an emergency or a crisis in a long message is read as any other."""
        limit = self.leg.max_chars
        if text is None or limit is None or len(text.strip()) <= limit:
            return False
        return not understand(text_meaning(text)).intents & MUST_ACT

    async def transfer(self, effect: Transfer) -> bool:
        self.transfer_ok = False
        return False

    async def hangup(self, effect: Hangup) -> None:
        await self.leg.hangup(effect.reason)
