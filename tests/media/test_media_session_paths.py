"""MediaSession's batched group tick and its per-session tick (the pacer's fault fallback)
send the same packets and deliver the same frames. No sockets: a clock and a fake transport."""

from __future__ import annotations

import numpy as np

from media.session import MediaSession
from media.stream import RtpStream


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now


class Capture:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr: object) -> None:
        self.sent.append(data)


def make(clock: Clock, pt: int) -> tuple[MediaSession, Capture]:
    session = MediaSession(
        local_addr=("127.0.0.1", 0), remote_addr=("127.0.0.1", 9), payload_type=pt
    )
    capture = Capture()
    session._loop = clock  # type: ignore[assignment]
    session._rtp = capture  # type: ignore[assignment]
    session._inbound_active = True
    stream = session.stream
    stream.ssrc, stream._seq, stream._timestamp = 1234, 100, 5000
    return session, capture


def test_group_and_single_ticks_agree() -> None:
    clock = Clock()
    pts = [0, 8, 0, 9]
    grouped = [make(clock, pt) for pt in pts]
    single = [make(clock, pt) for pt in pts]
    t = np.arange(320 * 30) / 16000
    tone = np.round(7000 * np.sin(2 * np.pi * 700 * t)).astype(np.int16).reshape(30, 320)
    peer = {
        pt: RtpStream(remote_addr=("127.0.0.1", 1), payload_type=pt, ssrc=99) for pt in set(pts)
    }
    for p in peer.values():
        p.audio.extend(tone)
    incoming = {pt: [p.tick_send() for _ in range(30)] for pt, p in peer.items()}
    frames_g: list[list[np.ndarray]] = [[] for _ in pts]
    frames_s: list[list[np.ndarray]] = [[] for _ in pts]
    for (g, _), (s, _) in zip(grouped, single, strict=True):
        g.stream.audio.extend(tone[:20])
        s.stream.audio.extend(tone[:20])
    for n in range(30):
        clock.now = n * 0.02
        for i, pt in enumerate(pts):
            packet = incoming[pt][n]
            assert packet is not None
            grouped[i][0]._on_rtp(packet, ("127.0.0.1", 1))
            single[i][0]._on_rtp(packet, ("127.0.0.1", 1))
        clock.now += 0.001
        MediaSession.tick_group([g for g, _ in grouped], clock.now, False)
        for s, _ in single:
            s.on_tick(clock.now, False)
        for i in range(len(pts)):
            while grouped[i][0]._inbound:
                frames_g[i].append(grouped[i][0]._inbound.popleft())
            while single[i][0]._inbound:
                frames_s[i].append(single[i][0]._inbound.popleft())
    for i, pt in enumerate(pts):
        sent_g, sent_s = grouped[i][1].sent, single[i][1].sent
        assert len(sent_g) == len(sent_s) == 30
        assert [p[:12] for p in sent_g] == [p[:12] for p in sent_s]
        if pt == 9:  # G.722 never batches: identical bytes
            assert sent_g == sent_s
        assert len(frames_g[i]) == len(frames_s[i]) > 20
        for a, b in zip(frames_g[i], frames_s[i], strict=True):
            assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
