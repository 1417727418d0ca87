"""Codec choice by payload type and re-framing of other packet times to 20 ms packets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from media.framing import WIRE_SAMPLES
from media.g711 import G711Codec

if TYPE_CHECKING:
    from media.g722 import G722Codec

G722_PT = 9


HALF = WIRE_SAMPLES // 2  # 10 ms in RTP clock units (= payload bytes for G.711 and G.722)


class Reframer:
    """Cuts other packet times into the 20 ms packets the jitter buffer plays.

    G.711 and G.722 carry one byte per RTP clock unit, so a payload splits into 10 ms
    pieces by timestamp; two pieces of the same 20 ms slot (slots aligned on the first
    timestamp seen, and again on a packet off that grid) make one packet. Halves whose
    partner never comes are forgotten.
    """

    def __init__(self, keep: int = 16) -> None:
        self._ssrc: int | None = None
        self._origin = 0
        self._halves: dict[int, list[bytes | None]] = {}
        self._keep = keep

    def push(self, ssrc: int, timestamp: int, payload: bytes) -> list[tuple[int, bytes]]:
        if ssrc != self._ssrc or _signed(timestamp - self._origin) % HALF:
            # A new source, or the sender's timeline moved off the grid (a switchover
            # keeping its SSRC): the grid starts again here. Before, every later piece
            # was off the old grid and dropped: the caller was not heard again.
            self._ssrc, self._origin, self._halves = ssrc, timestamp, {}
        out: list[tuple[int, bytes]] = []
        for i in range(0, len(payload), HALF):
            ts = (timestamp + i) & 0xFFFFFFFF
            offset = _signed(ts - self._origin)  # < 0: before the origin (reordered)
            slot_ts = (ts - offset % WIRE_SAMPLES) & 0xFFFFFFFF
            half = (offset % WIRE_SAMPLES) // HALF
            pieces = self._halves.setdefault(slot_ts, [None, None])
            pieces[half] = payload[i : i + HALF]
            first, second = pieces
            if first is not None and second is not None:
                out.append((slot_ts, first + second))
                del self._halves[slot_ts]
        while len(self._halves) > self._keep:
            del self._halves[next(iter(self._halves))]  # the oldest incomplete slot
        return out


def _signed(delta: int) -> int:
    """A difference of 32-bit RTP timestamps, across the wrap, as a signed number."""
    delta &= 0xFFFFFFFF
    return delta - (1 << 32) if delta >= 1 << 31 else delta


def make_codec(payload_type: int) -> G711Codec | G722Codec:
    """0 PCMU, 8 PCMA, 9 G.722 (static payload types, RFC 3551)."""
    if payload_type == G722_PT:
        # imported on demand: PyAV (FFmpeg) is heavy to load and only G.722 calls need it
        from media.g722 import G722Codec  # noqa: PLC0415

        return G722Codec()
    return G711Codec(payload_type)

