"""What the far end hears: late and lost RTP at the receiver, for ``bench/media_capacity.py``.

    .venv/bin/python bench/media_receiver.py --port 6000     # (root: a packet socket)

The gateway's own counters say when its pacer *sent* (``late_ticks``); this says when
packets *arrived* where the caller listens. A packet socket on ``lo`` with a kernel
filter (UDP to ``--port``, the address SIPp offers in its SDP and the gateway latches to)
takes the kernel's arrival timestamp of every RTP packet the gateway sends to SIPp, which
never reads them. Kernel timestamps make the figures independent of when this process
itself gets a CPU.

A receiver with a fixed jitter buffer of D ms, started at the stream's fastest packet,
plays a packet on time when its delay beyond that fastest one is at most D
(``late_fractions``). Lines on stdin: ``snap`` prints the figures since the last snap as
one JSON line and starts afresh; ``quit`` ends.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import struct
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

CLOCK_RATE = 8000
BUDGETS_MS = (10, 20, 40, 60)
ETH, IP, UDP = 14, 20, 8  # lo: a zero Ethernet header; IPv4 without options
RTP_AT = ETH + IP + UDP
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
PACKET_HOST = 0  # lo shows each datagram twice: outgoing and host; keep one


def late_fractions(
    packets: Iterable[tuple[float, int, int]], budgets_ms: Sequence[int] = BUDGETS_MS
) -> dict[str, Any]:
    """``packets``: one stream's (arrival s, RTP timestamp, sequence) in arrival order.

    Returns the packets received, the ones missing by sequence (lost), and for each
    budget D the fraction of packets arriving more than D ms after a fixed-buffer
    receiver started at the fastest packet would play them."""
    items = list(packets)
    if not items:
        return {"received": 0, "lost": 0, "late": dict.fromkeys(budgets_ms, 0)}
    _, ts0, seq0 = items[0]
    delays = []
    seqs = set()
    for arrival, ts, seq in items:
        rel_ts = (ts - ts0 + 2**31) % 2**32 - 2**31  # unwrapped around the first packet
        delays.append(arrival - rel_ts / CLOCK_RATE)
        seqs.add((seq - seq0 + 2**15) % 2**16 - 2**15)
    fastest = min(delays)
    late = {d: sum(1 for x in delays if x - fastest > d / 1000) for d in budgets_ms}
    expected = max(seqs) - min(seqs) + 1
    return {"received": len(items), "lost": max(0, expected - len(seqs)), "late": late}


def summarise(streams: dict[Any, list[tuple[float, int, int]]]) -> dict[str, Any]:
    received = lost = 0
    late = dict.fromkeys(BUDGETS_MS, 0)
    for packets in streams.values():
        r = late_fractions(packets)
        received += r["received"]
        lost += r["lost"]
        for d in BUDGETS_MS:
            late[d] += r["late"][d]
    return {
        "streams": len(streams),
        "received": received,
        "lost": lost,
        "late": {str(d): n for d, n in late.items()},
        "cpu": time.process_time(),
    }


def _filter(port: int) -> bytes:
    """Classic BPF: a packet the host receives, UDP to ``port``; whole packet kept."""
    prog = [
        (0x20, 0, 0, 0xFFFFF004),  # ld pkttype (SKF_AD_OFF + SKF_AD_PKTTYPE)
        (0x15, 0, 5, PACKET_HOST),  # jeq host, else drop
        (0x30, 0, 0, ETH + 9),  # ldb ip protocol
        (0x15, 0, 3, 17),  # jeq udp, else drop
        (0x28, 0, 0, ETH + IP + 2),  # ldh udp destination port
        (0x15, 0, 1, port),  # jeq port, else drop
        (0x06, 0, 0, 0x40000),  # accept
        (0x06, 0, 0, 0),  # drop
    ]
    return b"".join(struct.pack("HBBI", *ins) for ins in prog)


def serve(port: int) -> None:
    # protocol 0: no packet reaches the socket before its filter is attached (then bind)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    code = _filter(port)
    import ctypes  # noqa: PLC0415 - only the sniffer needs it

    buf = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(code) // 8, ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("lo", 0x0800))  # Python converts this one to network order itself
    sock.setblocking(False)
    streams: dict[tuple[int, int], list[tuple[float, int, int]]] = {}
    header = struct.Struct("!HH")
    rtp = struct.Struct("!BBHII")
    stamp = struct.Struct("qq")
    print(json.dumps({"ready": True}), flush=True)
    while True:
        ready, _, _ = select.select([sock, sys.stdin], [], [])
        if sock in ready:
            while True:
                try:
                    data, anc, _, _ = sock.recvmsg(2048, 64)
                except BlockingIOError:
                    break
                if len(data) < RTP_AT + 12 or not anc:
                    continue
                sec, nsec = stamp.unpack_from(anc[0][2])
                src, _ = header.unpack_from(data, ETH + IP)
                first, _, seq, ts, ssrc = rtp.unpack_from(data, RTP_AT)
                if first >> 6 != 2:
                    continue
                streams.setdefault((src, ssrc), []).append((sec + nsec / 1e9, ts, seq))
        if sys.stdin in ready:
            line = sys.stdin.readline().strip()
            if line != "snap":
                return
            print(json.dumps(summarise(streams)), flush=True)
            streams = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args().port)


if __name__ == "__main__":
    main()
