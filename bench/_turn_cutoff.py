"""False cut-offs: how often a turn is ended while the caller is still mid-answer.

Callers think aloud: "my date of birth is ... March fifth ... nineteen eighty". Each
phrasing below is a list of pieces, synthesised with the agent's own voice and joined by
pauses of 300-900 ms (seeded draws), then fed frame by frame through the agent's real
endpointer and streaming transcriber with the real Whisper workers. A turn that closes
before the caller's last piece begins is a false cut-off.

Time is the media (frame) clock, as on a call. A transcription takes as much media time as
it took on the CPU: the clock does not move while one is computing, and its result is
delivered at ``start + compute time``. So a verdict that arrives late on a loaded machine
arrives late here too. To tune on a loaded machine, ``charge_s`` charges a fixed time per
transcription instead (the quiet-box figure), so the rule, not the load, is measured.

TUNE is what the grammar's continuation words were checked against; HELD_OUT was written
apart and is not tuned to: its rate is the one to trust.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.speech import Endpointer, StreamingTranscriber, TurnResult
from agent.speech.turn_end import TurnEndMode, free_text_answer, typed_answer
from agent.voice import frames_of
from agent.workflow.effects import Expectation


@dataclass(frozen=True)
class Phrasing:
    slot_type: str | None
    intents: tuple[str, ...]
    pieces: tuple[str, ...]


def _p(slot: str | None, *pieces: str, intents: tuple[str, ...] = ()) -> Phrasing:
    return Phrasing(slot, intents, pieces)


TUNE = (
    _p("dob", "My date of birth is", "March fifth,", "nineteen eighty."),
    _p("dob", "It's", "July twenty second,", "nineteen seventy one."),
    _p("dob", "Um, let me think.", "It's the fourth of", "October, nineteen sixty two."),
    _p("yes_no", "Um,", "yes."),
    _p("yes_no", "No,", "not really."),
    _p("number", "About", "seven hours."),
    _p("phone", "Five five five,", "zero one zero zero,", "one two three."),
    _p(None, "Yes,", "this is she.", intents=("affirm",)),
)
HELD_OUT = (
    _p("dob", "Sure, it's", "the twelfth of January,", "nineteen fifty eight."),
    _p("dob", "I was born on", "August ninth,", "two thousand and one."),
    _p("dob", "Hold on.", "Okay, June third,", "nineteen ninety."),
    _p("yes_no", "Hmm,", "I'd say yes."),
    _p("yes_no_often", "Sometimes,", "maybe twice a week."),
    _p("number", "I sleep", "maybe six", "hours a night."),
    _p("zip", "It's nine oh", "two one oh."),
    _p(None, "Yeah,", "speaking.", intents=("affirm",)),
)
# Answers that go on after a complete-sounding start, spoken in one breath: the only pauses
# are the voice's own at commas and sentence ends (160-360 ms with the packaged voice). A
# turn ended on "Yes," hands "this is she" to the next question: the scripted demo's
# desync under ``speech.turn_end: grammar``. Cut: the turn closed before the last word.
NATURAL_TUNE = (
    _p(None, "Yes, this is she.", intents=("affirm",)),
    _p("yes_no", "No, not really."),
    _p("yes_no", "Yes, I will be there. Thank you."),
    _p("dob", "March fifth, nineteen eighty."),
    _p("yes_no", "Yes, speaking."),
)
NATURAL_HELD_OUT = (
    _p(None, "Yeah, that's me.", intents=("affirm",)),
    _p("yes_no", "No, I don't think so."),
    _p("yes_no", "Yes, I have been taking it. Every day."),
    _p("number", "Seven, maybe eight hours."),
    _p("yes_no", "Okay, yes. That works for me."),
)
NOW = dt.datetime(2026, 12, 5, 10, 0)
TAIL_S = 2.0  # silence after the answer, long enough for any hangover


@dataclass
class CutoffResult:
    turns: int = 0
    cut: int = 0
    endpointing_ms: list[float] = dataclasses.field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.cut / self.turns if self.turns else 0.0


class _MediaClock:
    """Media time for the harness; results of transcriptions wait for their due time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.computing = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self._due: list[tuple[float, asyncio.Future[None]]] = []

    async def until(self, due: float) -> None:
        if due <= self.now:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._due.append((due, fut))
        await fut

    def advance(self, now: float) -> None:
        self.now = now
        keep = []
        for due, fut in self._due:
            if fut.done():  # its transcription was cancelled
                continue
            if due <= now:
                fut.set_result(None)
            else:
                keep.append((due, fut))
        self._due = keep


