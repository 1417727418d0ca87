"""One live call's language (the port side of ``agent.i18n``): offers Spanish after the
greeting, watches the caller's first input, and when it chooses Spanish switches the
call's prompts (the engine's overlay), voice (the Spanish synthesiser) and recogniser
(``language="es"`` on every later turn). A Spanish caller's words reach the engine as
the canonical phrases its grammar reads; the transcript keeps what they said."""

from __future__ import annotations

import dataclasses
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from agent.grammar import understand
from agent.grammar.es import looks_spanish
from agent.grammar.hearing import asks_for_spanish
from agent.grammar.language_request import asked_language
from agent.i18n import (
    ENGLISH,
    ENGLISH_OFFER,
    LANGUAGE_OFFER,
    SPANISH,
    SPANISH_KEY,
    LanguageChoice,
    Overlays,
    localised,
    spanish_dates,
    to_canonical,
)
from agent.voice import Synthesizer, VoiceIO
from agent.workflow.effects import Dtmf, Expectation, Input, NoInput, Utterance
from agent.workflow.engine import Conversation
from carrier.records.store import DATABASE_UNAVAILABLE
from carrier.sms.body import stop_emoji

log = logging.getLogger("agent.language")

# What a caller may ask for at any question, free text included.
_EVERY_STATE = frozenset({"opt_out", "agent", "repeat", "hold", "ask_bot", "wrong_number",
                          "emergency", "crisis",
                          "ask_address", "ask_hours", "ask_callback", "ask_billing",
                          "ask_visit"})

# What Whisper is told to expect in a Spanish call (its previous-text context). Never an
# opt-out phrase: a decoder primed with one hears it in noise, and a wrong opt-out harms.
SPANISH_HINTS = ("sí", "no")
# After a switch, the question again in the new language (not a miss: "repeat" is global).
AGAIN = Utterance("repeat that")


def again(conv: Conversation) -> Input:
    """The question again after a switch: the state's prompts ("repeat"), or, for a state
    that says nothing of its own (a text thread's reply to the reminder), its reprompt
    (the reply's instructions, in the new language)."""
    state = conv.workflow.states.get(conv.state)
    return AGAIN if state is None or state.say else NoInput()

def _asked(text: str) -> str | None:
    """The language a request names (``agent.grammar.language_request``), or Spanish when
    the caller says they need it in other words ("I speak only Spanish", "my English is not
    good, Spanish": ``agent.grammar.hearing.asks_for_spanish``)."""
    return asked_language(text) or (SPANISH if asks_for_spanish(text) else None)


KeepPreference = Callable[[str], Awaitable[None]]
"""``(language)``: store a verified caller's choice as the patient's preferred language."""


