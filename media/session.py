"""``MediaSession``: one call's RTP leg on asyncio (the contract in ARCHITECTURE.md).

    session = MediaSession(
        local_addr=("127.0.0.1", 0),      # port 0: a free even port (RTCP on port + 1)
        remote_addr=("192.0.2.10", 40000),  # from the SDP; None until known (latching)
        payload_type=0,                   # 0 PCMU, 8 PCMA, 9 G.722
        dtmf_payload_type=101,            # telephone-event PT, None: in-band tones
        srtp_tx=SrtpKey.from_inline(suite, our_inline),    # SDES keys, both or neither
        srtp_rx=SrtpKey.from_inline(suite, their_inline),
        direction="sendrecv",             # sendonly / recvonly / inactive for hold
    )
    await session.start()                 # binds the sockets, joins the shared pacer
    session.local_addr                    # -> (host, even port) for our SDP
    async for frame in session.inbound(): ...   # numpy int16, 320 samples, 16 kHz, 20 ms
    completed = await session.play(frames)      # (async) iterable of such frames;
                                                # False when cancel_playback() stopped it
    session.cancel_playback()             # barge-in: nothing queued is sent after this
    session.send_dtmf("123#")             # await session.drain_dtmf() to wait for it
    async for event in session.dtmf_events(): ...   # DtmfEvent(digit, duration_ms, source)
    session.update_remote(addr)           # re-INVITE; also set_direction(), set_codec()
    session.stats()                       # MediaStats (packets, loss, jitter, late, ...)
    await session.close()                 # RTCP BYE, sockets closed, iterators end

All protocol logic lives in ``media.stream.RtpStream`` (sans-IO); this file only moves
bytes, frames and wake-ups between it, the sockets and the pacer.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from types import TracebackType

import numpy as np

from media.batch import (
    NARROW,
    batchable_down,
    batchable_up,
    decode_upsample_many,
    downsample_encode_many,
    downsample_encode_packets,
)
from media.dtmf import DtmfEvent
from media.g711 import G711Codec
from media.jitter import JitterBuffer
from media.rtp import is_rtcp
from media.srtp import SrtpContext, SrtpKey
from media.stream import FRAME_SAMPLES, Address, Direction, Int16Array, MediaStats, RtpStream
from media.transport import PORT_RANGE, Pacer, TickTarget, UdpPort, open_pair, open_single

PLAY_AHEAD = 2  # frames queued ahead of the pacer; bounds cancel latency to one tick
INBOUND_QUEUE = 50  # 1 s of inbound frames kept for a slow consumer, oldest dropped
DTMF_QUEUE = 64


class MediaSession(TickTarget):
    def __init__(
        self,
        *,
        local_addr: Address,
        remote_addr: Address | None = None,
        payload_type: int = 0,
        dtmf_payload_type: int | None = 101,
        ptime_ms: int = 20,
        srtp_tx: SrtpKey | None = None,
        srtp_rx: SrtpKey | None = None,
        direction: Direction | str = Direction.SENDRECV,
        send_silence: bool = True,
        rtcp: bool = True,
        rtcp_mux: bool = False,
        inband_dtmf: bool = False,
        jitter_min_delay: float = 0.04,
        jitter_max_delay: float = 0.2,
        port_range: tuple[int, int] = PORT_RANGE,
    ) -> None:
        if ptime_ms != 20:
            raise ValueError("only ptime 20 ms is supported")
        if (srtp_tx is None) != (srtp_rx is None):
            raise ValueError("SRTP needs both the tx and the rx key")
        srtp = SrtpContext(srtp_tx, srtp_rx) if srtp_tx and srtp_rx else None
        self._local_request = local_addr
        self._use_rtcp = rtcp
        self._rtcp_mux = rtcp and rtcp_mux  # RFC 5761: RTCP on the RTP port
        self._port_range = port_range
        self.stream = RtpStream(
            remote_addr=remote_addr,
            payload_type=payload_type,
            dtmf_payload_type=dtmf_payload_type,
            srtp=srtp,
            direction=Direction(direction),
            send_silence=send_silence,
            jitter=JitterBuffer(
                min_delay=jitter_min_delay,
                max_delay=jitter_max_delay,
                initial_delay=max(jitter_min_delay, min(0.06, jitter_max_delay)),
            ),
            inband_dtmf=inband_dtmf,
        )
        self._rtp: UdpPort | None = None
        self._rtcp: UdpPort | None = None
        self._pacer: Pacer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._tick_waiter: asyncio.Future[None] | None = None
        self._inbound: deque[Int16Array] = deque(maxlen=INBOUND_QUEUE)
        self._inbound_active = False
        self._inbound_waiter: asyncio.Future[None] | None = None
        self._dtmf_waiter: asyncio.Future[None] | None = None
        self._play_lock = asyncio.Lock()
        self._play_generation = 0
        self.inbound_dropped = 0
        self.failure: BaseException | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._loop is not None:
            raise RuntimeError("MediaSession already started")
        self._loop = asyncio.get_running_loop()
        host, port = self._local_request
        if self._use_rtcp and not self._rtcp_mux:
            self._rtp, self._rtcp = await open_pair(
                host, port, self._on_rtp, self._on_rtcp, port_range=self._port_range
            )
        else:
            self._rtp = await open_single(host, port, self._on_rtp, port_range=self._port_range)
        self._pacer = Pacer.for_loop(self._loop)
        self._pacer.add(self)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.cancel_playback()
        if self._pacer is not None:
            self._pacer.remove(self)
        stream = self.stream
        target = self._rtcp_target()
        if target is not None and self._loop is not None:
            now = self._loop.time()
            target[0].sendto(stream.build_rtcp(now, time.time(), bye=True), target[1])
        for transport in (self._rtp, self._rtcp):
            if transport is not None:
                transport.close()
        self._wake_all()

    async def __aenter__(self) -> MediaSession:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def local_addr(self) -> Address:
        if self._rtp is None:
            raise RuntimeError("MediaSession not started")
        host, port = self._rtp.get_extra_info("sockname")[:2]
        return (str(host), int(port))

    # --- re-INVITE changes ---------------------------------------------------------------

    def update_remote(self, remote_addr: Address | None, rtcp_addr: Address | None = None) -> None:
        """A new remote address from SDP; symmetric latching starts again from it."""
        self.stream.set_remote(remote_addr, rtcp_addr)

    def set_direction(self, direction: Direction | str) -> None:
        """Hold/resume: ``sendonly``/``inactive``/``recvonly``/``sendrecv`` from our side."""
        self.stream.direction = Direction(direction)

    def set_codec(self, payload_type: int, dtmf_payload_type: int | None) -> None:
        self.stream.set_codec(payload_type, dtmf_payload_type)

    def set_srtp(self, tx: SrtpKey | None, rx: SrtpKey | None) -> None:
        """Keys from the SDP exchange, known only after the session bound its port."""
        self.stream.srtp = SrtpContext(tx, rx) if tx and rx else None

    def inject_dtmf(self, digit: str, duration_ms: int = 160) -> None:
        """A key that arrived by SIP INFO joins the RFC 4733 events (one stream of keys)."""
        self.stream.events.append(DtmfEvent(digit, duration_ms, source="info"))
        self._wake_dtmf()

    # --- datagrams and ticks -------------------------------------------------------------

    def _on_rtp(self, data: bytes, addr: Address) -> None:
        assert self._loop is not None
        if self._rtcp_mux and is_rtcp(data):
            self._on_rtcp(data, addr)
            return
        self.stream.receive_rtp(data, addr, self._loop.time())
        if self.stream.events:
            self._wake_dtmf()

    def _rtcp_target(self) -> tuple[UdpPort, Address] | None:
        stream = self.stream
        if self._rtcp_mux and self._rtp is not None and stream.remote_addr is not None:
            return self._rtp, stream.remote_addr
        if self._rtcp is not None and stream.remote_rtcp_addr is not None:
            return self._rtcp, stream.remote_rtcp_addr
        return None

    def _on_rtcp(self, data: bytes, addr: Address) -> None:
        assert self._loop is not None
        self.stream.receive_rtcp(data, self._loop.time(), time.time(), addr)

    def on_skipped(self, count: int) -> None:
        self.stream.skipped_ticks += count

    def on_failed(self, exc: BaseException) -> None:
        """The pacer dropped us after a fault: end playback and iterators, free sockets."""
        self.failure = exc
        self._closed = True
        self.cancel_playback()
        for transport in (self._rtp, self._rtcp):
            if transport is not None:
                transport.close()
        self._wake_all()

    def on_tick(self, now: float, late: bool) -> None:
        """One session's tick on its own (the pacer batches with ``tick_group``)."""
        if self._closed:
            return
        stream = self.stream
        if late:
            stream.late_ticks += 1
        self._send(stream.tick_send())
        self._deliver(stream.tick_receive(now, decode=self._inbound_active))
        self._after_tick(now)

    @classmethod
    def tick_group(cls, targets: Sequence[TickTarget], now: float, late: bool) -> None:
        """Tick many sessions, with their resampling and G.711 work done as one batch
        per direction (``media.batch``); bit-for-bit the per-session path's packets up to
        float rounding."""
        sessions = [t for t in targets if isinstance(t, MediaSession) and not t._closed]
        cls._send_group(sessions, late)
        cls._receive_group(sessions, now)
        for session in sessions:
            session._after_tick(now)

    @staticmethod
    def _send_group(sessions: list[MediaSession], late: bool) -> None:
        plain: list[tuple[MediaSession, Int16Array]] = []  # G.711, no SRTP: whole packets
        srtp: list[tuple[MediaSession, Int16Array]] = []  # G.711 with SRTP: payloads
        for session in sessions:
            stream = session.stream
            if late:
                stream.late_ticks += 1
            plan = stream.send_plan()
            if plan is None:
                continue
            if not isinstance(plan, np.ndarray):
                session._send(plan)
            elif not (isinstance(stream.codec, G711Codec) and batchable_down(stream.downsampler)):
                session._send(stream.send_audio(stream.encode_frame(plan)))
            else:
                (plain if stream.srtp is None else srtp).append((session, plan))
        if plain:
            headers = [s.stream.audio_header(NARROW) for s, _ in plain]
            packets = downsample_encode_packets(
                [s.stream.downsampler for s, _ in plain],
                [frame for _, frame in plain],
                [_g711(s) for s, _ in plain],
                headers,  # type: ignore[arg-type] # no SRTP: never None
            )
            for (session, _), packet in zip(plain, packets, strict=True):
                session._send(packet)
        if srtp:
            payloads = downsample_encode_many(
                [s.stream.downsampler for s, _ in srtp],
                [frame for _, frame in srtp],
                [_g711(s) for s, _ in srtp],
            )
            for (session, _), payload in zip(srtp, payloads, strict=True):
                session._send(session.stream.send_audio(payload))

    @staticmethod
    def _receive_group(sessions: list[MediaSession], now: float) -> None:
        decode: list[tuple[MediaSession, bytes]] = []
        for session in sessions:
            stream = session.stream
            got = stream.receive_plan(now, decode=session._inbound_active)
            if not isinstance(got, bytes):
                session._deliver(got)
            elif isinstance(stream.codec, G711Codec) and batchable_up(stream.upsampler, got):
                decode.append((session, got))
            else:
                session._deliver(stream.decode_payload(got))
        if decode:
            frames = decode_upsample_many(
                [s.stream.upsampler for s, _ in decode],
                [payload for _, payload in decode],
                [_g711(s) for s, _ in decode],
            )
            for (session, _), frame in zip(decode, frames, strict=True):
                session._deliver(frame)

    def _send(self, packet: bytes | None) -> None:
        stream = self.stream
        if packet is not None and self._rtp is not None and stream.remote_addr is not None:
            self._rtp.sendto(packet, stream.remote_addr)

    def _deliver(self, frame: Int16Array | None) -> None:
        if frame is not None and self._inbound_active:
            if len(self._inbound) == INBOUND_QUEUE:
                self.inbound_dropped += 1
            self._inbound.append(frame)
            _wake(self._inbound_waiter)
            self._inbound_waiter = None

    def _after_tick(self, now: float) -> None:
        stream = self.stream
        if stream.events:
            self._wake_dtmf()
        if stream.rtcp_due(now):
            target = self._rtcp_target()
            if target is not None:
                target[0].sendto(stream.build_rtcp(now, time.time()), target[1])
        _wake(self._tick_waiter)
        self._tick_waiter = None

    def _wait_tick(self) -> asyncio.Future[None]:
        if self._tick_waiter is None:
            assert self._loop is not None
            self._tick_waiter = self._loop.create_future()
        return self._tick_waiter

    def _wake_dtmf(self) -> None:
        _wake(self._dtmf_waiter)
        self._dtmf_waiter = None

    def _wake_all(self) -> None:
        for fut in (self._tick_waiter, self._inbound_waiter, self._dtmf_waiter):
            _wake(fut)
        self._tick_waiter = self._inbound_waiter = self._dtmf_waiter = None

    # --- the contract --------------------------------------------------------------------

    async def inbound(self) -> AsyncIterator[Int16Array]:
        """20 ms frames of the peer's audio at 16 kHz, silence where packets were lost."""
        self._inbound_active = True
        assert self._loop is not None
        while not self._closed:
            if self._inbound:
                yield self._inbound.popleft()
                continue
            # A consumer cancelled mid-wait leaves its (cancelled) waiter: replace it.
            if self._inbound_waiter is None or self._inbound_waiter.done():
                self._inbound_waiter = self._loop.create_future()
            await self._inbound_waiter

    async def play(self, frames: Iterable[Int16Array] | AsyncIterable[Int16Array]) -> bool:
        """Send frames at the wire pace; True when all were sent, False when cancelled.

        Plays run one after another. ``cancel_playback()`` silences the wire at the next
        tick; a play waiting on an async source returns when that source yields its next
        frame (an async generator source is closed then).
        """
        generation = self._play_generation
        async with self._play_lock:
            if generation != self._play_generation or self._closed:
                return False
            if isinstance(frames, AsyncIterable):
                iterator = aiter(frames)
                try:
                    async for frame in iterator:
                        if not await self._enqueue(frame, generation):
                            return False
                finally:
                    aclose = getattr(iterator, "aclose", None)
                    if aclose is not None:
                        await aclose()
            else:
                for frame in frames:
                    if not await self._enqueue(frame, generation):
                        return False
            while self.stream.audio and generation == self._play_generation:
                await self._wait_tick()
            return generation == self._play_generation and not self._closed

    async def _enqueue(self, frame: Int16Array, generation: int) -> bool:
        if frame.shape != (FRAME_SAMPLES,):
            raise ValueError(f"play() takes {FRAME_SAMPLES}-sample frames (20 ms at 16 kHz)")
        while len(self.stream.audio) >= PLAY_AHEAD:
            if generation != self._play_generation or self._closed:
                return False
            await self._wait_tick()
        if generation != self._play_generation or self._closed:
            return False
        self.stream.audio.append(np.asarray(frame, dtype=np.int16))
        return True

    def cancel_playback(self) -> None:
        """Barge-in: drop queued audio now; every play() started before returns False."""
        self._play_generation += 1
        self.stream.audio.clear()
        _wake(self._tick_waiter)
        self._tick_waiter = None

    def send_dtmf(self, digits: str) -> None:
        """Queue RFC 4733 digits (``0-9*#A-D``); playback pauses while they are sent."""
        self.stream.queue_dtmf(digits)

    async def drain_dtmf(self) -> None:
        while self.stream.dtmf_pending and not self._closed:
            await self._wait_tick()

    async def dtmf_events(self) -> AsyncIterator[DtmfEvent]:
        assert self._loop is not None
        while not self._closed:
            if self.stream.events:
                yield self.stream.events.popleft()
                continue
            if self._dtmf_waiter is None or self._dtmf_waiter.done():
                self._dtmf_waiter = self._loop.create_future()
            await self._dtmf_waiter

    def stats(self) -> MediaStats:
        return self.stream.stats()


def _g711(session: MediaSession) -> G711Codec:
    codec = session.stream.codec
    assert isinstance(codec, G711Codec)  # only G.711 streams are put in a batch
    return codec


def _wake(fut: asyncio.Future[None] | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)
