"""The browser's voice as a call's media: aiortc in, 20 ms 16 kHz frames to the handler.

:class:`RtcMedia` offers what ``media.MediaSession`` offers a call handler
(``carrier.call.MediaLike``): ``inbound()`` yields 320-sample int16 frames at 16 kHz,
``play(frames)`` sends such frames at the wire pace and returns False when
``cancel_playback()`` (barge-in) stopped it, ``dtmf_events()`` (a browser has no keys:
it ends when the media closes). Inbound Opus arrives from aiortc decoded at 48 kHz and is
brought to 16 kHz mono by PyAV's resampler (the one aiortc itself uses: it keeps its
filter state across frames); outbound frames go to aiortc at 16 kHz, whose Opus encoder
resamples them to 48 kHz. A bounded queue of ``PLAY_AHEAD`` frames keeps barge-in within
one frame, as on a SIP call.
"""

from __future__ import annotations

import asyncio
import fractions
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from media.framing import FRAME_SAMPLES as FRAME  # 20 ms at 16 kHz
from media.framing import RATE, FrameCutter

PLAY_AHEAD = 2
TIME_BASE = fractions.Fraction(1, RATE)

Frame = npt.NDArray[np.int16]


class AgentVoice(MediaStreamTrack):
    """The agent's side of the browser call: queued frames, else silence, every 20 ms."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.queue: deque[Frame] = deque()
        self._pts = 0
        self._start: float | None = None
        self._tick: asyncio.Future[None] | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        wait = self._start + self._pts / RATE - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)  # the wire's pace (aiortc pulls as fast as we give)
        samples = self.queue.popleft() if self.queue else np.zeros(FRAME, dtype=np.int16)
        self.wake()
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16",
                                           layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        self._pts += FRAME
        return frame

    def wake(self) -> None:
        if self._tick is not None and not self._tick.done():
            self._tick.set_result(None)
        self._tick = None

    def next_tick(self) -> asyncio.Future[None]:
        if self._tick is None or self._tick.done():
            self._tick = asyncio.get_running_loop().create_future()
        return self._tick


class RtcMedia:
    """``carrier.call.MediaLike`` over one browser peer connection."""

    def __init__(self) -> None:
        self.outgoing = AgentVoice()
        self.incoming: MediaStreamTrack | None = None
        self.closed = asyncio.Event()
        self.connected = asyncio.Event()  # set by the peer connection's state
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        self._generation = 0
        self._lock = asyncio.Lock()
        self.frames_in = 0

    async def inbound(self) -> AsyncIterator[Frame]:
        track = self.incoming
        if track is None:
            return
        cutter = FrameCutter(FRAME)  # the one 20 ms framing (media.framing)
        while not self.closed.is_set():
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.AudioFrame):
                continue  # an audio track yields audio frames; anything else is skipped
            for out in self._resampler.resample(frame):
                for whole in cutter.push(out.to_ndarray().reshape(-1)):
                    self.frames_in += 1
                    yield whole

    async def play(self, frames: Iterable[Frame] | AsyncIterable[Frame]) -> bool:
        generation = self._generation
        async with self._lock:
            if generation != self._generation or self.closed.is_set():
                return False
            if isinstance(frames, AsyncIterable):
                async for frame in frames:
                    if not await self._enqueue(frame, generation):
                        return False
            else:
                for frame in frames:
                    if not await self._enqueue(frame, generation):
                        return False
            voice = self.outgoing
            while voice.queue and generation == self._generation and not self.closed.is_set():
                await voice.next_tick()
            return generation == self._generation and not self.closed.is_set()

    async def _enqueue(self, frame: Frame, generation: int) -> bool:
        if frame.shape != (FRAME,):
            raise ValueError("play() takes 320-sample frames (20 ms at 16 kHz)")
        voice = self.outgoing
        while len(voice.queue) >= PLAY_AHEAD:
            if generation != self._generation or self.closed.is_set():
                return False
            await voice.next_tick()
        if generation != self._generation or self.closed.is_set():
            return False
        voice.queue.append(np.asarray(frame, dtype=np.int16))
        return True

    def cancel_playback(self) -> None:
        self._generation += 1
        self.outgoing.queue.clear()
        self.outgoing.wake()

    def send_dtmf(self, digits: str) -> None:
        return None  # a browser leg takes no keys from us

    async def dtmf_events(self) -> AsyncIterator[Any]:
        await self.closed.wait()
        return
        yield  # an async generator that yields nothing

    def close(self) -> None:
        self.closed.set()
        self.connected.set()  # nobody waits for a connection that will not come
        self.cancel_playback()
        self.outgoing.stop()