class CallLanguage:
    """``attach`` when the call's voice opens; ``offer`` once after the first prompt;
    ``heard`` on every input; ``text`` on every prompt; ``expectation`` on every listen;
    ``settle`` before every listen and at the end (the preference, once verified)."""

    def __init__(self, conv: Conversation, overlay: Mapping[str, str],
                 voice: Synthesizer | None, *, preferred: str | None = None,
                 keep: KeepPreference | None = None) -> None:
        self.conv = conv
        self.overlay = overlay
        self.voice = voice  # the Spanish synthesiser; None: the call stays in English
        self.english = conv.workflow
        self._english_voice: Synthesizer | None = None
        can = voice is not None and bool(overlay)
        self.switchable = can
        start = SPANISH if can and preferred == SPANISH else ENGLISH
        self.choice = LanguageChoice(language=start, decided=not can)
        self.preferred = preferred  # as stored: the choice is kept only when it differs
        self._keep = keep
        self._offered = False
        self._free_text = False  # the question being asked takes the caller's own words
        self._key_is_ours = False  # the question has no use for SPANISH_KEY: it switches
        if start == SPANISH:
            self.conv.workflow = localised(self.english, overlay)

    @property
    def spanish(self) -> bool:
        return self.choice.spanish

    def attach(self, io: VoiceIO) -> None:
        """The call's voice is open: a call begun in Spanish speaks and hears Spanish."""
        self._english_voice = io.tts
        if self.spanish:
            self._apply(io)

    async def offer(self, io: VoiceIO) -> None:
        """After the call's first prompt: "Para español, oprima dos" in the Spanish voice,
        or in a call begun in Spanish "To continue in English, press two" in the English one."""
        if self._offered or self.choice.decided or self.voice is None:
            return
        self._offered = True
        if self.spanish:
            await io.say(ENGLISH_OFFER, phi=False, voice=self._english_voice or io.tts)
        else:
            await io.say(LANGUAGE_OFFER, phi=False, voice=self.voice)

    def before_listen(self, io: VoiceIO) -> None:
        io.language = self.choice.stt_language if not self.choice.decided or self.spanish \
            else None

    async def settle(self) -> None:
        """What the caller asked for becomes the patient's preference once the caller is
        verified (never an unverified caller's: someone else's record), once per call."""
        chosen = self.choice.chosen
        if self._keep is None or chosen is None or chosen == self.preferred \
                or not self.conv.verified:
            return
        self.preferred = chosen
        await self._keep(chosen)

    def expectation(self, expected: Expectation | None) -> Expectation | None:
        self._free_text = expected is not None and expected.slot_type == "text"
        self._key_is_ours = False
        if expected is None:
            return expected
        if self.switchable and SPANISH_KEY not in expected.dtmf:
            # A 2 pressed while the greeting played is kept for this turn, not dropped;
            # later, a 2 where the question has no use for it asks for the other language.
            self._key_is_ours = True
            expected = dataclasses.replace(expected, dtmf=(*expected.dtmf, SPANISH_KEY))
        if not self.spanish:
            return expected
        return dataclasses.replace(expected, hints=SPANISH_HINTS)

    def heard(self, io: VoiceIO, event: Input) -> Input:
        """The input as the engine should see it (switching the call first if it chose)."""
        if isinstance(event, Dtmf) and event.key == SPANISH_KEY and self.switchable:
            if not self.choice.decided:
                if self.choice.on_key(event.key):
                    self._apply(io)
                return NoInput()  # the state asks again, now in the language chosen
            if self._key_is_ours:
                self.choice.on_request(self.choice.other)
                self._apply(io)
                return again(self.conv)
        if isinstance(event, Dtmf) and not self.choice.decided:
            self.choice.on_key(event.key)  # another key decides: the language stays
        if isinstance(event, Utterance):
            asked = _asked(event.text) if self.switchable else None
            if asked is not None:
                self.choice.on_request(asked)
                self._apply(io)
                return again(self.conv)
            if self.choice.on_utterance(event.text, io.heard_language):
                self._apply(io)
            if self.spanish:
                return Utterance(self._canonical(event.text))
            # A call in English still hears a Spanish no or opt-out as one ("Ya no
            # quiero llamadas" was a yes: "ya" is a spelling of "yeah").
            return Utterance(text_meaning(event.text, free_text=self._free_text))
        return event

    def _canonical(self, text: str) -> str:
        return spanish_turn(text, free_text=self._free_text)

    def text(self, text: str) -> str:
        return spanish_dates(text) if self.spanish else text

    def _apply(self, io: VoiceIO) -> None:
        """Prompts, voice and recogniser in the call's language now."""
        assert self.voice is not None
        if self.spanish:
            self.conv.workflow = localised(self.english, self.overlay)
            io.tts = self.voice
            io.language = SPANISH
        else:
            self.conv.workflow = self.english
            if self._english_voice is not None:
                io.tts = self._english_voice
            io.language = None


class _Runtime(Protocol):
    """What ``call_language`` reads of the agent's runtime (``agent.handler.AgentRuntime``)."""

    @property
    def records(self) -> Any: ...
    @property
    def tts_es(self) -> Synthesizer | None: ...
    @property
    def overlays(self) -> Overlays | None: ...


def call_language(rt: _Runtime, conv: Conversation, patient: Mapping[str, Any] | None,
                  patient_id: str | None, call_id: str) -> CallLanguage:
    """One call's language: the workflow's Spanish prompts and voice, the patient's stored
    preference to begin in, and where a verified caller's choice is kept. The preference
    of the patient the caller ID (or a web chat's typed number) finds is used from the
    greeting on, before verification: a language is no PHI and the greeting names nothing
    the English one does not; a stranger on that phone may press 2 for English."""
    overlays = rt.overlays or Overlays()
    keep = None if patient_id is None else \
        preference_keeper(rt.records, patient_id, f"call {call_id}")
    return CallLanguage(conv, overlays.for_workflow(conv.workflow.id), rt.tts_es,
                        preferred=(patient or {}).get("language") or None, keep=keep)


def preference_keeper(records: Any, patient_id: str, where: str) -> KeepPreference:
    """Stores a verified patient's choice (``Records.set_patient_language``, audited as
    the agent's, with ``where``). A database outage loses only this convenience."""
    async def keep(language: str) -> None:
        try:
            await records.set_patient_language(
                uuid.UUID(patient_id), language, actor="agent", source="patient",
                reason=f"{where}: the verified patient asked for it", queued=True)
        except DATABASE_UNAVAILABLE:
            log.warning("%s: the preferred language was not stored (database unreachable)",
                        where)
    return keep


