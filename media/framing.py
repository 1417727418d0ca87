"""20 ms framing of 16 kHz mono PCM: the one frame size the media layer and the agent share.

``MediaSession`` takes and yields frames of ``FRAME_SAMPLES`` int16 samples (20 ms at
16 kHz); the wire carries ``WIRE_SAMPLES`` per packet (20 ms at 8 kHz). Audio of any
length is cut here, once: :func:`frames` for a whole buffer, :class:`FrameCutter` for
chunks that arrive one by one (speech synthesis), :func:`frame_stream` over an iterable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import numpy.typing as npt

RATE = 16000
FRAME_MS = 20
FRAME_SAMPLES = RATE * FRAME_MS // 1000  # 320
WIRE_RATE = 8000
WIRE_SAMPLES = WIRE_RATE * FRAME_MS // 1000  # 160

Int16Array = npt.NDArray[np.int16]


class FrameCutter:
    """Re-cuts int16 chunks of any length into whole frames, keeping the remainder."""

    __slots__ = ("_rest", "_size")

    def __init__(self, frame_samples: int = FRAME_SAMPLES) -> None:
        if frame_samples < 1:
            raise ValueError("a frame holds at least one sample")
        self._size = frame_samples
        self._rest: Int16Array = np.zeros(0, dtype=np.int16)

    def push(self, chunk: npt.ArrayLike) -> list[Int16Array]:
        """The whole frames completed by ``chunk`` (copies, safe to keep)."""
        pcm = np.asarray(chunk, dtype=np.int16).reshape(-1)
        data = np.concatenate([self._rest, pcm]) if len(self._rest) else pcm
        whole = len(data) // self._size
        out = [data[i * self._size : (i + 1) * self._size].copy() for i in range(whole)]
        self._rest = data[whole * self._size :].copy()
        return out

    def flush(self, *, pad: bool = True) -> list[Int16Array]:
        """The last partial frame, zero-padded (or dropped when ``pad`` is False)."""
        rest, self._rest = self._rest, np.zeros(0, dtype=np.int16)
        if not pad or not len(rest):
            return []
        last = np.zeros(self._size, dtype=np.int16)
        last[: len(rest)] = rest
        return [last]


def frame_stream(chunks: Iterable[npt.ArrayLike], *, pad: bool = True) -> Iterator[Int16Array]:
    """Frames of the concatenated ``chunks``; the last one zero-padded if ``pad``."""
    cutter = FrameCutter()
    for chunk in chunks:
        yield from cutter.push(chunk)
    yield from cutter.flush(pad=pad)


def frames(pcm16k: npt.ArrayLike, *, pad: bool = True) -> list[Int16Array]:
    """Cut int16 16 kHz audio into 20 ms frames; the last one zero-padded if ``pad``."""
    return list(frame_stream([pcm16k], pad=pad))
