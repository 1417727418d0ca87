"""DTMF: RFC 4733 telephone-events (send and receive) and an in-band Goertzel detector.

Sender: all packets of one event carry the event's start timestamp; the first has the
marker bit; the duration grows by one packet time per packet; the final packet has the E
bit and is sent three times (RFC 4733 section 2.5.1.4), each with its own sequence number.
Receiver: packets are keyed by timestamp so retransmitted end packets are reported once;
an event whose end packets were all lost is reported by ``poll`` after a quiet period.
A key held past 0xFFFF samples (8.2 s at 8 kHz) goes on in segments (RFC 4733 2.5.1.3):
the same event at the old timestamp plus the old duration, which continues the press.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

DIGITS = "0123456789*#ABCD"
END_RETRANSMISSIONS = 3
MAX_DURATION = 0xFFFF
_PAYLOAD = struct.Struct("!BBH")


class DtmfParseError(ValueError):
    """The telephone-event payload is malformed (the packet is dropped)."""


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    """One key press, however it arrived (``rfc4733``, ``inband`` or ``info`` from SIP)."""

    digit: str
    duration_ms: int
    source: str = "rfc4733"

    def __post_init__(self) -> None:
        if len(self.digit) != 1 or self.digit not in DIGITS:
            raise ValueError("DTMF digit must be one of 0-9 * # A-D")
        if self.duration_ms < 0:
            raise ValueError("DTMF duration cannot be negative")


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """The 4-byte RFC 4733 payload."""

    event: int
    end: bool
    volume: int
    duration: int

    def __post_init__(self) -> None:
        if not 0 <= self.event <= 255 or not 0 <= self.volume <= 63:
            raise ValueError("telephone-event field out of range")
        if not 0 <= self.duration <= MAX_DURATION:
            raise ValueError("telephone-event duration out of range")

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        if len(payload) < 4:
            raise DtmfParseError("telephone-event payload is shorter than 4 bytes")
        event, flags, duration = _PAYLOAD.unpack_from(payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def serialize(self) -> bytes:
        return _PAYLOAD.pack(self.event, self.end << 7 | self.volume, self.duration)


@dataclass(frozen=True, slots=True)
class DtmfPacket:
    """What the session sends on one tick while a digit is being sent."""

    payload: bytes
    timestamp: int
    marker: bool


class DtmfGap(Enum):
    """A tick between two digits: the session sends silence."""

    GAP = "gap"


def digit_code(digit: str) -> int:
    code = DIGITS.find(digit.upper())
    if code < 0 or len(digit) != 1:
        raise ValueError("DTMF digit must be one of 0-9 * # A-D")
    return code


class DtmfSender:
    """Turns queued digits into one packet (or a gap) per packet time."""

    def __init__(
        self,
        *,
        samples_per_packet: int = 160,
        clock_rate: int = 8000,
        tone_ms: int = 100,
        gap_ms: int = 60,
        volume: int = 10,
    ) -> None:
        if not 40 <= tone_ms <= 5000 or gap_ms < 0:
            raise ValueError("DTMF tone must last 40-5000 ms and the gap cannot be negative")
        self._spp = samples_per_packet
        self._tone = clock_rate * tone_ms // 1000
        ms_per_packet = samples_per_packet * 1000 / clock_rate
        self._gap_ticks = -(-gap_ms // int(ms_per_packet)) if gap_ms else 0
        self._volume = volume
        self._queue: list[int] = []
        self._event: int | None = None
        self._start_ts = 0
        self._sent = 0  # packets sent for the current event, ends included
        self._gap_left = 0

    def queue(self, digits: str) -> None:
        codes = [digit_code(d) for d in digits]  # validate all before queueing any
        self._queue.extend(codes)

    @property
    def active(self) -> bool:
        return self._event is not None or bool(self._queue) or self._gap_left > 0

    def clear(self) -> None:
        """Drop queued digits; a digit already started is still ended properly."""
        self._queue.clear()

    def step(self, timestamp: int) -> DtmfPacket | DtmfGap | None:
        """Called once per packet time with that tick's RTP timestamp."""
        if self._event is None:
            if self._gap_left > 0:
                self._gap_left -= 1
                return DtmfGap.GAP
            if not self._queue:
                return None
            self._event = self._queue.pop(0)
            self._start_ts = timestamp
            self._sent = 0
        self._sent += 1
        tone_packets = -(-self._tone // self._spp)
        duration = min(self._sent * self._spp, self._tone)
        end = self._sent >= tone_packets
        packet = DtmfPacket(
            TelephoneEvent(self._event, end, self._volume, duration).serialize(),
            self._start_ts,
            self._sent == 1,
        )
        if self._sent >= tone_packets + END_RETRANSMISSIONS - 1:
            self._event = None
            self._gap_left = self._gap_ticks
        return packet


class DtmfReceiver:
    """Reports each RFC 4733 event once, from start/continuation/end packets."""

    def __init__(self, *, clock_rate: int = 8000, quiet_timeout: float = 0.3) -> None:
        self._clock_rate = clock_rate
        self._quiet = quiet_timeout
        self._current: tuple[int, int] | None = None  # (timestamp, event code)
        self._duration = 0
        self._earlier = 0  # samples of the press's segments before the current one
        self._last_seen = 0.0
        self._finished: list[int] = []  # recent event timestamps already reported

    def _report(self) -> DtmfEvent | None:
        if self._current is None:
            return None
        ts, code = self._current
        self._current = None
        self._finished = [*self._finished[-7:], ts]
        if code >= len(DIGITS):
            return None  # a non-DTMF event (e.g. fax tones) is consumed silently
        total = self._earlier + self._duration
        return DtmfEvent(DIGITS[code], total * 1000 // self._clock_rate)

    def _continues(self, event: TelephoneEvent, timestamp: int) -> bool:
        """A long event's next segment: the same event, the last one at its longest, and
        the timestamp its start plus that duration (a packet time of slack)."""
        if self._current is None or self._current[1] != event.event:
            return False
        step = (timestamp - self._current[0]) & 0xFFFFFFFF
        return self._duration >= MAX_DURATION - 320 and abs(step - self._duration) <= 320

    def receive(self, payload: bytes, timestamp: int, now: float) -> list[DtmfEvent]:
        event = TelephoneEvent.parse(payload)
        out: list[DtmfEvent] = []
        if timestamp in self._finished:
            return out
        if self._current is not None and self._current[0] != timestamp:
            if self._continues(event, timestamp):  # the press goes on: one event
                self._finished = [*self._finished[-7:], self._current[0]]
                self._earlier += (timestamp - self._current[0]) & 0xFFFFFFFF
                self._current, self._duration = (timestamp, event.event), 0
            else:
                done = self._report()  # the previous event's end packets were lost
                if done is not None:
                    out.append(done)
        if self._current is None:
            self._current = (timestamp, event.event)
            self._duration = self._earlier = 0
        self._duration = max(self._duration, event.duration)
        self._last_seen = now
        if event.end:
            done = self._report()
            if done is not None:
                out.append(done)
        return out

    def poll(self, now: float) -> DtmfEvent | None:
        if self._current is not None and now - self._last_seen >= self._quiet:
            return self._report()
        return None


# --- in-band detection -------------------------------------------------------------

ROW_HZ = (697.0, 770.0, 852.0, 941.0)
COL_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")


def tone_frames(
    digit: str,
    *,
    sample_rate: int = 16000,
    frame_samples: int = 320,
    tone_ms: int = 100,
    gap_ms: int = 60,
    level: float = 0.25,
) -> list[npt.NDArray[np.int16]]:
    """In-band DTMF for peers without telephone-event: the tone pair then silence,
    cut into frames (``level`` is each tone's peak as a fraction of full scale)."""
    code = digit_code(digit)
    key = DIGITS[code]
    row = next(r for r, keys in enumerate(KEYPAD) if key in keys)
    col = KEYPAD[row].index(key)
    n_tone = -(-sample_rate * tone_ms // 1000 // frame_samples) * frame_samples
    n_gap = -(-sample_rate * gap_ms // 1000 // frame_samples) * frame_samples
    t = np.arange(n_tone) / sample_rate
    pair = np.sin(2 * np.pi * ROW_HZ[row] * t) + np.sin(2 * np.pi * COL_HZ[col] * t)
    signal = np.concatenate([np.round(pair * level * 32767), np.zeros(n_gap)]).astype(np.int16)
    return list(signal.reshape(-1, frame_samples))


class InbandDtmfDetector:
    """Goertzel-style detector on 8 kHz frames (one matrix product per frame).

    A digit is reported once when two consecutive frames show the same row/column pair
    holding most of the frame's energy with acceptable twist; it re-arms after a frame
    without a digit.
    """

    def __init__(
        self,
        *,
        sample_rate: int = 8000,
        frame_samples: int = 160,
        min_rms: float = 100.0,
        min_ratio: float = 0.6,
        max_twist_db: float = 8.0,
    ) -> None:
        n = np.arange(frame_samples)
        freqs = np.array(ROW_HZ + COL_HZ)
        angles = 2 * np.pi * np.outer(freqs, n) / sample_rate
        self._basis = np.concatenate([np.cos(angles), np.sin(angles)]).astype(np.float32)
        self._n = frame_samples
        self._rate = sample_rate
        self._min_energy = min_rms * min_rms * frame_samples
        self._min_ratio = min_ratio
        self._max_twist = 10 ** (max_twist_db / 10)
        self._candidate: str | None = None
        self._frames = 0
        self._reported = False

    def _classify(self, frame: npt.NDArray[np.int16]) -> str | None:
        x = frame.astype(np.float32)
        energy = float(np.dot(x, x))
        if energy < self._min_energy:
            return None
        proj = self._basis @ x
        power = proj[:8] ** 2 + proj[8:] ** 2
        norm = power / (self._n / 2 * energy)
        row, col = int(np.argmax(norm[:4])), int(np.argmax(norm[4:]))
        pr, pc = float(norm[row]), float(norm[4 + col])
        if pr + pc < self._min_ratio:
            return None
        if max(pr, pc) > self._max_twist * min(pr, pc):
            return None
        return KEYPAD[row][col]

    def process(self, frame: npt.NDArray[np.int16]) -> DtmfEvent | None:
        if len(frame) != self._n:
            raise ValueError(f"in-band DTMF detector expects {self._n}-sample frames")
        digit = self._classify(frame)
        if digit is None or digit != self._candidate:
            self._candidate = digit
            self._frames = 1 if digit else 0
            self._reported = False
            return None
        self._frames += 1
        if self._frames >= 2 and not self._reported:
            self._reported = True
            return DtmfEvent(digit, self._frames * self._n * 1000 // self._rate, source="inband")
        return None
