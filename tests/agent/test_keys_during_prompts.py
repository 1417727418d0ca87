"""Keys a patient presses while the agent speaks: 0 (a person) and * (say that again) act
at once, like 9 (stop calling). Before, 0 let the prompt play to its end first, and * was
thrown away unheard when pressed during the prompt (only a key the state expected, or
0 or 9, was kept), so the patient waited the no-input time for nothing.

Scripted parts as in ``test_false_barge_in``; ``no_input_s=0``: a listen that finds no key
ends at once with NoInput (no wall-clock wait)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from agent.speech.endpoint import EndpointConfig, Endpointer
from agent.speech.streaming import StreamingConfig, StreamingTranscriber
from agent.voice import VoiceIO
from agent.workflow.effects import Dtmf, Expectation, NoInput
from tests.agent.test_false_barge_in import PROMPT, Media, Stt, Tts, energy

NEXT = "Please say your date of birth."


class Key:
    def __init__(self, digit: str) -> None:
        self.digit = digit


def io_for(media: Media, tg: asyncio.TaskGroup) -> VoiceIO:
    tts = Tts()
    tts.cache.put(NEXT, np.zeros(16000, dtype=np.int16), persist=False)
    io = VoiceIO(media, Stt("yes"), tts, tasks=tg, no_input_s=0.0)  # type: ignore[arg-type]
    io.transcriber = StreamingTranscriber(
        io.transcriber.stt, Endpointer(EndpointConfig(hangover_ms=400), classifier=energy),
        StreamingConfig(early=False), tasks=tg, barge_in=io.barge)
    return io


async def key_during_prompt(key: str, *, interruptible: bool = True
                            ) -> tuple[bool, bool, Any, Media]:
    """Press ``key`` while PROMPT plays; then the workflow's next prompt and its listen.
    (PROMPT played whole, the next prompt played, what the listen heard, the media)."""
    media = Media()
    async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
        io = io_for(media, tg)
        async with io:
            saying = tg.create_task(io.say(PROMPT, phi=False, interruptible=interruptible))
            await media.playing.wait()
            await media.keys.put(Key(key))
            for _ in range(20):
                await asyncio.sleep(0)
            media.finish.set()  # the prompt's natural end, if it still plays
            whole = await saying
            following = await io.say(NEXT, phi=False)
            heard = await io.listen(Expectation(("confirm",), None, ("1",), ()))
    return whole, following, heard, media


async def test_zero_during_a_prompt_stops_it_and_reaches_a_person() -> None:
    whole, following, heard, _ = await key_during_prompt("0")
    assert not whole  # cut, not played to its end
    assert not following  # nothing more is said before the key is acted on
    assert heard == Dtmf("0")


async def test_star_during_a_prompt_is_heard() -> None:
    whole, following, heard, _ = await key_during_prompt("*")
    assert not whole
    assert not following
    assert heard == Dtmf("*")


async def test_zero_does_not_cut_a_prompt_that_may_not_be_interrupted() -> None:
    """A disclosure plays whole; the key is acted on after it."""
    whole, _, heard, _ = await key_during_prompt("0", interruptible=False)
    assert whole
    assert heard == Dtmf("0")


async def test_an_expected_key_during_a_prompt_is_still_the_answer() -> None:
    whole, following, heard, _ = await key_during_prompt("1")
    assert whole
    assert following
    assert heard == Dtmf("1")


async def keys_then_listens(keys: str, listens: int = 2) -> list[Any]:
    """``keys`` pressed while PROMPT plays (to its end); then ``listens`` listens."""
    media = Media()
    media.finish.set()
    async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
        io = io_for(media, tg)
        async with io:
            for key in keys:
                await media.keys.put(Key(key))
            for _ in range(len(keys) + 20):
                await asyncio.sleep(0)
            await io.say(PROMPT, phi=False)
            return [await io.listen(Expectation(("confirm",), None, ("1",), ()))
                    for _ in range(listens)]


async def test_keys_mashed_during_a_prompt_are_not_answers_one_by_one() -> None:
    """Before: the first stray key was dropped and the next taken as the answer, and so
    on at each listen: a "sorry, I didn't get that" for each key pressed."""
    assert await keys_then_listens("357") == [NoInput(), NoInput()]


async def test_a_meaningful_key_among_stray_ones_is_the_answer() -> None:
    assert await keys_then_listens("3517", listens=1) == [Dtmf("1")]


async def test_nine_after_a_full_queue_of_keys_is_still_an_opt_out() -> None:
    """Before: with 32 keys unread the queue was full and the 9 was dropped: no opt-out."""
    assert await keys_then_listens("3" * 40 + "9", listens=1) == [Dtmf("9")]
