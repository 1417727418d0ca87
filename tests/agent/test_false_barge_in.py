"""A cough, a click or a knock cuts a prompt (barge-in stops the sound within 100 ms of
the onset, before anyone can tell a word from a noise): the prompt is then said again,
at once, instead of leaving the patient in silence until the no-input time ran out and
a "sorry, I didn't hear you" followed a question they never heard whole.

Scripted parts as in ``test_voice_listen``: a media stand-in whose inbound frames the
test feeds and whose playback lasts until the test ends it or a barge-in cancels it, an
energy classifier, a transcriber that answers what the test says. No wall-clock waits:
``no_input_s`` is 1000 s, so a listen that ends did not time out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import numpy as np

from agent.speech.audio import FRAME_SAMPLES
from agent.speech.cache import PromptCache
from agent.speech.endpoint import EndpointConfig, Endpointer, SpeechStart
from agent.speech.streaming import StreamingConfig, StreamingTranscriber
from agent.speech.whisper import Hints, Transcript
from agent.voice import VoiceIO
from agent.workflow.effects import Dtmf, Utterance

LOUD = np.full(FRAME_SAMPLES, 3000, dtype=np.int16)
QUIET = np.zeros(FRAME_SAMPLES, dtype=np.int16)
PROMPT = "What is your date of birth?"


class Media:
    """Plays until ``finish`` (the prompt's end) or ``cancel_playback`` (a barge-in)."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[np.ndarray] = asyncio.Queue()
        self.keys: asyncio.Queue[Any] = asyncio.Queue()
        self.plays = 0
        self.playing = asyncio.Event()
        self.finish = asyncio.Event()
        self._cancelled = asyncio.Event()

    async def inbound(self) -> AsyncIterator[np.ndarray]:
        while True:
            frame = await self.frames.get()
            self.frames.task_done()
            yield frame

    async def play(self, frames: Iterable[np.ndarray] | Any) -> bool:
        self.plays += 1
        self._cancelled.clear()
        self.playing.set()
        waits = [asyncio.ensure_future(self.finish.wait()),
                 asyncio.ensure_future(self._cancelled.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            return not self._cancelled.is_set()
        finally:
            for waiting in waits:
                waiting.cancel()
            await asyncio.wait(waits)
            self.playing.clear()

    def cancel_playback(self) -> None:
        self._cancelled.set()

    async def dtmf_events(self) -> AsyncIterator[Any]:
        while True:
            yield await self.keys.get()


class Stt:
    idle_workers = 0  # no early partials

    def __init__(self, text: str) -> None:
        self.text = text

    async def transcribe(self, pcm16k: np.ndarray, hints: Hints | None = None) -> Transcript:
        return Transcript(self.text, len(pcm16k) / 16000, 0.0)


class Tts:
    def __init__(self) -> None:
        self.cache = PromptCache(None, "test")
        self.cache.put(PROMPT, np.zeros(16000 * 3, dtype=np.int16), persist=False)


async def settle(media: Media) -> None:
    await media.frames.join()
    for _ in range(10):
        await asyncio.sleep(0)


def energy(frame: np.ndarray) -> bool:
    return bool(np.abs(frame).max() > 1000)


def io_for(media: Media, stt: Stt, tg: asyncio.TaskGroup) -> VoiceIO:
    io = VoiceIO(media, stt, Tts(), tasks=tg, no_input_s=1000.0)  # type: ignore[arg-type]
    io.transcriber = StreamingTranscriber(
        stt, Endpointer(EndpointConfig(hangover_ms=400), classifier=energy),
        StreamingConfig(early=False), tasks=tg, barge_in=io.barge)
    return io


async def cut_then_listen(noise: list[np.ndarray], stt: Stt) -> tuple[Media, Any, VoiceIO]:
    """Say PROMPT, feed ``noise`` while it plays, then listen as the workflow does; the
    prompt said again (if it is) plays to its end. (media, the listen's result, io)."""
    media = Media()
    async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
        io = io_for(media, stt, tg)
        async with io:
            saying = tg.create_task(io.say(PROMPT, phi=False))
            await media.playing.wait()
            for frame in [QUIET] * 5 + noise:
                media.frames.put_nowait(frame)
            await settle(media)
            assert not await saying  # the noise cut the prompt
            listening = tg.create_task(io.listen(None))
            for frame in [QUIET] * 40:  # the line after the noise
                media.frames.put_nowait(frame)
            await settle(media)
            media.finish.set()  # a prompt said again plays to its end
            await settle(media)
            if not listening.done():
                await media.keys.put(type("Key", (), {"digit": "1"})())
            heard = await listening
    return media, heard, io


async def test_a_cough_that_cut_the_prompt_has_it_said_again() -> None:
    """A noise too short to be a turn (100 ms): before, the listen went on in silence
    (the test's key ended it) and the prompt was played once."""
    media, heard, io = await cut_then_listen([LOUD] * 5, Stt("yes"))
    assert media.plays == 2
    assert heard == Dtmf("1")  # and the listen goes on after it
    assert [who for who, _ in io.transcript.turns] == ["agent", "agent"]


async def test_a_noise_transcribed_as_nothing_has_the_prompt_said_again() -> None:
    """Long enough to be a turn (300 ms), and no words in it (Whisper gives "")."""
    media, heard, _ = await cut_then_listen([LOUD] * 15, Stt(""))
    assert media.plays == 2
    assert heard == Dtmf("1")


async def test_words_that_cut_the_prompt_are_the_answer() -> None:
    media, heard, io = await cut_then_listen([LOUD] * 30, Stt("March fifth"))
    assert media.plays == 1
    assert heard == Utterance("March fifth")
    assert io.transcript.turns == [("agent", PROMPT), ("caller", "March fifth")]


SECOND = "Please say it as month, day and year."


async def cut_with_a_second_prompt(noise: list[np.ndarray], stt: Stt
                                   ) -> tuple[Media, Any, VoiceIO, bool]:
    """As ``cut_then_listen``, with the workflow saying a second prompt after the cut one
    (while the caller may still be speaking) before it listens."""
    media = Media()
    async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
        io = io_for(media, stt, tg)
        io.tts.cache.put(SECOND, np.zeros(16000, dtype=np.int16), persist=False)
        async with io:
            saying = tg.create_task(io.say(PROMPT, phi=False))
            await media.playing.wait()
            for frame in [QUIET] * 5 + noise[:6]:  # the barge-in: the caller is speaking
                media.frames.put_nowait(frame)
            await settle(media)
            assert not await saying
            media.finish.set()  # any prompt from now on plays to its end at once
            second = await io.say(SECOND, phi=False)
            listening = tg.create_task(io.listen(None))
            for frame in noise[6:] + [QUIET] * 40:
                media.frames.put_nowait(frame)
            await settle(media)
            if not listening.done():
                await media.keys.put(type("Key", (), {"digit": "1"})())
            heard = await listening
    return media, heard, io, second


async def test_the_prompts_after_a_barge_in_wait_for_the_callers_turn() -> None:
    """Before: the cut prompt's successor played at once, over the caller still talking."""
    media, heard, io, second = await cut_with_a_second_prompt([LOUD] * 30,
                                                              Stt("March fifth"))
    assert not second
    assert media.plays == 1
    assert heard == Utterance("March fifth")
    assert io.transcript.turns == [("agent", PROMPT), ("caller", "March fifth")]


async def test_after_a_cough_the_cut_prompt_and_the_ones_held_are_said() -> None:
    media, heard, io, _ = await cut_with_a_second_prompt([LOUD] * 5, Stt("yes"))
    assert media.plays == 3  # the cut one, again, then the one held
    assert [text for _, text in io.transcript.turns] == [PROMPT, PROMPT, SECOND]
    assert heard == Dtmf("1")


async def test_a_prompt_said_once_the_callers_turn_is_over_is_not_held() -> None:
    """Something came between (a transfer that failed): the next prompt is a new
    question (the call-back offer), said whole, not held behind the turn already over."""
    media = Media()
    async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
        io = io_for(media, Stt("okay thanks"), tg)
        io.tts.cache.put(SECOND, np.zeros(16000, dtype=np.int16), persist=False)
        async with io:
            saying = tg.create_task(io.say(PROMPT, phi=False))
            await media.playing.wait()
            for frame in [QUIET] * 5 + [LOUD] * 30 + [QUIET] * 40:
                media.frames.put_nowait(frame)
            await settle(media)
            assert not await saying
            # the caller's turn is over (transcribed; no listen came: a transfer did)
            assert (await io.transcriber.next_turn()).text == "okay thanks"
            media.finish.set()
            assert await io.say(SECOND, phi=False)
    assert media.plays == 2


class WaitingEndpointer(Endpointer):
    """Ends a turn after 2 s of silence, as the grammar waits for an answer on its way
    (``speech.turn_end``: 1.3 s live, after an early transcript of the cough)."""

    def feed(self, frame: np.ndarray, now: float | None = None) -> list[Any]:
        events = super().feed(frame, now)
        if any(isinstance(e, SpeechStart) for e in events):
            self.set_hangover(2000)
        return events


async def test_a_cough_is_known_for_one_after_the_usual_pause_not_the_longest() -> None:
    """Before: the prompt came back only when the endpointer ended the blip, after the
    longest pause it waits for words (seen live: 3 s of silence after a cough)."""
    media = Media()
    async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
        stt = Stt("yes")
        io = io_for(media, stt, tg)
        io.transcriber = StreamingTranscriber(
            stt, WaitingEndpointer(EndpointConfig(hangover_ms=400), classifier=energy),
            StreamingConfig(early=False), tasks=tg, barge_in=io.barge)
        async with io:
            saying = tg.create_task(io.say(PROMPT, phi=False))
            await media.playing.wait()
            for frame in [QUIET] * 5 + [LOUD] * 5:
                media.frames.put_nowait(frame)
            await settle(media)
            assert not await saying
            listening = tg.create_task(io.listen(None))
            for frame in [QUIET] * 25:  # half a second: more than 400 ms, less than 2 s
                media.frames.put_nowait(frame)
            await settle(media)
            media.finish.set()
            await settle(media)
            await media.keys.put(type("Key", (), {"digit": "1"})())
            assert await listening == Dtmf("1")
    assert media.plays == 2
