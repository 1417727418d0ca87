"""Two MediaSessions over real UDP sockets on 127.0.0.1 (bounded real-time waits: the
pacer runs on the loop's clock, so each test lasts about a second of audio)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from media.dtmf import DtmfEvent
from media.session import MediaSession
from media.srtp import SrtpKey
from media.stream import FRAME_SAMPLES
from media.transport import Pacer

LOCAL = ("127.0.0.1", 0)


def tone_frames(freq: float, count: int, amp: float = 8000.0) -> list[np.ndarray]:
    t = np.arange(count * FRAME_SAMPLES) / 16000
    sig = np.round(amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return list(sig.reshape(count, FRAME_SAMPLES))


def peak_hz(signal: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / 16000)[np.argmax(spectrum)])


async def connected(**kwargs) -> tuple[MediaSession, MediaSession]:  # type: ignore[no-untyped-def]
    a = MediaSession(local_addr=LOCAL, **kwargs.get("a", {}))
    b = MediaSession(local_addr=LOCAL, **kwargs.get("b", {}))
    await a.start()
    await b.start()
    a.update_remote(b.local_addr)
    b.update_remote(a.local_addr)
    return a, b


async def collect(session: MediaSession, count: int) -> list[np.ndarray]:
    frames = []
    async for frame in session.inbound():
        frames.append(frame)
        if len(frames) == count:
            break
    return frames


def loud(frame: np.ndarray) -> bool:
    return float(np.sqrt(np.mean(frame.astype(float) ** 2))) > 1000


async def test_tone_both_directions_measured_by_the_receiver() -> None:
    a, b = await connected()
    try:
        async with asyncio.timeout(10):
            got_b = asyncio.create_task(collect(b, 45))
            got_a = asyncio.create_task(collect(a, 45))
            done = await asyncio.gather(a.play(tone_frames(1000, 40)), b.play(tone_frames(440, 40)))
            assert done == [True, True]
            heard_by_b = np.concatenate([f for f in await got_b if loud(f)])
            heard_by_a = np.concatenate([f for f in await got_a if loud(f)])
        assert len(heard_by_b) >= 10 * FRAME_SAMPLES
        assert abs(peak_hz(heard_by_b) - 1000) < 5
        assert abs(peak_hz(heard_by_a) - 440) < 5
        stats = b.stats()
        assert stats.packets_received >= 40
        assert stats.packets_lost == 0
        assert a.stats().packets_sent >= 40
    finally:
        await a.close()
        await b.close()


async def test_async_iterable_source_and_ports() -> None:
    a, b = await connected()
    try:
        assert a.local_addr[1] % 2 == 0  # RTP even, RTCP on the next port

        async def source() -> AsyncIterator[np.ndarray]:
            for frame in tone_frames(700, 20):
                await asyncio.sleep(0)
                yield frame

        async with asyncio.timeout(10):
            listener = asyncio.create_task(collect(b, 25))
            assert await a.play(source()) is True
            heard = np.concatenate([f for f in await listener if loud(f)])
        assert abs(peak_hz(heard) - 700) < 10
        with pytest.raises(ValueError, match="320-sample"):
            await a.play([np.zeros(160, dtype=np.int16)])
    finally:
        await a.close()
        await b.close()


async def test_dtmf_both_ways() -> None:
    a, b = await connected()
    try:
        async with asyncio.timeout(10):
            a.send_dtmf("12#")
            b.send_dtmf("*9")
            received_by_b: list[DtmfEvent] = []
            received_by_a: list[DtmfEvent] = []

            async def gather_events(session: MediaSession, into: list[DtmfEvent], n: int) -> None:
                async for event in session.dtmf_events():
                    into.append(event)
                    if len(into) == n:
                        return

            await asyncio.gather(
                gather_events(b, received_by_b, 3),
                gather_events(a, received_by_a, 2),
                a.drain_dtmf(),
                b.drain_dtmf(),
            )
        assert [e.digit for e in received_by_b] == ["1", "2", "#"]
        assert [e.digit for e in received_by_a] == ["*", "9"]
        assert all(
            e.duration_ms == 100 and e.source == "rfc4733" for e in received_by_a + received_by_b
        )
        assert a.stats().dtmf_sent == 3
    finally:
        await a.close()
        await b.close()


async def test_srtp_between_two_sessions() -> None:
    ka, kb = SrtpKey.generate(), SrtpKey.generate()
    a, b = await connected(a={"srtp_tx": ka, "srtp_rx": kb}, b={"srtp_tx": kb, "srtp_rx": ka})
    eavesdropper = MediaSession(local_addr=LOCAL)  # plain RTP into b must be refused
    await eavesdropper.start()
    try:
        async with asyncio.timeout(10):
            listener = asyncio.create_task(collect(b, 30))
            assert await a.play(tone_frames(1000, 25))
            heard = np.concatenate([f for f in await listener if loud(f)])
        assert abs(peak_hz(heard) - 1000) < 5
        assert b.stats().rejected_packets == 0
        eavesdropper.update_remote(b.local_addr)
        async with asyncio.timeout(5):
            await collect(a, 5)  # let a few ticks pass
        assert b.stats().rejected_packets > 0
    finally:
        for s in (a, b, eavesdropper):
            await s.close()


async def test_cancel_playback_stops_within_one_frame() -> None:
    a, b = await connected()
    try:
        async with asyncio.timeout(10):
            player = asyncio.create_task(a.play(tone_frames(1000, 200)))
            heard = 0
            async for frame in b.inbound():
                heard += loud(frame)
                if heard == 5:
                    break
            sent_at_cancel = a.stream.audio_frames_sent
            a.cancel_playback()
            assert await player is False
            after = await collect(b, 20)
        # nothing queued before the cancel reaches the wire afterwards
        assert a.stream.audio_frames_sent == sent_at_cancel
        # the receiver still plays what was in flight or in its jitter buffer (at most
        # its 200 ms ceiling), then silence that does not turn back into tone
        flags = [loud(f) for f in after]
        assert sum(flags) <= 11
        assert not any(flags[-5:])
        # the session keeps working: a new play completes
        assert await a.play(tone_frames(1000, 3)) is True
    finally:
        await a.close()
        await b.close()


async def test_cancel_also_refuses_plays_waiting_behind() -> None:
    a, b = await connected()
    try:
        async with asyncio.timeout(10):
            first = asyncio.create_task(a.play(tone_frames(500, 100)))
            second = asyncio.create_task(a.play(tone_frames(600, 100)))
            await collect(b, 3)
            a.cancel_playback()
            assert await first is False
            assert await second is False
    finally:
        await a.close()
        await b.close()


async def test_rtcp_reports_flow_and_close_leaves_the_pacer() -> None:
    a, b = await connected()
    try:
        async with asyncio.timeout(10):
            await collect(b, 5)
            a.stream._next_rtcp = 0.0  # due at the next tick instead of in ~5 s
            b.stream._next_rtcp = 0.0
            await collect(a, 5)
        assert a.stats().remote_jitter_ms is not None
        assert b.stats().remote_jitter_ms is not None
    finally:
        await a.close()
        await b.close()
    assert a._pacer is not None
    assert a._pacer.sessions == 0
    assert asyncio.get_running_loop() not in Pacer._by_loop  # nothing kept for this loop


async def test_g722_and_g711_sessions_share_the_pacer() -> None:
    a, b = await connected(a={"payload_type": 9}, b={"payload_type": 9})
    c, d = await connected()
    try:
        async with asyncio.timeout(10):
            wide = asyncio.create_task(collect(b, 30))
            narrow = asyncio.create_task(collect(d, 30))
            done = await asyncio.gather(
                a.play(tone_frames(5000, 25)), c.play(tone_frames(1000, 25))
            )
            assert done == [True, True]
            heard_wide = np.concatenate([f for f in await wide if loud(f)])
            heard_narrow = np.concatenate([f for f in await narrow if loud(f)])
        assert abs(peak_hz(heard_wide) - 5000) < 10
        assert abs(peak_hz(heard_narrow) - 1000) < 5
    finally:
        for s in (a, b, c, d):
            await s.close()


async def test_port_range_and_explicit_even_port() -> None:
    s = MediaSession(local_addr=LOCAL, port_range=(41000, 41010))
    await s.start()
    try:
        assert 41000 <= s.local_addr[1] < 41010
        assert s.local_addr[1] % 2 == 0
    finally:
        await s.close()
    with pytest.raises(ValueError, match="even"):
        await MediaSession(local_addr=("127.0.0.1", 41001)).start()


async def test_rtcp_mux_reports_on_the_rtp_port() -> None:
    a, b = await connected(a={"rtcp_mux": True}, b={"rtcp_mux": True})
    try:
        async with asyncio.timeout(10):
            await collect(b, 5)
            a.stream._next_rtcp = 0.0
            b.stream._next_rtcp = 0.0
            await collect(a, 5)
        assert a.stats().remote_jitter_ms is not None
        assert b.stats().remote_jitter_ms is not None
        assert a.stats().rejected_packets == 0  # RTCP was not mistaken for RTP
    finally:
        await a.close()
        await b.close()


async def test_srtp_keys_set_after_start_and_info_dtmf_injected() -> None:
    """The gateway binds first (the SDP needs our port), then applies the negotiated keys."""
    a, b = await connected()
    ka, kb = (
        SrtpKey.generate("AES_CM_128_HMAC_SHA1_32"),
        SrtpKey.generate("AES_CM_128_HMAC_SHA1_32"),
    )
    a.set_srtp(ka, kb)
    b.set_srtp(kb, ka)
    try:
        async with asyncio.timeout(10):
            listener = asyncio.create_task(collect(b, 30))
            assert await a.play(tone_frames(1000, 25))
            heard = np.concatenate([f for f in await listener if loud(f)])
            b.inject_dtmf("7")
            event = await anext(b.dtmf_events())
        assert abs(peak_hz(heard) - 1000) < 5
        assert a.stream.srtp is not None
        assert event == DtmfEvent("7", 160, source="info")
        a.set_srtp(None, None)
        assert a.stream.srtp is None
    finally:
        await a.close()
        await b.close()


async def test_nothing_is_sent_to_an_unspecified_address() -> None:
    """c=0.0.0.0 (RFC 3264 8.4): neither RTP nor RTCP goes to the peer. Before: RTCP
    reports and the closing RTCP BYE were sent to 0.0.0.0:port+1, which the kernel
    delivers to this host, so a peer could aim our packets at any local port."""
    from tests.gateway.rtp_probe import open_probe, open_rtp_pair  # noqa: PLC0415

    rtp, rtcp = await open_rtp_pair()
    session = MediaSession(local_addr=LOCAL)
    await session.start()
    try:
        session.update_remote(("0.0.0.0", rtp.addr[1]))
        assert session.stream.remote_addr is None
        assert session.stream.remote_rtcp_addr is None
        # RTP from any host is still refused: nothing latches while the address is unknown
        peer = MediaSession(local_addr=LOCAL)
        await peer.start()
        peer.update_remote(session.local_addr)
        await peer.play(tone_frames(440, 10))
        await peer.close()
        await session.close()  # the RTCP BYE would go now
        # A marker sent after it lands behind anything sent before (loopback queues a
        # datagram in the receiver's buffer within sendto): no sleep needed.
        marker = await open_probe()
        for probe in (rtp, rtcp):
            marker.send(b"marker", probe.addr)
            await probe.wait(lambda p=probe: bool(p.got), timeout=5)
            assert [data for _, _, data in probe.got] == [b"marker"]
        marker.close()
        assert session.stream.stats().packets_received == 0
    finally:
        await session.close()
        rtp.close()
        rtcp.close()


async def test_a_peer_on_the_last_port_has_no_rtcp_port_and_the_session_closes() -> None:
    """m=audio 65535: RTCP would go to port 65536. Before: every RTCP send raised
    OverflowError, which stopped the call's media at the first report and made close()
    raise before the sockets were closed (the ports stayed bound)."""
    session = MediaSession(local_addr=LOCAL)
    await session.start()
    session.update_remote(("127.0.0.1", 65535))
    assert session.stream.remote_rtcp_addr is None
    await session.close()  # the RTCP BYE has nowhere to go: skipped, no error
