"""One live call's language (the port side of ``agent.i18n``): offers Spanish after the
greeting, watches the caller's first input, and when it chooses Spanish switches the
call's prompts (the engine's overlay), voice (the Spanish synthesiser) and recogniser
(``language="es"`` on every later turn). A Spanish caller's words reach the engine as
the canonical phrases its grammar reads; the transcript keeps what they said."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from agent.grammar import understand
from agent.grammar.es import looks_spanish
from agent.grammar.hearing import asks_for_spanish
from agent.i18n import (
    LANGUAGE_OFFER,
    SPANISH,
    SPANISH_KEY,
    LanguageChoice,
    localised,
    spanish_dates,
    to_canonical,
)
from agent.voice import Synthesizer, VoiceIO
from agent.workflow.effects import Dtmf, Expectation, Input, NoInput, Utterance
from agent.workflow.engine import Conversation
from carrier.sms.body import stop_emoji

# What a caller may ask for at any question, free text included.
_EVERY_STATE = frozenset({"opt_out", "agent", "repeat", "hold", "ask_bot", "wrong_number",
                          "emergency", "crisis",
                          "ask_address", "ask_hours", "ask_callback", "ask_billing",
                          "ask_visit"})

# What Whisper is told to expect in a Spanish call (its previous-text context). Never an
# opt-out phrase: a decoder primed with one hears it in noise, and a wrong opt-out harms.
SPANISH_HINTS = ("sí", "no")
# What the engine hears from a caller who asked for Spanish in English: the question again,
# now in Spanish (as "no hablo inglés" is read), not a transfer to staff.
ASK_AGAIN = "repeat that"


def _asked_spanish(choice: LanguageChoice, available: bool, text: str) -> bool:
    """The caller asked in English for Spanish, and the call or chat has it: it switches."""
    if choice.spanish or not available or not asks_for_spanish(text):
        return False
    choice.language, choice.decided = SPANISH, True
    return True


class CallLanguage:
    """``offer`` once after the first prompt; ``heard`` on every input; ``text`` on every
    prompt; ``expectation`` on every listen."""

    def __init__(self, conv: Conversation, overlay: Mapping[str, str],
                 voice: Synthesizer | None) -> None:
        self.conv = conv
        self.overlay = overlay
        self.voice = voice  # the Spanish synthesiser; None: the call stays in English
        self.choice = LanguageChoice(decided=voice is None or not overlay)
        self._offered = False
        self._free_text = False  # the question being asked takes the caller's own words

    @property
    def spanish(self) -> bool:
        return self.choice.spanish

    async def offer(self, io: VoiceIO) -> None:
        """After the call's first prompt: "Para español, oprima dos", in the Spanish voice."""
        if self._offered or self.choice.decided or self.voice is None:
            return
        self._offered = True
        await io.say(LANGUAGE_OFFER, phi=False, voice=self.voice)

    def before_listen(self, io: VoiceIO) -> None:
        io.language = self.choice.stt_language if not self.choice.decided or self.spanish \
            else None

    def expectation(self, expected: Expectation | None) -> Expectation | None:
        self._free_text = expected is not None and expected.slot_type == "text"
        if expected is None:
            return expected
        if not self.choice.decided and SPANISH_KEY not in expected.dtmf:
            # A 2 pressed while the greeting played is kept for this turn, not dropped.
            return dataclasses.replace(expected, dtmf=(*expected.dtmf, SPANISH_KEY))
        if not self.spanish:
            return expected
        return dataclasses.replace(expected, hints=SPANISH_HINTS)

    def heard(self, io: VoiceIO, event: Input) -> Input:
        """The input as the engine should see it (switching the call first if it chose)."""
        if isinstance(event, Dtmf) and self.choice.on_key(event.key):
            self._switch(io)
            return NoInput()  # the state asks again, now in Spanish
        if isinstance(event, Utterance):
            if self.choice.on_utterance(event.text, io.heard_language):
                self._switch(io)
            elif _asked_spanish(self.choice, self.voice is not None and bool(self.overlay),
                                event.text):
                self._switch(io)
                return Utterance(ASK_AGAIN)
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

    def _switch(self, io: VoiceIO) -> None:
        assert self.voice is not None
        self.conv.workflow = localised(self.conv.workflow, self.overlay)
        io.tts = self.voice
        io.language = SPANISH


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
    """A typed conversation's language (the web chat): the first message in Spanish
    switches the chat's prompts to Spanish (text only: no voice to change); every later
    message reaches the engine as the canonical phrases its grammar reads."""

    def __init__(self, conv: Conversation, overlay: Mapping[str, str]) -> None:
        self.conv = conv
        self.overlay = overlay
        self.choice = LanguageChoice(decided=not overlay)
        self._free_text = False

    @property
    def spanish(self) -> bool:
        return self.choice.spanish

    def expectation(self, expected: Expectation | None) -> Expectation | None:
        self._free_text = expected is not None and expected.slot_type == "text"
        return expected

    def heard(self, event: Input) -> Input:
        if not isinstance(event, Utterance):
            return event
        if self.choice.on_utterance(event.text):
            self.conv.workflow = localised(self.conv.workflow, self.overlay)
        elif _asked_spanish(self.choice, bool(self.overlay), event.text):
            self.conv.workflow = localised(self.conv.workflow, self.overlay)
            return Utterance(ASK_AGAIN)
        if self.spanish:
            return Utterance(spanish_turn(event.text, free_text=self._free_text))
        return Utterance(text_meaning(event.text, free_text=self._free_text))

    def text(self, text: str) -> str:
        return spanish_dates(text) if self.spanish else text
