"""Turn-taking on a live call: speak prompts, hear answers, notice barge-in and keys.

``VoiceIO`` joins a call's media session to the speech pipeline. One task reads
the inbound 20 ms frames and feeds the streaming transcriber (endpointing, early
transcription, barge-in); another forwards DTMF. Both, and every transcription, are
tasks of the call's ``asyncio.TaskGroup`` (``tasks=``): leaving ``async with`` stops
them, and the group's end proves none is left. ``say()`` plays a prompt from
the prompt cache or straight from synthesis, ``listen()`` waits for the next turn
(speech, a key, or silence); a prompt cut by a barge-in whose sound proved to be no
words (a cough, a knock) is said again, once, before the listen goes on. Time on the
media side is the frame clock (frame index x 20 ms), so endpointing decisions do not
depend on scheduling jitter.

Every turn leaves a :class:`TurnTiming` so the latency from the end of the
caller's speech to the agent's first reply frame can be broken down.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from agent.grammar.pace import asks_slower
from agent.speech import (
    BargeIn,
    BargeInDetector,
    EndpointConfig,
    Endpointer,
    Hints,
    SpeechEnd,
    SpeechStart,
    StreamingConfig,
    StreamingTranscriber,
    SttError,
    TurnResult,
)
from agent.speech.cache import PromptCache
from agent.speech.streaming import Transcriber
from agent.speech.turn_end import Completion, free_text_answer, quick_answer, typed_answer
from agent.tasks import race
from agent.turn_timing import TurnTiming, report
from agent.workflow.effects import Dtmf, Expectation, Input, NoInput, Utterance
from media.framing import frames as cut_frames

FRAME_S = 0.02
# The opt-out key in every state (``agent.workflow.loader.RESERVED_KEYS``): acted on the
# moment it is pressed, not when the prompt playing ends.
OPT_OUT_KEY = "9"
# The keys every state answers besides it (``agent.workflow.engine``): 0 a person, * say
# that again. Pressed during a prompt that may be interrupted they cut it, as speech
# does, and no such prompt starts before a turn has taken the key.
GLOBAL_KEYS = "0*"
# An answer begun before the no-input time is waited for: while the caller speaks, and
# for ANSWER_GRACE_S after they stop (its transcription may still be running on a busy
# machine), at most the longest turn the endpointer makes plus ANSWER_GRACE_S beyond the
# no-input time (``VoiceIO.answer_wait_s``).
ANSWER_GRACE_S = 5.0
ANSWER_STEP_S = 0.25
# The pace of every prompt after a caller asked for it slower ("more slowly please", "más
# despacio"), for the rest of the call: Piper's length scale x1.3, eSpeak's words per
# minute /1.3. About 30% slower is clearly slower and still natural; more drawled.
SLOW_PACE = 1.3
log = logging.getLogger("agent.voice")


class CallMedia(Protocol):
    """What the agent uses of a call's media session (``media.MediaSession``)."""

    def inbound(self) -> AsyncIterator[np.ndarray]: ...

    async def play(self, frames: Iterable[np.ndarray] | AsyncIterable[np.ndarray]
                   ) -> bool: ...

    def cancel_playback(self) -> None: ...

    def dtmf_events(self) -> AsyncIterator[Any]: ...


class Synthesizer(Protocol):
    """Text to 20 ms 16 kHz frames (``agent.speech.TextToSpeech``)."""

    cache: PromptCache

    def stream(self, text: str, *, persist: bool = True, pace: float = 1.0
               ) -> AsyncIterator[np.ndarray]: ...

    async def synthesize(self, text: str, *, persist: bool = True, pace: float = 1.0
                         ) -> np.ndarray: ...

    async def prepare(self, texts: Iterable[str], *, persist: bool = True, pace: float = 1.0
                      ) -> int: ...


@dataclass
class VoiceTranscript:
    """What was said, turn by turn, before redaction (kept in memory only)."""

    turns: list[tuple[str, str]] = field(default_factory=list)  # (speaker, text)


