"""Commands of the test peer that wait on received audio, as polled state (no pjsua2 here).

The peer's main loop polls each `Pending` after every `libHandleEvents(loop_ms)` in which frames
arrived for it or its deadline passed; a poll returns the reply once enough frames have
arrived, so waits are bounded by frame counts and a deadline, never by sleeping.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any, Protocol

from .peer_audio import frame_rms

Poll = Callable[[bool], "dict[str, Any] | None"]


class WaitFailed(Exception):
    """A wait expired; the message says what was seen instead."""


class FrameSource(Protocol):
    """What the waits read from an `AudioPort` (appended to by the audio thread)."""

    frames: list[bytes]
    times: list[float]
    dropped: int

    @property
    def received(self) -> int: ...

    def frames_since(self, index: int) -> list[bytes]: ...


class Pending:
    """A command whose reply waits for audio; polled by the main loop until done or expired."""

    def __init__(self, req_id: int, deadline: float, poll: Poll, port: FrameSource) -> None:
        self.req_id = req_id
        self.deadline = deadline
        self.poll = poll  # poll(expired) -> result dict when done, None to keep waiting
        self.port = port
        self._seen = -1  # port.received when last polled

    def due(self, now: float) -> bool:
        """Whether a poll can answer now: frames arrived since the last one, or time is up.

        The main loop turns every 5 ms and a call's frames come every 20 ms: three polls in
        four found nothing new. Skipping them, and the command deque, took the main thread
        from ~14 to ~12 ms of CPU a second with 4 waits running (bench/phone_cost.py).
        """
        if now >= self.deadline:
            return True
        received = self.port.received
        if received == self._seen:
            return False
        self._seen = received
        return True


def index_at(port: FrameSource, since_t: float | None) -> int:
    """Absolute index of the first frame received at or after `since_t` (None: from now)."""
    if since_t is None:
        return port.received
    return port.dropped + bisect.bisect_left(port.times, since_t)


def _new_frames(port: FrameSource, seen: list[int]) -> tuple[list[bytes], int]:
    """Frames after absolute index seen[0] (advanced), and the list index of the first."""
    new = port.frames_since(seen[0])
    base = max(0, seen[0] - port.dropped)  # times may already hold the next frame's stamp
    seen[0] += len(new)
    return new, base


def collect(
    port: FrameSource,
    *,
    start: int,
    want: int,
    min_rms: float,
    finish: Callable[[list[bytes], list[float]], dict[str, Any]],
) -> Poll:
    """Gather `want` frames from index `start` on whose RMS is at least `min_rms`."""
    got: list[bytes] = []
    stamps: list[float] = []
    seen = [start]
    peak = [0.0]

    def poll(expired: bool) -> dict[str, Any] | None:
        new, base = _new_frames(port, seen)
        for i, frame in enumerate(new):
            rms = frame_rms(frame) if min_rms > 0 else 1.0
            peak[0] = max(peak[0], rms)
            if rms >= min_rms and len(got) < want:
                got.append(frame)
                stamps.append(port.times[base + i])
        if len(got) >= want:
            return finish(got, stamps)
        if expired:
            raise WaitFailed(
                f"timed out with {len(got)}/{want} frames above rms {min_rms} "
                f"(peak frame rms {peak[0]:.1f}, {seen[0] - start} frames seen)"
            )
        return None

    return poll


def run_of(port: FrameSource, *, start: int, want: int, min_rms: float, loud: bool) -> Poll:
    """Wait for `want` consecutive frames above (`loud`) or below `min_rms`; the result's
    `t` is the receive time of the first frame of that run."""
    seen = [start]
    run: list[float] = []

    def poll(expired: bool) -> dict[str, Any] | None:
        new, base = _new_frames(port, seen)
        for i, frame in enumerate(new):
            if (frame_rms(frame) >= min_rms) == loud:
                run.append(port.times[base + i])
                if len(run) >= want:
                    return {"t": run[0]}
            else:
                run.clear()
        if expired:
            kind = "above" if loud else "below"
            raise WaitFailed(f"no run of {want} frames {kind} rms {min_rms}")
        return None

    return poll