class RecordsLanguages:
    """The patients' preferred languages in the records, for the text channel: ``of``
    reads one (nothing decrypted; unknown during an outage), ``keeper`` stores a verified
    patient's choice (``preference_keeper``)."""

    def __init__(self, records: Any) -> None:
        self.records = records

    async def of(self, patient_id: str) -> str | None:
        try:
            language = await self.records.patient_language(uuid.UUID(patient_id))
        except ValueError:  # no record id: the carrier's send refuses it (contact.unknown)
            return None
        except DATABASE_UNAVAILABLE:
            return None
        return None if language is None else str(language)

    def keeper(self, patient_id: str, where: str) -> KeepPreference:
        return preference_keeper(self.records, patient_id, where)


def spanish_turn(text: str, *, free_text: bool) -> str:
    """A Spanish turn as the engine reads it. At a free-text question the caller's own
    words are the answer ("No puedo dormir" was stored as the reason "no"), unless the
    turn asks for what every state gives (stop calls, a person, a moment, a repeat...)."""
    canonical = to_canonical(text)
    if free_text and not understand(canonical).intents & _EVERY_STATE:
        return text
    return canonical


_TYPED_YES = re.compile(r"^(?:y+e*s+|y+s+e*|ye+a+h*|ys+)$")
_TYPED_NO = re.compile(r"^n+o+$")


def text_meaning(said: str, *, free_text: bool = False) -> str:
    """A typed message's words as the grammars read them, in a chat or text not (yet) in
    Spanish: Spanish words, or a Spanish opt-out in any text, as the canonical phrase
    ("No me manden más mensajes" -> "stop calling me", never a plain "no"); a misspelt
    yes or no ("yse", "yesss!", "noo") as the word. Digits alone ("03/05/1980") are read
    as written, never as a Spanish day-first date."""
    drawn = stop_emoji(said)  # "🛑" is "stop"; ✋ ⛔ 🚫 a bare "cancel" (which? is asked)
    if drawn is not None:
        return drawn
    canonical = spanish_turn(said, free_text=free_text)
    spanish = re.search(r"[^\W\d_]{2}", said) is not None and looks_spanish(said)
    if canonical != said and (spanish or "opt_out" in understand(canonical).intents):
        return canonical
    word = said.strip(" .!").lower()
    if not free_text and _TYPED_YES.match(word):
        return "yes"
    if not free_text and _TYPED_NO.match(word):
        return "no"
    return said


class ChatLanguage:
    """A typed conversation's language (the web chat, a text thread): it begins in the
    patient's stored preference (``preferred``), else English; the first message in
    Spanish, or asking for a language at any time ("español", "English please"),
    switches the prompts (text only: no voice to change); every later message reaches the
    engine as the canonical phrases its grammar reads. ``settle`` keeps what was asked
    for as the patient's preference once they are verified, as on a call."""

    def __init__(self, conv: Conversation, overlay: Mapping[str, str], *,
                 preferred: str | None = None, keep: KeepPreference | None = None) -> None:
        self.conv = conv
        self.overlay = overlay
        self.english = conv.workflow
        start = SPANISH if overlay and preferred == SPANISH else ENGLISH
        self.choice = LanguageChoice(language=start, decided=not overlay)
        self.preferred = preferred
        self._keep = keep
        self._free_text = False
        if start == SPANISH:
            self.conv.workflow = localised(self.english, overlay)

    @property
    def spanish(self) -> bool:
        return self.choice.spanish

    def expectation(self, expected: Expectation | None) -> Expectation | None:
        self._free_text = expected is not None and expected.slot_type == "text"
        return expected

    def heard(self, event: Input) -> Input:
        if not isinstance(event, Utterance):
            return event
        asked = _asked(event.text) if self.overlay else None
        if asked is not None:
            self.choice.on_request(asked)
            self._apply()
            return again(self.conv)
        if self.choice.on_utterance(event.text):
            self._apply()
        if self.spanish:
            return Utterance(spanish_turn(event.text, free_text=self._free_text))
        return Utterance(text_meaning(event.text, free_text=self._free_text))

    async def settle(self) -> None:
        """As ``CallLanguage.settle``: a verified patient's request, kept once."""
        chosen = self.choice.chosen
        if self._keep is None or chosen is None or chosen == self.preferred \
                or not self.conv.verified:
            return
        self.preferred = chosen
        await self._keep(chosen)

    def _apply(self) -> None:
        self.conv.workflow = localised(self.english, self.overlay) if self.spanish \
            else self.english

    def text(self, text: str) -> str:
        return spanish_dates(text) if self.spanish else text
