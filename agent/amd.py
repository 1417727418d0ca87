"""Answering-machine detection, before the agent says anything that could be PHI.

People answer with a short greeting ("Hello?") and wait; machines play a long
greeting ("You've reached ..., please leave a message after the tone"). The
classifier is pure: the length of the first thing the far end says and its
transcript decide. ``detect_machine`` runs it on a live call through ``VoiceIO``.
"""

from __future__ import annotations

import enum
import re
from typing import TYPE_CHECKING

from agent.speech.streaming import TurnResult
from agent.tasks import race

if TYPE_CHECKING:
    from agent.voice import VoiceIO

MACHINE_WORDS = re.compile(
    r"\b(leave (a|your) (message|name)|after the (tone|beep)|not available|can't come to the"
    r" phone|cannot come to the phone|voice ?mail|you have reached|you've reached|mailbox|"
    r"record your message|at the tone)\b",
    re.IGNORECASE,
)
HUMAN_MAX_GREETING_S = 1.8
FIRST_WORDS_TIMEOUT_S = 3.0


class AmdVerdict(enum.Enum):
    HUMAN = "human"
    MACHINE = "machine"
    SILENT = "silent"  # nobody spoke first; treated as a person who waits for us


def classify(greeting_s: float | None, text: str) -> AmdVerdict:
    """Decide from the first utterance: its length in seconds and its transcript."""
    if greeting_s is None:
        return AmdVerdict.SILENT
    if MACHINE_WORDS.search(text):
        return AmdVerdict.MACHINE
    words = len(text.split())
    if greeting_s > HUMAN_MAX_GREETING_S and words >= 5:
        return AmdVerdict.MACHINE
    return AmdVerdict.HUMAN


async def detect_machine(io: VoiceIO, *, wait_s: float = FIRST_WORDS_TIMEOUT_S
                         ) -> AmdVerdict:
    """Listen to the far end's first words (without speaking) and classify them.

    The greeting goes to the quick model first (``gist``): only its length and a few
    phrases count, and base took 285 ms of a core for a "Hello?" that tiny.en decodes in
    93 (G.711, AMD EPYC); tiny's text when it is not sure goes to base as usual. Every
    outbound call starts with this decode, so under load it was the other base decode
    queued at each call's start, beside the date of birth."""
    io.transcriber.expect(None, None, gist=True)
    try:
        # Waiting for the next turn again loses nothing: a turn stays queued until taken.
        won = await race({"turn": io.transcriber.next_turn()}, wait_s=wait_s)
        if won is None:
            # Still talking after the first seconds, or its words still being transcribed
            # (a busy box): let the greeting finish, while that lasts and at most as long
            # as the endpointer's longest turn and its transcription take. Before, 12 s
            # and only while the far end talked: a "Hello?" still in a worker at 3 s was
            # SILENT, an unknown callee. Checked every step, as the listen does.
            won = await io.wait_pending_answer(lambda: {"turn": io.transcriber.next_turn()})
    finally:
        io.transcriber.expect(None, None)
    if won is None:
        return AmdVerdict.SILENT
    turn: TurnResult = won[1]
    io.transcript.turns.append(("callee", turn.text))
    return classify(turn.end - turn.onset, turn.text)
