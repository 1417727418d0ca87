"""The callers' RTP for ``bench/media_capacity.py --caller light``: every call's 20 ms PCMU
stream from one process, at a fraction of SIPp's cost.

    .venv/bin/python bench/media_caller.py [--slots 20]   # then JSON lines on stdin

SIPp's ``play_pcap_audio`` runs a thread per call that sleeps until each packet is due;
at 500 calls that is 25,000 thread wake-ups a second, and on a 2-core machine the load
generator then takes CPU time the gateways would need. Here one socket sends every
stream from one loop: the streams are spread over ``--slots`` sub-slots of the 20 ms
period (callers answer at different moments, so their packets do not all arrive at
once), each sub-slot fires at an absolute deadline ``start + k * period / slots`` (no
drift), and a sub-slot's packets leave together. Grouping arrivals in 1 ms sub-slots
lets the gateway handle several per wake-up (as a network card's interrupt coalescing
does, more coarsely); ``--slots`` spreads them finer, at more wake-ups here. A slot that
fires late sends its packets then (the gateway's jitter buffer sees the delay);
``late_max`` reports the worst.

The gateway latches each call's RTP to this socket (``media.latch``: any port of the
signalled host), so the echo comes back here; it is never read (as SIPp never reads
it), and ``bench/media_receiver.py`` on this socket's port sees what arrives.

Lines on stdin: ``{"add": [port, ...]}`` starts a stream to 127.0.0.1:port for each
port; ``clear`` stops them all; ``snap`` prints ``{"sent", "late_max", "cpu"}``
(``late_max`` since the last snap); ``quit`` (or end of input) ends. The first line out
is ``{"port": ...}``, the socket's own.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PERIOD = 0.02
SLOTS = 20  # 1 ms sub-slots
TONE_FRAMES = 50  # one second of a 440 Hz tone, repeated
HEADER = struct.Struct("!BBHII")


def tone_payloads() -> list[bytes]:
    """A 440 Hz tone as 20 ms PCMU payloads (as the SIPp pcap of media_capacity)."""
    import numpy as np  # noqa: PLC0415

    from media.g711 import G711Codec  # noqa: PLC0415

    codec = G711Codec(0)
    t = np.arange(160) / 8000
    return [
        codec.encode(np.round(6000 * np.sin(2 * np.pi * 440 * (t + i * 0.02))).astype(np.int16))
        for i in range(TONE_FRAMES)
    ]


class Stream:
    __slots__ = ("addr", "seq", "ssrc")

    def __init__(self, addr: tuple[str, int], ssrc: int) -> None:
        self.addr = addr
        self.ssrc = ssrc
        self.seq = 0


class Caller:
    """Streams in sub-slots; ``due`` is the next sub-slot's deadline (monotonic s)."""

    def __init__(
        self, sock: socket.socket, payloads: list[bytes], now: float, slots: int = SLOTS
    ) -> None:
        self.sock = sock
        self.payloads = payloads
        self.slots: list[list[Stream]] = [[] for _ in range(slots)]
        self.start = now
        self.k = 0  # index of the next sub-slot to fire, counted from start
        self.sent = 0
        self.send_errors = 0
        self.late_max = 0.0
        self._ssrc = 0x10000

    def add(self, ports: list[int]) -> None:
        for port in ports:
            slot = min(range(len(self.slots)), key=lambda s: len(self.slots[s]))
            self._ssrc += 1
            self.slots[slot].append(Stream(("127.0.0.1", int(port)), self._ssrc))

    def clear(self) -> None:
        self.slots = [[] for _ in self.slots]

    def due(self) -> float:
        return self.start + self.k * PERIOD / len(self.slots)

    def fire(self, now: float) -> None:
        """Send every sub-slot whose deadline has passed, in order."""
        while self.due() <= now:
            self.late_max = max(self.late_max, now - self.due())
            self._send(self.slots[self.k % len(self.slots)])
            self.k += 1

    def _send(self, streams: list[Stream]) -> None:
        sendto, pack, payloads = self.sock.sendto, HEADER.pack, self.payloads
        for s in streams:
            seq = s.seq
            packet = pack(0x80, 0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, s.ssrc)
            try:
                sendto(packet + payloads[seq % TONE_FRAMES], s.addr)
            except OSError:  # a call that ended: its port is gone (ICMP), nothing queued
                self.send_errors += 1
            s.seq = seq + 1
        self.sent += len(streams)


def serve(slots: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the echo is never read
    sock.setblocking(False)
    caller = Caller(sock, tone_payloads(), time.monotonic(), slots)
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    stdin = sys.stdin
    while True:
        wait = max(0.0, caller.due() - time.monotonic())
        ready, _, _ = select.select([stdin], [], [], wait)
        caller.fire(time.monotonic())
        if not ready:
            continue
        line = stdin.readline().strip()
        if line in ("", "quit"):
            return
        if line == "clear":
            caller.clear()
        elif line == "snap":
            out = {"sent": caller.sent, "late_max": caller.late_max, "cpu": time.process_time()}
            print(json.dumps({**out, "send_errors": caller.send_errors}), flush=True)
            caller.late_max = 0.0
        else:
            caller.add(json.loads(line)["add"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=SLOTS, help="sub-slots of 20 ms")
    serve(parser.parse_args().slots)
