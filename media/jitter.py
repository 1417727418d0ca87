"""Adaptive jitter buffer for constant-ptime audio (sans-IO: ``put(..., now)``, ``get(now)``).

Packets are placed in slots by extended RTP timestamp (one slot per packet time), so
reordering, duplicates and timestamp wrap need no special cases. ``get`` is called once
per packet time and plays one slot. The delay adapts in two ways:

- growth: when nothing at or after the play cursor has arrived (underrun), the cursor
  does not move, so the buffer holds one more packet time of delay;
- shrink: when more than ``target + 1`` slots are buffered, one slot is dropped per call
  (and holes are skipped), bringing the delay back to the target. With ``quiet`` (a test
  of a payload: line silence?) only quiet frames are dropped while no more than
  ``hold_delay`` is buffered: the burst after a network stall reaches a listener (the
  recogniser) whole, a little late, and the delay is given back in the next pause.

The target follows the RFC 3550 interarrival jitter estimate (``jitter_factor`` times the
jitter plus one packet time), kept within ``[min_delay, max_delay]``. A different SSRC, a
packet too far from the cursor (a sender restart), or two packets in a row from further
back than ``max_delay`` (a sender that moved its timestamps back) reset the buffer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

TS_MOD = 1 << 32
TS_HALF = 1 << 31


class Gap(Enum):
    """Why ``get`` returned no audio."""

    NOT_STARTED = "not_started"  # nothing received yet or still filling to the target
    LOST = "lost"  # the slot's packet never arrived but later ones did
    UNDERRUN = "underrun"  # nothing buffered at or after the cursor (delay grows)


@dataclass(frozen=True, slots=True)
class JitterFrame:
    payload: bytes
    timestamp: int  # the packet's 32-bit RTP timestamp


@dataclass(slots=True)
class JitterStats:
    received: int = 0
    duplicates: int = 0
    late: int = 0
    lost: int = 0
    dropped: int = 0  # discarded to shrink the delay
    underruns: int = 0
    resets: int = 0


class JitterBuffer:
    def __init__(
        self,
        *,
        clock_rate: int = 8000,
        samples_per_packet: int = 160,
        min_delay: float = 0.04,
        max_delay: float = 0.2,
        initial_delay: float = 0.06,
        jitter_factor: float = 3.0,
        capacity_seconds: float = 1.0,
        quiet: Callable[[bytes], bool] | None = None,
        hold_delay: float = 0.5,
    ) -> None:
        if not 0 < min_delay <= initial_delay <= max_delay:
            raise ValueError("jitter delays must satisfy 0 < min <= initial <= max")
        self._rate = clock_rate
        self._spp = samples_per_packet
        self._ptime = samples_per_packet / clock_rate
        self._min_slots = max(1, round(min_delay / self._ptime))
        self._max_slots = max(self._min_slots, round(max_delay / self._ptime))
        self._initial_slots = round(initial_delay / self._ptime)
        self._factor = jitter_factor
        self._capacity = max(self._max_slots * 2, round(capacity_seconds / self._ptime))
        self.quiet = quiet
        self._hold_slots = max(self._max_slots, round(hold_delay / self._ptime))
        self.stats = JitterStats()
        self._reset(None)

    def _reset(self, ssrc: int | None) -> None:
        self._ssrc = ssrc
        self._slots: dict[int, JitterFrame] = {}
        self._base_ts = 0  # extended timestamp of slot 0
        self._last_ts: int | None = None  # extended timestamp of the newest packet
        self._cursor: int | None = None
        self._newest = -1
        self._start_at = 0.0
        self._jitter = 0.0  # seconds, RFC 3550 A.8 estimator
        self._transit: float | None = None
        self._target = self._initial_slots
        # (extended timestamp, timestamp, payload, arrival) of a packet far behind the
        # cursor, kept until the next packet says whether the sender moved back
        self._behind: tuple[int, int, bytes, float] | None = None

    @property
    def target_delay(self) -> float:
        return self._target * self._ptime

    @property
    def jitter(self) -> float:
        return self._jitter

    @property
    def depth(self) -> int:
        """Slots from the cursor to the newest packet received (inclusive)."""
        if self._cursor is None:
            return len(self._slots)
        return max(0, self._newest - self._cursor + 1)

    def _extend(self, timestamp: int) -> int:
        last = self._last_ts
        if last is None:
            return timestamp
        delta = (timestamp - last) % TS_MOD
        if delta >= TS_HALF:
            delta -= TS_MOD
        return last + delta

    def put(self, ssrc: int, timestamp: int, payload: bytes, now: float) -> None:
        if self._ssrc != ssrc:
            if self._ssrc is not None:
                self.stats.resets += 1
            self._reset(ssrc)
        ext = self._extend(timestamp)
        if self._last_ts is None:
            self._base_ts = ext
            self._start_at = now + self._target * self._ptime
        slot = (ext - self._base_ts) // self._spp
        cursor = self._cursor
        if cursor is not None and not cursor - self._capacity < slot < cursor + self._capacity:
            # a jump of a second or more: the sender restarted its timeline
            self.stats.resets += 1
            self._reset(ssrc)
            self.put(ssrc, timestamp, payload, now)
            return
        if cursor is not None and slot < cursor - self._max_slots and self._moved_back(
                ssrc, ext, timestamp, payload, now):
            return
        self._behind = None
        self._last_ts = ext if self._last_ts is None else max(self._last_ts, ext)
        self._update_jitter(ext, now)
        if cursor is not None and slot < cursor:
            self.stats.late += 1
            return
        if slot in self._slots:
            self.stats.duplicates += 1
            return
        self.stats.received += 1
        self._slots[slot] = JitterFrame(payload, timestamp)
        self._newest = max(self._newest, slot)

    def _moved_back(self, ssrc: int, ext: int, timestamp: int, payload: bytes, now: float
                    ) -> bool:
        """A packet later than the longest delay the buffer keeps. One alone is a stray
        (late, dropped); the next packet following straight on from it means the sender
        moved its timeline back under the same SSRC (a media server switchover): the
        buffer restarts from the first of the two, so nothing said after the move is
        dropped as late (before: up to a second of the caller's words). True: taken."""
        held = self._behind
        if held is None or ext != held[0] + self._spp:
            self._behind = (ext, timestamp, payload, now)
            self.stats.late += 1
            return True
        self.stats.late -= 1  # the first one is played after all
        self.stats.resets += 1
        self._reset(ssrc)
        self.put(ssrc, held[1], held[2], held[3])
        self.put(ssrc, timestamp, payload, now)
        return True

    def _update_jitter(self, ext: int, now: float) -> None:
        transit = now - ext / self._rate
        previous, self._transit = self._transit, transit
        if previous is None:
            return  # keep the initial target until there is a transit difference
        d = abs(transit - previous)
        if d < 1.0:
            self._jitter += (d - self._jitter) / 16.0
        wanted = math.ceil((self._factor * self._jitter) / self._ptime) + 1
        self._target = min(self._max_slots, max(self._min_slots, wanted))

    def get(self, now: float) -> JitterFrame | Gap:
        """The audio for the next packet time, or why there is none."""
        cursor = self._cursor
        if cursor is None:
            if not self._slots or now < self._start_at:
                return Gap.NOT_STARTED
            cursor = min(self._slots)
        if self._newest < cursor:
            self.stats.underruns += 1
            self._cursor = cursor
            return Gap.UNDERRUN
        if self._newest - cursor + 1 > self._target + 1:
            cursor = self._shrink(cursor)
        frame = self._slots.pop(cursor, None)
        self._cursor = cursor + 1
        if frame is None:
            self.stats.lost += 1
            return Gap.LOST
        return frame

    def _shrink(self, cursor: int) -> int:
        """Skip a hole in one go, else drop the frame at the cursor (with ``quiet``: only
        a quiet one, unless more than the hold delay is buffered)."""
        if cursor not in self._slots:
            present = min(s for s in self._slots if s >= cursor)
            self.stats.lost += present - cursor
            return present
        if (self.quiet is not None and self._newest - cursor + 1 <= self._hold_slots
                and not self.quiet(self._slots[cursor].payload)):
            return cursor  # speech: played, a frame late, never dropped
        del self._slots[cursor]
        self.stats.dropped += 1
        return cursor + 1
