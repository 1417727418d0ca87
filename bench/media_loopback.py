"""How many G.711 RTP sessions one core holds with ``MediaSession`` (media only, no SIP:
the SIPp version with the gateway is ``bench/media_capacity.py``).

    .venv/bin/python bench/media_loopback.py [--calls 100,200,300,400] [--seconds 10] [--srtp]

The gateway process (pinned to one CPU) opens N ``MediaSession``s that **echo**: each plays
back its own ``inbound()`` frames, so every call runs the full path both ways (RTP parse,
jitter buffer, G.711 decode, 8->16 kHz, 16->8 kHz, encode, paced send, RTCP). A peer
process (pinned to the other CPU when there is one; ``MEDIA_BENCH_NO_PIN=1`` lets the
scheduler place both, better on a machine shared with other work) sends each session
50 packets/s, spread over the 20 ms period like independent phones, from
one socket and checks what comes back. For each N it prints the gateway CPU per call, late
send ticks, inbound concealment (lost or late frames) and loss seen by the peer; the
summary is the largest N whose late+lost frames stay under 0.1%.

SIP set-up rate belongs to the gateway bench (SIPp) once signalling joins the media.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import struct
import time
from multiprocessing.connection import Connection

import numpy as np

from media.g711 import G711Codec
from media.session import MediaSession
from media.srtp import SrtpContext, SrtpKey

PERIOD = 0.02
WARMUP = 2.0
KEY_A = SrtpKey("AES_CM_128_HMAC_SHA1_80", bytes(range(30)))
KEY_B = SrtpKey("AES_CM_128_HMAC_SHA1_80", bytes(range(30, 60)))


def pin(cpu: int) -> None:
    if os.environ.get("MEDIA_BENCH_NO_PIN"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[cpu % len(cpus)]})


# --- peer: one socket, paced sends to every gateway port, counts what returns ------------


def peer_main(conn: Connection, use_srtp: bool) -> None:
    pin(1)
    asyncio.run(_peer(conn, use_srtp))


async def _peer(conn: Connection, use_srtp: bool) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    conn.send(sock.getsockname())
    ports: list[int] = conn.recv()
    t = np.arange(160) / 8000
    payload = G711Codec(0).encode(np.round(6000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16))
    srtp = [SrtpContext(KEY_B, KEY_A) for _ in ports] if use_srtp else None
    header = struct.Struct("!BBHII")
    received = dict.fromkeys(ports, 0)
    first_seq: dict[int, int] = {}
    last_seq: dict[int, int] = {}

    def drain() -> None:
        while True:
            try:
                data, addr = sock.recvfrom(2048)
            except BlockingIOError:
                return
            port = addr[1]
            if port in received and len(data) >= 12:
                seq = struct.unpack_from("!H", data, 2)[0]
                received[port] += 1
                first_seq.setdefault(port, seq)
                last_seq[port] = seq

    # The return socket is drained on our own 20 ms cadence instead of being watched:
    # a watched socket makes every gateway sendto wake this process, and on a VM each
    # cross-CPU wake-up costs the *sender* ~0.1 ms of stalled time, which would measure
    # the hypervisor rather than the gateway (a real peer sits behind a NIC).
    cpu0, wall0 = time.process_time(), time.monotonic()
    stop = asyncio.Event()
    loop.add_reader(conn.fileno(), stop.set)
    start = loop.time() + 0.05
    n = 0
    # Phones are not synchronised: each port gets its own phase in the 20 ms period
    # (SUBSLOTS groups), so the gateway sees arrivals spread as from independent callers.
    subslots = 10
    while not stop.is_set():
        for k in range(subslots):
            deadline = start + n * PERIOD + k * PERIOD / subslots
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if k == 0:
                drain()
            for i in range(k, len(ports), subslots):
                packet = (
                    header.pack(0x80, 0, n & 0xFFFF, (n * 160) & 0xFFFFFFFF, 1000 + i) + payload
                )
                if srtp is not None:
                    packet = srtp[i].protect(packet)
                sock.sendto(packet, ("127.0.0.1", ports[i]))
        n += 1
    drain()
    conn.recv()
    expected = sum((last_seq[p] - first_seq[p]) % 65536 + 1 for p in last_seq)
    cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
    conn.send({"received": sum(received.values()), "expected": expected, "cpu": cpu})


# --- gateway: N echoing sessions on one core ----------------------------------------------


async def _gateway(
    mode: str, calls: int, seconds: float, use_srtp: bool, conn: Connection
) -> dict[str, float]:
    peer_addr = tuple(conn.recv())
    keys = {"srtp_tx": KEY_A, "srtp_rx": KEY_B} if use_srtp else {}
    sessions = [MediaSession(local_addr=("127.0.0.1", 0), **keys) for _ in range(calls)]  # type: ignore[arg-type]
    for s in sessions:
        await s.start()
        s.update_remote(peer_addr)  # type: ignore[arg-type]
    conn.send([s.local_addr[1] for s in sessions])

    async def listen(session: MediaSession) -> None:
        async for _frame in session.inbound():
            pass

    async def echo(session: MediaSession) -> None:
        async def frames():  # type: ignore[no-untyped-def]
            async for frame in session.inbound():
                yield frame

        await session.play(frames())

    async with asyncio.TaskGroup() as group:
        work = echo if mode == "echo" else listen
        tasks = [group.create_task(work(s)) for s in sessions]
        await asyncio.sleep(WARMUP)
        before = [s.stats() for s in sessions]
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, wall1 = time.process_time(), time.monotonic()
        after = [s.stats() for s in sessions]
        conn.send("stop")
        for s in sessions:
            await s.close()
        for task in tasks:
            task.cancel()
    wall = wall1 - wall0
    ticks = calls * wall / PERIOD
    late = sum(
        a.late_ticks + a.skipped_ticks - b.late_ticks - b.skipped_ticks
        for a, b in zip(after, before, strict=True)
    )
    concealed = sum(
        a.concealed_frames - b.concealed_frames for a, b in zip(after, before, strict=True)
    )
    received = sum(
        a.packets_received - b.packets_received for a, b in zip(after, before, strict=True)
    )
    return {
        "cpu": (cpu1 - cpu0) / wall,
        "late": late / ticks,
        "concealed": concealed / ticks,
        "received": received / ticks,
    }


def gateway_main(
    mode: str, calls: int, seconds: float, use_srtp: bool, conn: Connection
) -> dict[str, float]:
    pin(0)
    return asyncio.run(_gateway(mode, calls, seconds, use_srtp, conn))


def run_step(mode: str, calls: int, seconds: float, use_srtp: bool) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    peer = ctx.Process(target=peer_main, args=(theirs, use_srtp))
    peer.start()
    result = gateway_main(mode, calls, seconds, use_srtp, ours)
    peer_counts = ours.recv()
    peer.join(10)
    result["peer_loss"] = 1 - peer_counts["received"] / max(1, peer_counts["expected"])
    result["peer_cpu"] = peer_counts["cpu"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", default="100,200,300,400")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--srtp", action="store_true")
    parser.add_argument(
        "--mode",
        choices=["echo", "listen"],
        default="echo",
        help="echo: play back every inbound frame; listen: consume inbound, send silence",
    )
    args = parser.parse_args()
    cpus = len(os.sched_getaffinity(0))
    print(f"CPUs: {cpus}; mode: {args.mode}; SRTP: {args.srtp}; {args.seconds:.0f} s per step")
    head = ("calls", "core %", "us/call/s", "late %", "conceal %", "peer loss %", "peer core %")
    widths = (6, 7, 10, 7, 10, 12, 12)
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, widths, strict=True)))
    best = 0
    for calls in [int(c) for c in args.calls.split(",")]:
        r = run_step(args.mode, calls, args.seconds, args.srtp)
        bad = r["late"] + r["concealed"] + max(0.0, r["peer_loss"])
        print(
            f"{calls:>6} {r['cpu'] * 100:>7.1f} {r['cpu'] / calls * 1e6:>10.0f} "
            f"{r['late'] * 100:>7.3f} {r['concealed'] * 100:>10.3f} {r['peer_loss'] * 100:>12.3f}"
            f" {r['peer_cpu'] * 100:>12.1f}"
        )
        if bad < 0.001 and r["cpu"] < 0.95:
            best = calls
    print(f"\nmost concurrent G.711 calls ({args.mode}) on one core with <0.1% late/lost: {best}")


if __name__ == "__main__":
    main()
