"""How long the caller's silence must last before the turn is theirs no more. Sans-IO.

Two modes (setting ``speech.turn_end``):

- ``silence`` (the rule before issue 14): a turn ends after ``hangover_ms`` of silence;
  an early transcript the workflow accepts as an answer shortens that to
  ``complete_hangover_ms``.
- ``grammar``: the early transcript taken at each pause is judged
  (:mod:`agent.grammar.completion`): COMPLETE ends the turn after ``complete_floor_ms`` of
  silence (0: as soon as the verdict is in) when the question expects a typed answer (a
  yes/no, a date, a number); after ``complete_hangover_ms`` (at least the floor) when it
  expects only intents ("Am I speaking with ...?", "Will you be there?"), which callers
  often go on answering after "Yes," ("Yes, this is she", "Yes, I will be there.
  Confirm."). Either is raised past the gaps after which this caller
  went on speaking once a complete-sounding start had ended a turn ("Yes, ... this is
  she": the ``continued`` gaps, plus ``pause_margin_ms``), never above the base;
  INCOMPLETE ("my date of birth is", "March", "yes but") waits ``incomplete_hangover_ms``;
  UNKNOWN waits the adaptive base: ``hangover_ms``, raised past the longest pause this
  caller made inside a turn (plus ``pause_margin_ms``), at most ``max_hangover_ms``.
  Speech resuming after a pause puts the hangover back to the base (the verdict was on
  the words before the pause). While an early transcript is being judged the turn waits
  for the verdict (at most ``incomplete_hangover_ms``): a verdict late on a busy machine
  must not find the turn already cut.

No clock is read: pauses are measured in frames by the endpointer and handed in as ms.

A semantic end-of-turn model was measured and not adopted (issue 14): Smart Turn v3.2,
the ONNX inside the ``pipecat-ai`` wheel (BSD-2), rated the packaged voice's pause after
"Yes," (G.711 audio) as finished, 0.82-0.98, as high as a final "Yes."; it took 150 ms to
over 1 s per call on the shared 2-core box; and the wheel requires openai, numba, Pillow,
aiohttp and more. Whisper's own punctuation does not tell the two pauses apart either.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

from agent.grammar.completion import FREE_SLOTS, Completion

__all__ = ["BASE_SLOTS", "Completion", "TurnEndConfig", "TurnEndMode", "TurnEndPolicy",
           "free_text_answer", "quick_answer", "typed_answer"]


def typed_answer(slot_type: str | None) -> bool:
    """The question expects a typed slot (yes/no, a date, a number), not intents only
    or free text: its complete answers wait ``complete_floor_ms`` in grammar mode."""
    return slot_type is not None and slot_type not in FREE_SLOTS


def free_text_answer(slot_type: str | None) -> bool:
    """The question takes a name or free text: no grammar says when its answer is done."""
    return slot_type in FREE_SLOTS


# Answers base decodes, never the quick model: a date of birth. Narrowband audio carries
# no "f"/"s" difference, and tiny.en heard a year's "fifty" as "sixty": over 75 recorded
# human dates of birth at 8 kHz (bench/speech_quick.py, seeds 14-16) tiny took 10 wrong
# values, base 5. Member IDs and phone numbers stay with tiny (more right, fewer wrong).
BASE_SLOTS = frozenset({"dob"})


def quick_answer(slot_type: str | None) -> bool:
    """The answer may be decoded by the quick model first (``SttConfig.quick_model_dir``):
    anything the grammar judges but a date of birth; never free text."""
    return slot_type not in BASE_SLOTS and slot_type not in FREE_SLOTS


class TurnEndMode(Enum):
    SILENCE = "silence"
    GRAMMAR = "grammar"


@dataclass(frozen=True, slots=True)
class TurnEndConfig:
    mode: TurnEndMode = TurnEndMode.GRAMMAR
    hangover_ms: int = 600
    # silence mode: after an accepted early transcript; grammar mode: after a COMPLETE
    # answer to a question expecting intents only (no typed slot)
    complete_hangover_ms: int = 200
    incomplete_hangover_ms: int = 1300  # grammar mode: the answer is still on its way
    max_hangover_ms: int = 1300  # grammar mode: ceiling of the adaptive base
    pause_margin_ms: int = 200  # grammar mode: base exceeds the caller's pauses by this
    min_pause_ms: int = 200  # shorter gaps are between words, not pauses to learn from
    pauses_remembered: int = 6
    # grammar mode: silence a COMPLETE typed answer still waits ("Yes," may go on)
    complete_floor_ms: int = 0

    def __post_init__(self) -> None:
        for name in ("hangover_ms", "complete_hangover_ms", "incomplete_hangover_ms",
                     "max_hangover_ms"):
            value = getattr(self, name)
            if value < 20 or value % 20:
                raise ValueError(f"{name} must be a positive multiple of 20 ms")
        if self.complete_floor_ms < 0 or self.complete_floor_ms % 20:
            raise ValueError("complete_floor_ms must be a multiple of 20 ms")
        if self.max_hangover_ms < self.hangover_ms:
            raise ValueError("max_hangover_ms cannot be below hangover_ms")
        if self.pause_margin_ms < 0 or self.min_pause_ms < 20 or self.pauses_remembered < 1:
            raise ValueError("pause_margin_ms >= 0, min_pause_ms >= 20, pauses_remembered >= 1")


class TurnEndPolicy:
    """One call's end-of-turn rule; fed verdicts and pauses, it answers with hangovers."""

    def __init__(self, config: TurnEndConfig | None = None) -> None:
        self.config = config or TurnEndConfig()
        self._pauses: deque[int] = deque(maxlen=self.config.pauses_remembered)
        self._continued: deque[int] = deque(maxlen=self.config.pauses_remembered)

    @property
    def grammar(self) -> bool:
        return self.config.mode is TurnEndMode.GRAMMAR

    def base_hangover_ms(self) -> int:
        """Silence that ends a turn no verdict has judged yet."""
        c = self.config
        if not self.grammar or not self._pauses:
            return c.hangover_ms
        wanted = max(self._pauses) + c.pause_margin_ms
        wanted = _frames(wanted)
        return min(c.max_hangover_ms, max(c.hangover_ms, wanted))

    def complete_hangover_ms(self, typed: bool = True) -> int:
        """grammar mode: silence that ends a turn judged COMPLETE; ``typed``: the question
        expects a typed slot (yes/no, date, number), else intents only."""
        c = self.config
        wanted = c.complete_floor_ms if typed else max(c.complete_floor_ms,
                                                        c.complete_hangover_ms)
        if self._continued:
            wanted = max(wanted, _frames(max(self._continued) + c.pause_margin_ms))
        return min(wanted, self.base_hangover_ms())

    def hangover_after(self, verdict: Completion, typed: bool = True) -> int | None:
        """Silence that ends the turn once an early transcript got ``verdict``: 0 ends it
        now, None keeps the current rule. ``typed``: see :meth:`complete_hangover_ms`."""
        c = self.config
        if verdict is Completion.COMPLETE:
            return self.complete_hangover_ms(typed) if self.grammar else c.complete_hangover_ms
        if not self.grammar:
            return None
        if verdict is Completion.INCOMPLETE:
            return max(c.incomplete_hangover_ms, self.base_hangover_ms())
        return self.base_hangover_ms()

    def judging_hangover_ms(self) -> int | None:
        """Silence that ends a turn while an early transcript of it is being judged (a late
        verdict must not find the turn already closed); None: the current rule holds."""
        if not self.grammar:
            return None
        return max(self.config.incomplete_hangover_ms, self.base_hangover_ms())

    def pause_ended(self, pause_ms: int) -> None:
        """The caller spoke again after ``pause_ms`` of silence inside the same turn."""
        if pause_ms >= self.config.min_pause_ms:
            self._pauses.append(pause_ms)

    def continued_after_complete(self, gap_ms: int) -> None:
        """The caller spoke again ``gap_ms`` after the end of their speech in a turn that a
        COMPLETE verdict had ended: a gap the base rule would have bridged was not the end
        of their answer. Longer gaps start a new turn under any rule and are not learned."""
        if self.grammar and self.config.min_pause_ms <= gap_ms < self.base_hangover_ms():
            self._continued.append(gap_ms)


def _frames(ms: int) -> int:
    """``ms`` rounded up to whole 20 ms frames."""
    return -(-ms // 20) * 20
