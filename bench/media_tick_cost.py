"""CPU of ``MediaSession``'s own work per call and 20 ms tick, without sockets or the loop.

    .venv/bin/python bench/media_tick_cost.py [--calls 100] [--seconds 10] [--repeat 5]

Feeds each session one RTP packet per tick through ``_on_rtp`` and runs the real
``Pacer`` (its phase callbacks and the batched ``MediaSession.tick_group``) on a fake loop
clock, with a transport that drops what is sent. Each mode runs ``--repeat`` times and the
best is printed (process CPU time; the least disturbed run on a shared machine).
``listen`` consumes inbound frames and sends silence; ``echo`` plays every inbound frame
back (resample + encode both ways). What this leaves out -
``sendto``/``recvfrom`` system calls and asyncio's per-datagram and per-task overhead -
is what ``bench/media_loopback.py`` adds on top.
"""

from __future__ import annotations

import argparse
import heapq
import time
from typing import Any

import numpy as np

from media.batch import limit_blas_threads
from media.session import MediaSession
from media.stream import RtpStream
from media.transport import PERIOD, Pacer


class _Clock:
    """Just enough of a loop for the pacer: time and call_at, run in deadline order."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, int, _Handle]] = []
        self._n = 0

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Any, *args: Any) -> _Handle:
        handle = _Handle(callback, args)
        self._n += 1
        heapq.heappush(self.timers, (when, self._n, handle))
        return handle

    def run_until(self, t: float) -> None:
        while self.timers and self.timers[0][0] <= t:
            when, _, handle = heapq.heappop(self.timers)
            if not handle.cancelled:
                self.now = max(self.now, when)
                handle.callback(*handle.args)
        self.now = max(self.now, t)


class _Handle:
    def __init__(self, callback: Any, args: tuple[Any, ...]) -> None:
        self.callback, self.args, self.cancelled = callback, args, False

    def cancel(self) -> None:
        self.cancelled = True


class _NullTransport:
    def __init__(self) -> None:
        self.sent = 0

    def sendto(self, data: bytes, addr: object) -> None:
        self.sent += 1


def run(calls: int, ticks: int, echo: bool) -> float:
    clock = _Clock()
    sessions = [
        MediaSession(local_addr=("127.0.0.1", 0), remote_addr=("127.0.0.1", 9))
        for _ in range(calls)
    ]
    for s in sessions:
        s._loop = clock  # type: ignore[assignment]
        s._rtp = _NullTransport()  # type: ignore[assignment]
        s._inbound_active = True
    t = np.arange(320 * 50) / 16000
    tone = np.round(6000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).reshape(50, 320)
    sender = RtpStream(remote_addr=("127.0.0.1", 1))
    packets = []
    for i in range(ticks):
        sender.audio.append(tone[i % 50])
        packet = sender.tick_send()
        assert packet is not None
        packets.append(packet)
    pacer = Pacer(clock)  # type: ignore[arg-type]
    for s in sessions:
        pacer.add(s)
    addr = ("127.0.0.1", 1)
    start = time.process_time()
    for n in range(ticks):
        packet = packets[n]
        for s in sessions:
            s._on_rtp(packet, addr)
        clock.run_until((n + 1) * PERIOD)  # every phase's tick of this period
        for s in sessions:
            while s._inbound:
                frame = s._inbound.popleft()
                if echo:
                    s.stream.audio.append(frame)
    spent = time.process_time() - start
    for s in sessions:
        pacer.remove(s)
    return spent / (calls * ticks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    limit_blas_threads(1)
    ticks = int(args.seconds / 0.02)
    for mode in ("listen", "echo"):
        per_tick = min(run(args.calls, ticks, mode == "echo") for _ in range(args.repeat))
        calls_per_core = 0.02 / per_tick
        print(
            f"{mode:>6}: {per_tick * 1e6:6.1f} us per call per 20 ms tick "
            f"({per_tick * 50 * 1e3:.2f} ms CPU per call-second; the session logic alone "
            f"fits ~{calls_per_core:.0f} calls in a core)"
        )


if __name__ == "__main__":
    main()
