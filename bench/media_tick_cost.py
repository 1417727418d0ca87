"""CPU of ``MediaSession``'s own work per call and 20 ms tick, without sockets or the loop.

    .venv/bin/python bench/media_tick_cost.py [--calls 100] [--seconds 10]

Feeds each session one RTP packet per tick through ``_on_rtp`` and runs the pacer's
batched ``MediaSession.tick_group`` in groups as the pacer forms them, with a transport
that drops what is sent. ``listen`` consumes inbound frames and sends silence; ``echo``
plays every inbound frame back (resample + encode both ways). What this leaves out -
``sendto``/``recvfrom`` system calls and asyncio's per-datagram and per-task overhead -
is what ``bench/media_loopback.py`` adds on top.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from media.batch import limit_blas_threads
from media.session import MediaSession
from media.stream import RtpStream
from media.transport import PHASES


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now


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
        packets.append(sender.tick_send())
    groups = [sessions[p::PHASES] for p in range(PHASES)]
    addr = ("127.0.0.1", 1)
    start = time.process_time()
    for n in range(ticks):
        clock.now = n * 0.02
        packet = packets[n]
        for s in sessions:
            s._on_rtp(packet, addr)
        clock.now += 0.001
        for group in groups:
            MediaSession.tick_group(group, clock.now, False)
        for s in sessions:
            while s._inbound:
                frame = s._inbound.popleft()
                if echo:
                    s.stream.audio.append(frame)
    return (time.process_time() - start) / (calls * ticks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    limit_blas_threads(1)
    ticks = int(args.seconds / 0.02)
    for mode in ("listen", "echo"):
        per_tick = run(args.calls, ticks, mode == "echo")
        calls_per_core = 0.02 / per_tick
        print(
            f"{mode:>6}: {per_tick * 1e6:6.1f} us per call per 20 ms tick "
            f"({per_tick * 50 * 1e3:.2f} ms CPU per call-second; the session logic alone "
            f"fits ~{calls_per_core:.0f} calls in a core)"
        )


if __name__ == "__main__":
    main()
