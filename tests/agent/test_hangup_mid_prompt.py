"""A caller who hangs up while the agent speaks: the transcript says what was said. Before,
every prompt the workflow went on to say after the hang-up (until its next listen) was
written into the stored transcript as said, though the line was already closed.

Scripted parts as in ``test_false_barge_in``; the media's frames end as a closed
``MediaSession``'s do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from agent.voice import VoiceIO
from tests.agent.test_false_barge_in import PROMPT, Media, Stt, io_for, settle

NEXT = "Please say your date of birth."


class ClosingMedia(Media):
    """Its frames end when the test closes the line."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = asyncio.Event()

    async def inbound(self) -> AsyncIterator[np.ndarray]:
        while not self.closed.is_set():
            if self.frames.empty():
                await asyncio.sleep(0)
                continue
            frame = self.frames.get_nowait()
            self.frames.task_done()
            yield frame

    async def play(self, frames: object) -> bool:
        if self.closed.is_set():
            return False
        return await super().play(frames)

    def close(self) -> None:
        self.closed.set()
        self.cancel_playback()


async def test_prompts_after_a_hang_up_are_not_written_as_said() -> None:
    media = ClosingMedia()
    async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
        io: VoiceIO = io_for(media, Stt("yes"), tg)
        tts = io.tts
        tts.cache.put(NEXT, np.zeros(16000, dtype=np.int16), persist=False)
        async with io:
            saying = tg.create_task(io.say(PROMPT, phi=False))
            await media.playing.wait()
            media.close()  # the caller hangs up mid-prompt
            assert not await saying
            await settle(media)
            assert not await io.say(NEXT, phi=False)  # the workflow's next prompt
    assert io.transcript.turns == [("agent", PROMPT)]  # cut, but begun: it was heard
