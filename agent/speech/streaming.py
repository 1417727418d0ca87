"""Early transcription: most of the work is done before the caller finishes.

The endpointer waits ``hangover_ms`` (600 ms) of silence before it calls the end of a turn,
and Whisper then needs ~0.3-0.5 s. Instead, as soon as a pause inside the utterance reaches
``pause_ms`` (120 ms), the audio so far is transcribed in the background (a *partial*).
If the caller says nothing more, the utterance at end of turn is exactly the audio of the
last partial (both are cut at the last voiced frame plus the same tail), so its transcript
is reused and the turn's text is ready when the hangover expires, or shortly after.
If the caller went on talking, the whole utterance is transcribed at the end, as without
this technique (segment-wise transcription is less accurate, so it is not used).

The workflow may also judge each partial (``is_complete(text)``: a bool, or a
:class:`Completion` verdict such as :func:`agent.grammar.completion.completion` gives).
What a verdict does to this turn's hangover is :class:`TurnEndPolicy`'s (``turn_end``):
in ``silence`` mode an accepted partial shortens the hangover to ``complete_hangover_ms``;
in ``grammar`` mode a COMPLETE partial ends the turn after ``complete_floor_ms`` (a
typed answer) or ``complete_hangover_ms`` (an answer to an intents-only question), an
INCOMPLETE one ("my date of birth is") waits ``incomplete_hangover_ms``, and the base
hangover adapts to the pauses this caller makes inside a turn. While a partial is being
judged, silence alone does not end the turn (up to the incomplete hangover): on a busy
machine the verdict comes late, and the turn's final text would wait for that partial
anyway.

Under load, partials start only while ``partial_min_idle`` workers are idle, so early
transcription uses spare capacity and finished turns find a worker; except an answer the
workflow judges (a typed one, or intents only such as "Am I speaking with ...?"; not free
text) (``judged_when_busy``): its partial is queued at once whatever the load, as a
caller who stops there needs that very transcription for the final text, and its verdict
spares the turn the hangover (bench/concurrent_calls.py, 2 workers, loaded
box: 40 calls p95 1918 -> 636 ms, 48 calls 978 ms). A partial is cancelled as soon as the
caller speaks again (a queued one leaves the queue before it costs a decode).

A final text the workflow's judge does not find COMPLETE (the caller went off script, a
name, free text) gets a second pass (``second_pass``): the utterance is decoded again the
way the model decodes a file (``transcribe_carefully``: 30 s window, beam search), slower
but as accurate as the model; an answer the grammar understood keeps the quick pass. In
grammar mode a judged answer whose early transcript the grammar cannot place (UNKNOWN: a
misheard date of birth) begins that pass at the pause, while the turn waits its hangover.

Every transcription (partial or final) is a task in the call's ``asyncio.TaskGroup``
(``tasks=``), so none outlives the call; ``aclose()`` cancels the ones still running.
A failed transcription never aborts the group: a partial that fails is simply not
reused, a final one surfaces as :class:`SttError` from ``next_turn()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from agent.grammar.completion import as_finished
from agent.speech.audio import RATE
from agent.speech.endpoint import (
    Endpointer,
    EndpointEvent,
    EndReason,
    SpeechEnd,
    SpeechStart,
    Utterance,
)
from agent.speech.stt import SttError
from agent.speech.turn_end import Completion, TurnEndConfig, TurnEndMode, TurnEndPolicy
from agent.speech.turns import BargeIn, BargeInDetector
from agent.speech.whisper import Hints, Transcript


class Transcriber(Protocol):
    @property
    def idle_workers(self) -> int: ...

    async def transcribe(self, pcm16k: np.ndarray, hints: Hints | None = None) -> Transcript: ...


@dataclass(frozen=True, slots=True)
class StreamingConfig:
    early: bool = True
    pause_ms: int = 120
    complete_hangover_ms: int = 400
    turn_end: TurnEndMode = TurnEndMode.SILENCE
    incomplete_hangover_ms: int = 1300  # grammar mode: the answer is on its way
    max_hangover_ms: int = 1300  # grammar mode: ceiling of the adaptive base hangover
    # grammar mode: silence a COMPLETE answer still waits ("Yes," may go on: "this is she");
    # raised per call past the gaps after which the caller went on (TurnEndPolicy)
    complete_floor_ms: int = 0
    # A partial starts only when at least this many workers are idle, so finished turns
    # (which cannot be skipped) find a worker; 0 starts partials whatever the load.
    partial_min_idle: int = 1
    # ... except for an answer the workflow judges (yes/no, a date, a number, or intents
    # only; not free text): its early transcript is queued whatever the load, since a
    # caller who stops there needs that very transcription anyway, and its verdict ends
    # the turn without the full hangover.
    judged_when_busy: bool = True
    # A final text the workflow's judge does not find COMPLETE (off script, free text) is
    # decoded a second time as a file is (``transcribe_carefully``), and that text is used.
    second_pass: bool = True
    # ... unless no worker takes it within this (the workers are crowded: the scheduler
    # serves a second pass after the other callers' quick answers); then the first text
    # stands, and the pass is never decoded (``SttShedError``).
    second_pass_wait_s: float = 0.5
    # One a worker took in time is waited for as long as its decode takes, at most this
    # (a stuck worker). In the workers as shipped (one thread each, AMD EPYC) a careful
    # pass takes 1.55 s for a 1.5 s turn, 2.0 s for 8 s and 2.8 s for 18 s. Before, the
    # whole pass had 2 s: every turn over about 8 s kept its first text even on an idle
    # box, after its second pass had taken a worker for nothing.
    second_pass_decode_s: float = 6.0

    def __post_init__(self) -> None:
        if self.pause_ms < 20 or self.complete_hangover_ms < 20:
            raise ValueError("pause_ms and complete_hangover_ms must be at least one frame")

    def policy(self, hangover_ms: int) -> TurnEndPolicy:
        """The end-of-turn rule for one call whose endpointer waits ``hangover_ms``."""
        return TurnEndPolicy(TurnEndConfig(
            mode=self.turn_end, hangover_ms=hangover_ms,
            complete_hangover_ms=self.complete_hangover_ms,
            incomplete_hangover_ms=self.incomplete_hangover_ms,
            max_hangover_ms=max(self.max_hangover_ms, hangover_ms),
            complete_floor_ms=self.complete_floor_ms))


@dataclass(frozen=True, slots=True)
class TurnResult:
    text: str
    onset: float
    end: float  # end of the last voiced frame
    endpoint_at: float  # frame time the turn was closed
    reason: EndReason
    reused_partial: bool
    complete: bool  # the workflow's predicate accepted the text
    partials: int  # partial transcriptions started during the turn
    language: str = ""  # the language it was transcribed in (detected when asked "auto")


@dataclass(slots=True)
class _Partial:
    voiced_end: float
    task: asyncio.Task[Transcript | None]  # None: the transcription failed
    # The second pass begun at this pause (``_begin_second_pass``); None: failed or shed.
    careful: asyncio.Task[Transcript | None] | None = None

    def cancel(self) -> None:
        self.task.cancel()
        if self.careful is not None:
            self.careful.cancel()


Judge = Callable[[str], bool | Completion]


def _verdict(judged: bool | Completion) -> Completion:
    if isinstance(judged, Completion):
        return judged
    return Completion.COMPLETE if judged else Completion.UNKNOWN


class StreamingTranscriber:
    """Feed frames in; ``await next_turn()`` for each finished turn's text."""

    def __init__(
        self,
        stt: Transcriber,
        endpointer: Endpointer,
        config: StreamingConfig | None = None,
        *,
        tasks: asyncio.TaskGroup,
        hints: Hints | None = None,
        is_complete: Judge | None = None,
        barge_in: BargeInDetector | None = None,
        max_turns_queued: int = 8,
    ) -> None:
        self.stt = stt
        self._group = tasks
        self.endpointer = endpointer
        self.config = config or StreamingConfig()
        self.hints = hints
        self.is_complete = is_complete
        self.policy = self.config.policy(endpointer.config.hangover_ms)
        self.barge_in = barge_in
        self._turns: asyncio.Queue[TurnResult | SttError] = asyncio.Queue(max_turns_queued)
        self._partial: _Partial | None = None
        self._partials_started = 0
        self._complete = False
        self._typed = True
        self._free_text = False
        self._quick = True
        self._gist = False
        self._last_now = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._previous_final: asyncio.Task[None] | None = None
        # End of the caller's speech in the last turn a COMPLETE verdict ended (media time):
        # speech starting soon after it teaches the policy this caller's gaps.
        self._completed_end: float | None = None

    def expect(self, hints: Hints | None, is_complete: Judge | None, *, typed: bool = True,
               free_text: bool = False, quick: bool = True, gist: bool = False) -> None:
        """Set what the workflow's current state expects (used from the next partial on);
        ``typed``: a typed slot (yes/no, date, number), not intents only (how long a
        COMPLETE answer still waits: :meth:`TurnEndPolicy.complete_hangover_ms`);
        ``free_text``: a name or free text, whose early transcripts use spare workers only;
        ``quick``: a judged answer the quick model may decode first (not a date of birth:
        :func:`agent.speech.turn_end.quick_answer`);
        ``gist``: no grammar judges the words, but only their gist counts (an answering
        machine's greeting: its length and a few phrases), so the quick model may
        decode them first too."""
        self.hints = hints
        self.is_complete = is_complete
        self._typed = typed
        self._free_text = free_text
        self._quick = quick
        self._gist = gist

    def feed(self, frame: np.ndarray, now: float | None = None) -> list[EndpointEvent | BargeIn]:
        ep = self.endpointer
        was_speaking, silence_ms = ep.in_speech, ep.trailing_silence_ms
        events = ep.feed(frame, now)
        self._last_now = ep.now
        if self.policy.grammar:
            if any(isinstance(e, SpeechStart) for e in events):
                ep.set_hangover(self.policy.base_hangover_ms())
            elif was_speaking and ep.in_speech and silence_ms and not ep.trailing_silence_ms:
                # The caller went on after a pause: learn it, and forget the verdict on
                # the words before it.
                self.policy.pause_ended(silence_ms)
                ep.set_hangover(self.policy.base_hangover_ms())
        out: list[EndpointEvent | BargeIn] = list(events)
        if self.barge_in is not None:
            out.extend(self.barge_in.on_events(events))
        for event in events:
            self._on_event(event)
        if self.endpointer.in_speech:
            self._drop_stale_partial()
            self._maybe_partial()
        return out

    @property
    def transcribing(self) -> bool:
        """A turn the caller has ended is still being transcribed: its text is not yet
        queued for :meth:`next_turn` (a free-text answer's second pass may take
        ``second_pass_wait_s + second_pass_decode_s`` on a loaded box)."""
        return bool(self._tasks)

    def end_now(self) -> None:
        """The line closed (the caller hung up): the turn being spoken ends here and is
        transcribed as any other, so the words said just before a hang-up are heard."""
        for event in self.endpointer.force_end(self._last_now):
            self._on_event(event)

    @property
    def turns_waiting(self) -> bool:
        """A finished turn is queued, not yet taken by :meth:`next_turn`."""
        return not self._turns.empty()

    async def next_turn(self) -> TurnResult:
        """The next finished turn, in order. Raises :class:`SttError` for a turn whose
        transcription failed (the conversation goes on: ask the caller to repeat)."""
        item = await self._turns.get()
        if isinstance(item, SttError):
            raise item
        return item

    async def aclose(self) -> None:
        """Cancel the transcriptions still running and wait until they have stopped."""
        tasks: list[asyncio.Task[Any]] = list(self._tasks)
        if self._partial is not None:
            tasks.append(self._partial.task)
            if self._partial.careful is not None:
                tasks.append(self._partial.careful)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    # --- internals -------------------------------------------------------------------

    def _on_event(self, event: EndpointEvent) -> None:
        if isinstance(event, SpeechStart):
            if self._completed_end is not None:
                gap_ms = round(1000 * (event.onset - self._completed_end))
                self.policy.continued_after_complete(gap_ms)
            self._completed_end = None
        if isinstance(event, SpeechEnd) and not event.kept:
            self._drop_partial()
        elif isinstance(event, Utterance):
            partial, self._partial = self._partial, None
            # event.end is rounded to the microsecond (frame times are float sums)
            reuse = partial if partial and round(partial.voiced_end, 6) == event.end else None
            if partial is not None and reuse is None:
                partial.cancel()
            task = self._group.create_task(
                self._finish(event, reuse, self._partials_started, self._complete)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self._completed_end = event.end if self._complete else None
            self._partials_started = 0
            self._complete = False

    def _maybe_partial(self) -> None:
        ep = self.endpointer
        # ">=": if every worker was busy when the pause began, try again on later frames.
        if not self.config.early or ep.trailing_silence_ms < self.config.pause_ms:
            return
        if self._partial is not None and self._partial.voiced_end == ep.last_voiced_end:
            return
        if self.stt.idle_workers < self.config.partial_min_idle and not self._judged_when_busy():
            return
        # (an earlier partial of other words was cancelled by _drop_stale_partial already)
        audio = ep.audio_so_far()
        voiced_end = ep.last_voiced_end
        task = self._group.create_task(self._transcribe_partial(audio, self.hints))
        self._partial = _Partial(voiced_end, task)
        self._partials_started += 1
        if self.is_complete is not None:
            judging = self.policy.judging_hangover_ms()
            if judging is not None:
                ep.set_hangover(judging)  # silence alone does not end it while judged

            def done(t: asyncio.Task[Transcript | None]) -> None:
                self._on_partial_done(t, voiced_end)

            task.add_done_callback(done)

    def _judged_when_busy(self) -> bool:
        return (self.config.judged_when_busy and self.is_complete is not None
                and not self._free_text)

    def _drop_stale_partial(self) -> None:
        """The caller spoke again: an early transcript not yet done is of words no longer
        last, and is never reused; cancelled now, a queued one leaves the queue at once."""
        partial = self._partial
        if partial is not None and self.endpointer.last_voiced_end != partial.voiced_end:
            partial.cancel()
            self._partial = None

    def _first_pass(self) -> Callable[[np.ndarray, Hints | None], Awaitable[Transcript]]:
        """The recogniser's quick model first for an answer the workflow's grammar
        judges, but a date of birth (a wrong text there is mostly caught: it is not
        COMPLETE, and the turn is decoded again carefully), and for words of which only
        the gist counts (``expect(gist=True)``); base for everything else."""
        quickly = getattr(self.stt, "transcribe_quickly", None)
        judged = self.is_complete is not None or self._gist
        if quickly is not None and judged and self._quick and not self._free_text:
            return quickly  # type: ignore[no-any-return]
        return self.stt.transcribe

    async def _transcribe_partial(self, audio: np.ndarray, hints: Hints | None
                                  ) -> Transcript | None:
        try:
            return await self._first_pass()(audio, hints)
        except SttError:
            return None  # only an early guess: the turn is transcribed again at its end

    def _on_partial_done(self, task: asyncio.Task[Transcript | None], voiced_end: float
                         ) -> None:
        ep = self.endpointer
        if task.cancelled() or self.is_complete is None:
            return
        if not (ep.in_speech and ep.last_voiced_end == voiced_end):
            return  # the caller went on: the verdict is on words no longer last
        transcript = task.result()
        verdict = (Completion.UNKNOWN if transcript is None
                   else _verdict(self.is_complete(transcript.text)))
        self._complete = verdict is Completion.COMPLETE
        hangover = self.policy.hangover_after(verdict, self._typed)
        partial = self._partial
        if (verdict is Completion.UNKNOWN and transcript is not None and partial is not None
                and partial.task is task):
            self._begin_second_pass(partial, transcript,
                                    ep.hangover_ms if hangover is None else hangover)
        if hangover is None:
            return
        if ep.trailing_silence_ms >= hangover:
            for event in ep.force_end(self._last_now):
                self._on_event(event)
        else:
            ep.set_hangover(hangover)

    def _ended_complete(self, text: str) -> bool:
        """The grammar's verdict on an ended turn, judged as finished words
        (``as_finished``: the caller was silent for the whole hangover)."""
        assert self.is_complete is not None
        return _verdict(self.is_complete(as_finished(text))) is Completion.COMPLETE

    def _begin_second_pass(self, partial: _Partial, first: Transcript, hangover_ms: int
                           ) -> None:
        """grammar mode: a judged answer (not free text) that the grammar cannot place
        at a pause (UNKNOWN: misheard, or off script) and that would get the second pass
        were its turn to end here gets it now, while the turn waits its hangover; the
        caller going on cancels it. Its end then need not wait the whole careful decode
        as well (bench/concurrent_calls.py: a date of birth base heard as "Mark Spiff
        1980" waited the hangover and then about 1 s of a worker). The audio is the turn
        as recorded, with the rest of its ``hangover_ms`` as silence: what the pass would
        get at the end of the turn."""
        if (not self.policy.grammar or not self.config.second_pass or self._free_text
                or self._careful_pass() is None
                or not first.text.strip() or self._ended_complete(first.text)):
            return
        ep = self.endpointer
        rest = max(0, hangover_ms - ep.trailing_silence_ms) * RATE // 1000
        audio = np.concatenate([ep.recorded_so_far(), np.zeros(rest, dtype=np.int16)])
        partial.careful = self._group.create_task(self._careful(audio))

    def _careful_pass(self) -> Callable[..., Awaitable[Transcript]] | None:
        """The transcriber's second pass (``transcribe_carefully``), if it has one."""
        return getattr(self.stt, "transcribe_carefully", None)

    async def _careful(self, audio: np.ndarray) -> Transcript | None:
        """The second pass of ``audio``; None when it failed, was shed (no worker took it
        within ``second_pass_wait_s``) or was not done ``second_pass_decode_s`` after."""
        careful = self._careful_pass()
        assert careful is not None
        try:
            async with asyncio.timeout(self.config.second_pass_wait_s
                                       + self.config.second_pass_decode_s):
                again: Transcript = await careful(
                    audio, self.hints, within_s=self.config.second_pass_wait_s,
                    reframe=self._free_text)
        except (SttError, TimeoutError):
            return None
        return again

    async def _second_pass(self, utt: Utterance, first: Transcript,
                           early: asyncio.Task[Transcript | None] | None = None) -> Transcript:
        """A turn the workflow's grammar did not understand (off script, a name, free
        text) is decoded again as the model decodes a file: the quick pass loses words
        the model gets right (bench/speech_wer_human.py). ``early``: that pass, begun at
        the pause the turn ended in. Silence, errors and a second pass no worker took
        within ``second_pass_wait_s`` (never decoded: ``SttShedError``) or not done
        ``second_pass_decode_s`` after that keep the first text."""
        if self._careful_pass() is None or not first.text.strip():
            return first
        again = await (early if early is not None else self._careful(
            utt.recorded if utt.recorded is not None else utt.audio))
        return again if again is not None and again.text.strip() else first

    def _drop_partial(self) -> None:
        if self._partial is not None:
            self._partial.cancel()
            self._partial = None
        self._partials_started = 0
        self._complete = False

    async def _finish(
        self, utt: Utterance, reuse: _Partial | None, partials: int, complete: bool
    ) -> None:
        previous, self._previous_final = self._previous_final, asyncio.current_task()
        transcript: Transcript | None = None
        if reuse is not None:
            await asyncio.wait([reuse.task])
            if not reuse.task.cancelled():
                transcript = reuse.task.result()
        reused = transcript is not None
        failure: SttError | None = None
        if transcript is None:
            try:
                transcript = await self._first_pass()(utt.audio, self.hints)
            except SttError as exc:
                failure = exc
        if previous is not None and not previous.done():
            await asyncio.wait([previous])  # keep turns in order
        if failure is not None or transcript is None:
            await self._turns.put(failure or SttError("no transcript"))
            return
        early = reuse.careful if reuse is not None else None
        if self.is_complete is not None and not complete:
            complete = self._ended_complete(transcript.text)
            if not complete and self.config.second_pass:
                transcript = await self._second_pass(utt, transcript, early)
                complete = self._ended_complete(transcript.text)
                early = None
        if early is not None:
            early.cancel()  # the turn was understood after all: the pass is not needed
        await self._turns.put(
            TurnResult(
                text=transcript.text,
                language=transcript.language,
                onset=utt.onset,
                end=utt.end,
                endpoint_at=utt.now,
                reason=utt.reason,
                reused_partial=reused,
                complete=complete,
                partials=partials,
            )
        )
