"""G.722 (payload type 9) through FFmpeg's codec in PyAV, the library aiortc's own G.722
uses (aiortc's wrapper adds a resampler stage we do not need: our frames are already
16 kHz). RTP quirk (RFC 3551 section 4.5.2): the RTP clock is 8000 Hz although audio is
sampled at 16 kHz, so a 20 ms packet is 160 bytes and advances the timestamp by 160.
"""

from __future__ import annotations

import fractions
from typing import Literal

import av
import numpy as np
import numpy.typing as npt
from av.audio.codeccontext import AudioCodecContext

from media.framing import FRAME_SAMPLES, RATE

G722 = 9
SAMPLE_RATE = RATE

Int16Array = npt.NDArray[np.int16]


class G722Codec:
    """Stateful G.722 encoder and decoder for one call (ADPCM keeps state per direction)."""

    payload_type = G722
    wideband = True

    def __init__(self) -> None:
        self._enc = _context("w")
        self._dec = _context("r")
        self._pts = 0
        self._silence = _steady_silence()

    def encode16(self, frame: Int16Array) -> bytes:
        audio = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(frame, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        audio.sample_rate = SAMPLE_RATE
        audio.pts = self._pts
        self._pts += len(frame)
        return b"".join(bytes(p) for p in self._enc.encode(audio))

    def decode16(self, payload: bytes) -> Int16Array:
        frames = self._dec.decode(av.Packet(payload))
        if not frames:
            return np.zeros(2 * len(payload), dtype=np.int16)
        out: Int16Array = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
        return out.astype(np.int16, copy=False)

    def silence(self, samples: int) -> bytes:
        """A precomputed silent payload (``samples`` is in RTP clock units, 160 per 20 ms)."""
        if samples != len(self._silence):
            raise ValueError("G.722 silence is precomputed for 20 ms packets")
        return self._silence


def _context(mode: Literal["r", "w"]) -> AudioCodecContext:
    ctx = av.CodecContext.create("g722", mode)
    assert isinstance(ctx, AudioCodecContext)
    ctx.sample_rate = SAMPLE_RATE
    ctx.format = "s16"
    ctx.layout = "mono"
    if mode == "w":
        ctx.time_base = fractions.Fraction(1, SAMPLE_RATE)
    return ctx


_SILENCE: bytes | None = None


def _steady_silence() -> bytes:
    """What an encoder settled on silence emits for 20 ms (computed once)."""
    global _SILENCE  # noqa: PLW0603 - a cache of one constant
    if _SILENCE is None:
        enc = _context("w")
        payload = b""
        for i in range(10):
            audio = av.AudioFrame.from_ndarray(
                np.zeros((1, FRAME_SAMPLES), dtype=np.int16), format="s16", layout="mono"
            )
            audio.sample_rate = SAMPLE_RATE
            audio.pts = i * FRAME_SAMPLES
            payload = b"".join(bytes(p) for p in enc.encode(audio))
        _SILENCE = payload
    return _SILENCE
