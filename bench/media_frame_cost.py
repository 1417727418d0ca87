"""Per-frame CPU cost of the media hot paths (one core, no sockets).

    .venv/bin/python bench/media_frame_cost.py [--frames 20000]

Prints microseconds per 20 ms frame for each stage and for the full send path
(16 kHz frame -> downsample -> G.711 encode -> RTP header, as ``RtpStream.tick_send``)
and receive path (RTP parse -> jitter buffer -> decode -> upsample, as
``receive_rtp`` + ``tick_receive``), and what that means in calls per core.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from media.batch import (
    decode_upsample_many,
    downsample_encode_many,
    downsample_encode_packets,
    limit_blas_threads,
)
from media.g711 import G711Codec
from media.resample import Downsampler, Upsampler
from media.rtp import RtpPacket, pack_rtp
from media.srtp import SrtpContext, SrtpKey
from media.stream import RtpStream


def per_call(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - start) / n)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=20000)
    n = parser.parse_args().frames
    limit_blas_threads(1)  # as the pacer does

    rng = np.random.default_rng(0)
    frame16 = rng.integers(-8000, 8000, 320).astype(np.int16)
    frame8 = rng.integers(-8000, 8000, 160).astype(np.int16)
    codec = G711Codec(0)
    payload = codec.encode(frame8)
    down, up = Downsampler(), Upsampler()
    packet = pack_rtp(0, 1, 160, 1234, payload)

    rows = [
        ("downsample 16k->8k (320 samples)", per_call(lambda: down.process(frame16), n)),
        ("upsample 8k->16k (160 samples)", per_call(lambda: up.process(frame8), n)),
        ("G.711 encode (160)", per_call(lambda: codec.encode(frame8), n)),
        ("G.711 decode (160)", per_call(lambda: codec.decode(payload), n)),
        ("RTP header pack", per_call(lambda: pack_rtp(0, 1, 160, 1234, payload), n)),
        ("RTP parse", per_call(lambda: RtpPacket.parse(packet), n)),
    ]

    def send_path(stream: RtpStream) -> float:
        def one() -> None:
            stream.audio.append(frame16)
            stream.tick_send()

        return per_call(one, n)

    def receive_path(srtp: bool) -> float:
        ka, kb = SrtpKey.generate(), SrtpKey.generate()
        tx = RtpStream(remote_addr=("127.0.0.1", 2), srtp=SrtpContext(ka, kb) if srtp else None)
        rx = RtpStream(remote_addr=("127.0.0.1", 1), srtp=SrtpContext(kb, ka) if srtp else None)
        packets = []
        for _ in range(3 * n + 10):
            tx.audio.append(frame16)
            packets.append(tx.tick_send())
        state = {"i": 0, "now": 0.0}

        def one() -> None:
            i = state["i"]
            now = i * 0.02
            rx.receive_rtp(packets[i], ("127.0.0.1", 2), now)
            rx.tick_receive(now + 0.001)
            state["i"] = i + 1

        return per_call(one, n)

    ka, kb = SrtpKey.generate(), SrtpKey.generate()
    send_plain = send_path(RtpStream(remote_addr=("127.0.0.1", 1)))
    send_srtp = send_path(RtpStream(remote_addr=("127.0.0.1", 1), srtp=SrtpContext(ka, kb)))
    recv_plain = receive_path(False)
    recv_srtp = receive_path(True)
    silence = RtpStream(remote_addr=("127.0.0.1", 1))
    group = 25  # sessions per pacer phase at 100 calls
    downs = [Downsampler() for _ in range(group)]
    ups = [Upsampler() for _ in range(group)]
    codecs = [codec] * group
    batch_send = per_call(
        lambda: downsample_encode_many(downs, [frame16] * group, codecs), n // group
    )
    batch_recv = per_call(lambda: decode_upsample_many(ups, [payload] * group, codecs), n // group)
    headers = [packet[:12]] * group

    def payloads_then_packets() -> None:  # the payload path, then a header per packet
        for p in downsample_encode_many(downs, [frame16] * group, codecs):
            pack_rtp(0, 1, 160, 1234, p)

    batch_payload_packets = per_call(payloads_then_packets, n // group)
    batch_packets = per_call(
        lambda: downsample_encode_packets(downs, [frame16] * group, codecs, headers), n // group
    )
    rows += [
        (f"batched down+encode, per session ({group} at once)", batch_send / group),
        (f"batched decode+up, per session ({group} at once)", batch_recv / group),
        ("batched down+encode, then header + payload per packet", batch_payload_packets / group),
        ("batched down+encode into whole packets (one buffer)", batch_packets / group),
        ("send path: frame -> RTP bytes (RtpStream.tick_send)", send_plain),
        ("send path with SRTP", send_srtp),
        ("send path, idle (pre-encoded silence)", per_call(silence.tick_send, n)),
        ("receive path: RTP -> 16 kHz frame", recv_plain),
        ("receive path with SRTP", recv_srtp),
    ]
    width = max(len(name) for name, _ in rows)
    for name, us in rows:
        print(f"{name:<{width}}  {us:7.2f} us/frame")
    full = send_plain + recv_plain
    print(
        f"\nmedia logic per call, both directions: {full:.1f} us per 20 ms "
        f"= {full * 50 / 1e4:.2f}% of a core; the logic alone would allow "
        f"~{int(1e6 / (full * 50))} calls/core"
    )
    print("(socket send/receive and event-loop overhead come on top: see bench/media_loopback.py)")


if __name__ == "__main__":
    main()