class VoiceIO:
    """The speech side of one call. Use as ``async with VoiceIO(...) as io``."""

    def __init__(
        self,
        media: CallMedia,
        stt: Transcriber,
        tts: Synthesizer,
        *,
        tasks: asyncio.TaskGroup,
        endpoint: EndpointConfig | None = None,
        streaming: StreamingConfig | None = None,
        no_input_s: float = 7.0,
        record: bool = False,
        record_limit_s: float = 600.0,
    ) -> None:
        self.media = media
        self.tts = tts
        self.no_input_s = no_input_s
        self._group = tasks
        self.barge = BargeInDetector(media.cancel_playback)
        self.transcriber = StreamingTranscriber(
            stt, Endpointer(endpoint or EndpointConfig()), streaming or StreamingConfig(),
            tasks=tasks, barge_in=self.barge,
        )
        self.transcript = VoiceTranscript()
        self.timings: list[TurnTiming] = []
        self.barge_ins: list[BargeIn] = []
        self._dtmf: asyncio.Queue[str] = asyncio.Queue(maxsize=32)
        self._opt_out_waiting = False  # a 9 pressed and not yet taken by a turn
        self._key_waiting = False  # a 0 or * pressed and not yet taken by a turn
        self._answered_until = -1.0  # media time: the end of the last turn taken
        self._frames = 0
        self._speech_started_at: float | None = None  # media clock, current speech
        self._prompt_started_media = 0.0
        self._pending: TurnTiming | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = asyncio.Event()
        # Set while no prompt is being synthesised live: background pre-synthesis waits
        # for it, so it never queues ahead of speech a caller is listening to.
        self.synth_idle = asyncio.Event()
        self.synth_idle.set()
        # The caller's audio, kept only when configured (a voice is a biometric identifier).
        self.recording: list[np.ndarray] | None = [] if record else None
        self._record_frames = int(record_limit_s / FRAME_S)
        # The recogniser's language for the next turn ("en", "es", "auto": detect it);
        # None: the recogniser's own setting. Set per call by ``agent.i18n``.
        self.language: str | None = None
        self.heard_language = ""  # the language the last turn was transcribed in
        self.pace = 1.0  # SLOW_PACE once the caller asked for it slower
        # The prompt a barge-in cut, and the interruptible ones the workflow went on to
        # say (held, not played over the caller), as say() was called, until the listen
        # takes a turn: words (the answer: they are dropped) or no words (a cough, a knock:
        # ``_noise`` is set and the listen says them, once). Empty: none waits.
        self._held: list[tuple[str, bool, bool, Synthesizer | None]] = []
        self._held_since = 0.0  # media time the cut prompt began
        self._noise = asyncio.Event()
        self._line_closed = False  # the call's audio ended (the caller hung up)

    @property
    def media_now(self) -> float:
        return self._frames * FRAME_S

    async def __aenter__(self) -> VoiceIO:
        self._tasks = [
            self._group.create_task(self._pump_audio(), name="voice-audio"),
            self._group.create_task(self._pump_dtmf(), name="voice-dtmf"),
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closed.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.wait(self._tasks)
        await self.transcriber.aclose()

    async def detach(self) -> None:
        """Stop reading the call's audio and keys (a bridge takes them over)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.wait(self._tasks)

    def pending_key(self) -> str | None:
        """A key pressed and not yet taken by a turn (read once the caller has gone): a
        9 among them first (an opt-out), else the first pressed."""
        keys = self._unread_keys()
        return OPT_OUT_KEY if OPT_OUT_KEY in keys else (keys[0] if keys else None)

    def _unread_keys(self) -> list[str]:
        """Every key pressed and not yet taken, oldest first (taken now)."""
        return [self._taken(self._dtmf.get_nowait()) for _ in range(self._dtmf.qsize())]

    def _taken(self, key: str) -> str:
        if key == OPT_OUT_KEY:
            self._opt_out_waiting = False
        elif key in GLOBAL_KEYS:
            self._key_waiting = False
        return key

    @property
    def caller_speaking(self) -> bool:
        return bool(self.transcriber.endpointer.in_speech)

    # ---- pumps ----------------------------------------------------------------------

    async def _pump_audio(self) -> None:
        async for frame in self.media.inbound():
            self._frames += 1
            if self.recording is not None and len(self.recording) < self._record_frames:
                self.recording.append(frame)
            events = self.transcriber.feed(frame, self.media_now)
            for event in events:
                if isinstance(event, BargeIn):
                    self.barge_ins.append(event)
                elif isinstance(event, SpeechStart):
                    self._speech_started_at = event.onset
                elif isinstance(event, SpeechEnd) and not event.kept:
                    self._not_words(event.onset)  # too short to be a turn
            if self._held:
                self._blip_over()
        self._line_closed = True  # the frames ended (not a cancel): the caller hung up

    def _blip_over(self) -> None:
        """A sound too short to be a turn, then the endpointer's usual pause: not words.
        The turn is ended here, not after the longer pause the grammar may wait for words
        still on their way (1.3 s), so the cut prompt comes back at once (live: 3 s of
        silence after a cough); speech after it starts a new turn (and barges in)."""
        ep = self.transcriber.endpointer
        if (ep.in_speech and ep.trailing_silence_ms >= ep.config.hangover_ms
                and (ep.last_voiced_end - ep.onset) * 1000 < ep.config.min_speech_ms):
            onset = ep.onset
            self.transcriber.end_now()
            self._not_words(onset)

    def _not_words(self, onset: float) -> None:
        """Sound from ``onset`` on was no words: if it cut the prompt, say that again."""
        if self._held and onset >= self._held_since:
            self._noise.set()

    async def _pump_dtmf(self) -> None:
        async for event in self.media.dtmf_events():
            digit = getattr(event, "digit", None) or getattr(event, "key", None)
            if digit:
                if self._dtmf.full():  # keys mashed unread: stale, but a 9 is kept
                    stale = [self._dtmf.get_nowait() for _ in range(self._dtmf.qsize())]
                    if OPT_OUT_KEY in stale:
                        self._dtmf.put_nowait(OPT_OUT_KEY)
                self._dtmf.put_nowait(str(digit))
                if str(digit) == OPT_OUT_KEY:
                    # Whatever plays stops now, and no prompt starts before a turn has
                    # taken the key (the engine then records the opt-out and says goodbye).
                    self._opt_out_waiting = True
                    self.media.cancel_playback()
                elif str(digit) in GLOBAL_KEYS:
                    self._key_waiting = True
                    if self.barge.interruptible:
                        self.media.cancel_playback()

    # ---- speaking -------------------------------------------------------------------

    async def say(self, text: str, *, interruptible: bool = True, phi: bool = True,
                  voice: Synthesizer | None = None) -> bool:
        """Play ``text`` (in ``voice``, by default the call's); returns False when the
        caller barged in and cut it short. A prompt that may carry PHI (the default) is
        cached in memory only."""
        if self._opt_out_waiting or (self._key_waiting and interruptible):
            return False  # not said: the caller has pressed the opt-out key (or 0, *)
        if self._line_closed:
            return False  # not said, nor written in the transcript: nobody is there
        prompt = (text, interruptible, phi, voice)
        if self._held and interruptible:
            if self.caller_speaking or self.transcriber.transcribing:
                self._held.append(prompt)  # held: the caller is talking over the agent
                return False
            self._held = []  # their turn is over (a transfer came between): say on
        cuts, started = len(self.barge_ins), self.media_now
        done = await self._play(*prompt)
        if not done and len(self.barge_ins) > cuts and self.barge_ins[-1].interrupted:
            self._held, self._held_since = [prompt], started
            self._noise.clear()
        return done

    async def _play(self, text: str, interruptible: bool, phi: bool,
                    voice: Synthesizer | None) -> bool:
        tts = voice or self.tts
        self.transcript.turns.append(("agent", text))
        self._prompt_started_media = self.media_now
        cached = tts.cache.get(text, pace=self.pace)
        frames: list[np.ndarray] | AsyncIterator[np.ndarray] = (
            frames_of(cached) if cached is not None
            else self._timed(tts.stream(text, persist=not phi, pace=self.pace)))
        if self._pending is not None and cached is not None:
            self._pending.cached = True
            self._pending.first_audio_at = asyncio.get_running_loop().time()
            self._finish_timing()
        self.barge.playback_started(interruptible=interruptible)
        try:
            return bool(await self.media.play(frames))
        finally:
            self.barge.playback_finished()

    async def _timed(self, frames: AsyncIterator[np.ndarray]) -> AsyncIterator[np.ndarray]:
        first = True
        self.synth_idle.clear()
        try:
            async for frame in frames:
                if first and self._pending is not None:
                    self._pending.first_audio_at = asyncio.get_running_loop().time()
                    self._finish_timing()
                first = False
                yield frame
        finally:
            self.synth_idle.set()

    def mark_decided(self) -> None:
        if self._pending is not None and not self._pending.decided_at:
            self._pending.decided_at = asyncio.get_running_loop().time()

    def _finish_timing(self) -> None:
        if self._pending is not None:
            self.timings.append(self._pending)
            report(self._pending)
            self._pending = None

    # ---- listening ------------------------------------------------------------------

    async def listen(self, expected: Expectation | None, now_wall: dt.datetime | None = None,
                     *, wait_s: float | None = None) -> Input:
        """The caller's next turn: an utterance, a key, or NoInput after ``no_input_s``
        (or ``wait_s``: the caller asked for a moment)."""
        if expected is not None:
            hints = Hints(expected=tuple(expected.hints), language=self.language)

            def complete(text: str) -> bool | Completion:
                if now_wall is None:
                    return False
                if self.transcriber.policy.grammar:
                    return expected.completion(text, now_wall)
                return expected.is_complete(text, now_wall)

            self.transcriber.expect(hints, complete, typed=typed_answer(expected.slot_type),
                                    free_text=free_text_answer(expected.slot_type),
                                    quick=quick_answer(expected.slot_type))
            # Keys pressed before this listen (during the prompt): a 9 first, else the
            # first this state or every state answers; the others are stale presses,
            # dropped all at once (before: one per listen, each the next listen's answer).
            keys = [k for k in self._unread_keys()
                    if k in expected.dtmf or k in OPT_OUT_KEY + GLOBAL_KEYS]
            if keys:
                return Dtmf(OPT_OUT_KEY if OPT_OUT_KEY in keys else keys[0])
        won = await race({"key": self._dtmf.get(), "turn": self._next_turn(),
                          "noise": self._noise.wait()},
                         wait_s=self._listen_timeout() if wait_s is None else wait_s)
        held, self._held = self._held, []  # a turn, a key or silence: none waits longer
        if won is not None and won[0] == "noise":
            # A noise cut the prompt: the caller heard part of the question, none of the
            # prompts held after it. Said now (once: a second cut is left to the no-input
            # re-prompt).
            self._noise.clear()
            for prompt in held:
                if self._opt_out_waiting or self._key_waiting or not await self._play(*prompt):
                    break
            return await self.listen(expected, now_wall, wait_s=wait_s)
        if won is None:
            # The caller answered in time; the turn is still being spoken or transcribed
            # (before: NoInput, and the late turn was dropped as older than the re-prompt).
            won = await self.wait_pending_answer(
                lambda: {"key": self._dtmf.get(), "turn": self._next_turn()})
        if won is None:
            return NoInput()
        what, value = won
        self._noise.clear()  # answered: the prompts cut and held are not said
        if what == "key":
            return Dtmf(self._taken(value))
        turn: TurnResult = value
        self._answered_until = max(self._answered_until, turn.end)
        self.heard_language = turn.language
        self.transcript.turns.append(("caller", turn.text))
        if asks_slower(turn.text):
            self.pace = SLOW_PACE
        return Utterance(turn.text)

    @property
    def answer_wait_s(self) -> float:
        """How long past the no-input time an answer begun before it is waited for: the
        longest turn the endpointer makes (its length limit, and the wait for a pause to
        cut it in), then ANSWER_GRACE_S for its transcription. A fixed 15 s gave up on a
        caller who began near the no-input time and talked to the turn limit: NoInput,
        and a re-prompt over their words."""
        cfg = self.transcriber.endpointer.config
        return (cfg.max_utterance_ms + cfg.max_cut_wait_ms) / 1000 + ANSWER_GRACE_S

    async def wait_pending_answer(
            self, contestants: Callable[[], dict[str, Coroutine[Any, Any, Any]]]
    ) -> tuple[str, Any] | None:
        """Race ``contestants`` again every ANSWER_STEP_S while an answer is pending
        (:meth:`answer_pending`, checked each step), at most :attr:`answer_wait_s`: the
        winner, or None once nothing is pending or the time is up. Racing a turn again
        loses nothing: a turn stays queued until taken."""
        waited = 0.0
        won = None
        while won is None and waited < self.answer_wait_s and self.answer_pending():
            won = await race(contestants(), wait_s=ANSWER_STEP_S)
            waited += ANSWER_STEP_S
        return won

    def _listen_timeout(self) -> float:
        return self.no_input_s  # then answer_pending() decides whether to wait on

    def answer_pending(self) -> bool:
        """The caller is speaking, a turn they ended is still being transcribed, or they
        spoke after the last turn taken and stopped less than ``ANSWER_GRACE_S`` ago (the
        endpointer may not have ended that turn yet). Without the second rule a free-text
        answer whose second pass outlasted ANSWER_GRACE_S (it may take 6.5 s on a loaded
        box) was dropped: NoInput, a re-prompt, and the late turn older than it."""
        if self.caller_speaking or self.transcriber.transcribing:
            return True
        started = self._speech_started_at
        ended = self.transcriber.endpointer.last_voiced_end
        return (started is not None and started > self._answered_until
                and self.media_now - ended < ANSWER_GRACE_S)

    async def _next_turn(self) -> TurnResult:
        while True:
            turn = await self.transcriber.next_turn()
            if not turn.text.strip():
                self._not_words(turn.onset)
                continue  # a cough, a click: not an answer
            if turn.end < self._prompt_started_media and not self.barge_ins:
                # Speech that ended before the prompt began answered an earlier question.
                continue
            log.debug("turn: reason=%s complete=%s partials=%d reused=%s hangover_ms=%.0f",
                      turn.reason, turn.complete, turn.partials, turn.reused_partial,
                      1000 * (turn.endpoint_at - turn.end))
            loop = asyncio.get_running_loop()
            lag = self.media_now - turn.endpoint_at  # media time since the turn closed
            timing = TurnTiming(
                speech_end_media=turn.end, endpoint_media=turn.endpoint_at,
                endpoint_at=loop.time() - max(0.0, lag), transcript_at=loop.time(),
                reused_partial=turn.reused_partial,
            )
            self._pending = timing
            return turn

    async def last_words(self) -> Utterance | None:
        """What the caller said just before hanging up: the turn being spoken ends with
        the line and is transcribed, and a turn still being transcribed is waited for
        (at most :attr:`answer_wait_s`). None: nothing said that a turn has not taken."""
        await self.detach()
        self._line_closed = True
        self.transcriber.end_now()
        if not (self.transcriber.transcribing or self.transcriber.turns_waiting):
            return None
        try:
            won = await race({"turn": self._next_turn()}, wait_s=self.answer_wait_s)
        except SttError:
            return None  # not transcribed: the call ends as a hang-up
        if won is None:
            return None
        turn: TurnResult = won[1]
        self._answered_until = max(self._answered_until, turn.end)
        self.transcript.turns.append(("caller", turn.text))
        return Utterance(turn.text)

    async def wait_for_silence(self, quiet_s: float, limit_s: float) -> None:
        """Wait until the far end has been quiet for ``quiet_s`` (e.g. after a greeting)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if not self.transcriber.endpointer.in_speech:
                last = self._speech_started_at or 0.0
                if self.media_now - last >= quiet_s:
                    return
            await asyncio.sleep(FRAME_S)


def frames_of(pcm: np.ndarray) -> list[np.ndarray]:
    """16 kHz PCM as 20 ms frames (the last one padded with silence): ``media.framing``,
    the one framing of the stack."""
    return cut_frames(pcm)
