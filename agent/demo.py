"""A scripted patient for demos and tests: answers the agent by voice over RTP.

It listens to what arrives on its media session, waits until the agent has
finished speaking (speech heard, then ``quiet_s`` of silence), and plays the next
synthesised answer. Synthetic lines only; nobody real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FRAME_S = 0.02
SPEECH_RMS = 300.0


@dataclass
class PatientLog:
    heard_turns: int = 0
    said: list[str] = field(default_factory=list)
    # (media time the answer's last frame was sent, media time the agent's reply began)
    reply_gaps: list[float] = field(default_factory=list)


class ScriptedPatient:
    """Drive one side of a call: ``await patient.run(answers)``."""

    def __init__(self, media: Any, tts: Any, *, quiet_s: float = 0.9,
                 answer_first: bool = False) -> None:
        self.media = media
        self.tts = tts
        self.quiet_s = quiet_s
        self.answer_first = answer_first
        self.log = PatientLog()
        self._frames = 0
        self._speaking = False
        self._last_voice = 0.0
        self._heard_any = False
        self._answer_done_at: float | None = None
        self._turn_end = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def now(self) -> float:
        return self._frames * FRAME_S

    async def _listen(self) -> None:
        async for frame in self.media.inbound():
            self._frames += 1
            rms = float(np.sqrt(np.mean(frame.astype(np.float32) ** 2)))
            if rms > SPEECH_RMS:
                if not self._speaking and self._answer_done_at is not None:
                    self.log.reply_gaps.append(self.now - self._answer_done_at)
                    self._answer_done_at = None
                self._speaking = True
                self._heard_any = True
                self._last_voice = self.now
            elif self._speaking and self.now - self._last_voice >= self.quiet_s:
                self._speaking = False
                self.log.heard_turns += 1
                self._turn_end.set()

    async def run(self, answers: Sequence[str], *, turn_timeout_s: float = 30.0) -> PatientLog:
        self._task = asyncio.create_task(self._listen())
        try:
            for i, text in enumerate(answers):
                if not (i == 0 and self.answer_first):
                    self._turn_end.clear()
                    await asyncio.wait_for(self._turn_end.wait(), timeout=turn_timeout_s)
                pcm = await self.tts.synthesize(text)
                frames = [pcm[j:j + 320] for j in range(0, len(pcm) - 319, 320)]
                await self.media.play(frames)
                self._answer_done_at = self.now
                self.log.said.append(text)
            # Hear the agent's last words.
            self._turn_end.clear()
            await asyncio.wait_for(self._turn_end.wait(), timeout=turn_timeout_s)
        finally:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        return self.log