class _ClockedStt:
    """The real transcriber, its compute time charged to the media clock."""

    def __init__(self, stt, clock: _MediaClock,  # type: ignore[no-untyped-def]
                 charge_s: float | None = None) -> None:
        self._stt = stt
        self._clock = clock
        self._charge_s = charge_s  # tuning on a loaded box: a fixed time per transcription

    @property
    def idle_workers(self) -> int:
        return int(self._stt.idle_workers)

    async def transcribe(self, pcm16k, hints=None):  # type: ignore[no-untyped-def]
        start = self._clock.now
        self._clock.computing += 1
        self._clock.idle.clear()
        began = time.perf_counter()
        try:
            result = await self._stt.transcribe(pcm16k, hints)
        finally:
            self._clock.computing -= 1
            if not self._clock.computing:
                self._clock.idle.set()
        took = time.perf_counter() - began if self._charge_s is None else self._charge_s
        await self._clock.until(start + took)
        return result


def _trimmed(pcm: np.ndarray) -> np.ndarray:
    voiced = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 300)
    return pcm[max(0, voiced[0] - 160): voiced[-1] + 1] if len(voiced) else pcm


async def _audio(tts, phrasing: Phrasing, rng: random.Random  # type: ignore[no-untyped-def]
                 ) -> tuple[np.ndarray, float]:
    """The answer's audio (with 0.3 s lead-in and the tail) and when its last word starts
    (a one-piece answer: when its last 200 ms of voice start, so ending it on the voice's
    own pause before its last word counts as a cut)."""
    parts = [np.zeros(4800, dtype=np.int16)]
    last_start = 0.0
    for i, piece in enumerate(phrasing.pieces):
        if i:
            parts.append(np.zeros(16 * rng.randrange(300, 901, 20), dtype=np.int16))
        last_start = sum(len(p) for p in parts) / 16000
        parts.append(_trimmed(np.asarray(await tts.synthesize(piece), dtype=np.int16)))
    if len(phrasing.pieces) == 1:
        last_start = max(last_start, (sum(len(p) for p in parts) - 3200) / 16000)
    parts.append(np.zeros(int(16000 * TAIL_S), dtype=np.int16))
    return np.concatenate(parts), last_start


async def _settle() -> None:
    for _ in range(6):
        await asyncio.sleep(0)  # let released transcriptions and their callbacks run


async def run_call(rt, mode: TurnEndMode, phrasings: Sequence[Phrasing],  # type: ignore[no-untyped-def]
                   seed: int, charge_s: float | None = None) -> CutoffResult:
    """One caller answering every phrasing in turn, on one call's transcriber."""
    assert rt.stt is not None
    assert rt.tts is not None
    assert rt.streaming is not None
    rng = random.Random(seed)
    clock = _MediaClock()
    out = CutoffResult()
    streaming = dataclasses.replace(rt.streaming, turn_end=mode)
    offset = 0.0
    async with asyncio.TaskGroup() as tg:
        st = StreamingTranscriber(_ClockedStt(rt.stt, clock, charge_s), Endpointer(rt.endpoint),
                                  streaming, tasks=tg)
        for phrasing in phrasings:
            audio, last_start = await _audio(rt.tts, phrasing, rng)
            expected = Expectation(phrasing.intents, phrasing.slot_type, (), ())

            def judge(text: str, e: Expectation = expected):  # type: ignore[no-untyped-def]
                return e.completion(text, NOW) if st.policy.grammar else e.is_complete(
                    text, NOW)

            st.expect(None, judge, typed=typed_answer(phrasing.slot_type),
                      free_text=free_text_answer(phrasing.slot_type))
            frames = frames_of(audio)
            for i, frame in enumerate(frames):
                await clock.idle.wait()  # media time waits while the CPU works
                clock.advance(offset + (i + 1) * 0.02)
                await _settle()
                st.feed(frame, clock.now)
                await _settle()
            while st._tasks:  # finals still running
                await clock.idle.wait()
                clock.advance(clock.now + 0.02)
                await _settle()
            turns: list[TurnResult] = []
            while not st._turns.empty():  # the turns ready now
                turns.append(await st.next_turn())
            if turns:
                out.turns += 1
                first = turns[0]
                if first.endpoint_at < offset + last_start:
                    out.cut += 1
                    if os.environ.get("BENCH_DEBUG"):  # synthetic answers only: no PHI
                        print(f"  cut-off [{mode.value}] {phrasing.pieces} -> "
                              f"{[t.text for t in turns]}", file=sys.stderr)
                else:
                    out.endpointing_ms.append(1000 * (first.endpoint_at - first.end))
            offset = max(offset + len(frames) * 0.02, clock.now)
        await st.aclose()
    return out
