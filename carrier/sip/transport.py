"""asyncio SIP transports: UDP, TCP and TLS (RFC 3261 sec 18), thin adapters.

They move bytes only. A datagram or a framed stream message goes to
`sink(data, source)`; malformed stream framing is answered with 400 when a response
can be formed (RFC 3261 18.3) and the connection is closed; UDP keeps serving.

Accepted TCP/TLS connections are capped (`StreamLimits`): past the total or the
per-address cap a new connection is closed at once, so one host cannot hold every file
descriptor. A TLS connection counts from accept, during its handshake too (`tls`: we
start TLS on the accepted socket ourselves, as asyncio's TLS server would hide it until
the handshake ended); each connection buffers at most one header section and one body
(`StreamFramer` limits) and is closed when idle, or when a message begun on it is not
whole `MESSAGE_READ_TIMEOUT` after its first byte (trickling it buys no time: slowloris).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from carrier import metrics
from carrier.sip.errors import SipParseError
from carrier.sip.message import StreamFramer, parse_message
from carrier.sip.names import NameCache
from carrier.sip.stateless import error_response
from carrier.sip.transaction import Address

log = logging.getLogger(__name__)

Sink = Callable[[bytes, Address], None]
MAX_DATAGRAM = 65_535
MESSAGE_READ_TIMEOUT = 20.0  # seconds from a message's first byte to its last (Kamailio's)


@dataclass(frozen=True)
class StreamLimits:
    """Caps on accepted connections (outbound ones are ours and not counted)."""

    total: int = 1024
    per_host: int = 64


def server_tls_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """TLS 1.2 minimum; 1.3 is negotiated when the peer offers it (pjsua2 speaks 1.2)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


def client_tls_context(cafile: str | None = None, *, verify: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


# A lost UDP socket is bound again at once, then after these waits (the last repeats)
# while its port is taken: SIP over UDP is deaf until then.
REOPEN_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
GONE_ERRNOS = frozenset({errno.EBADF, errno.ENOTSOCK})  # the socket itself is gone


class UdpProtocol(asyncio.DatagramProtocol):
    """The UDP listener. Given `local` (the address it was bound to), a socket lost under
    it (closed, or gone under `sendto`) is bound again on that address, retried with
    `REOPEN_DELAYS` while the port is taken; dialogs and transactions are keyed by the
    peer's address, not by the socket, so they carry on. `stop()` ends it for good."""

    def __init__(self, sink: Sink, names: NameCache | None = None, *,
                 rcvbuf: int | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:  # fmt: skip
        self.sink = sink
        self.transport: asyncio.DatagramTransport | None = None
        self.names = names  # set from the socket's family at connection_made when None
        self.rcvbuf = rcvbuf
        self.local: tuple[str, int] | None = None  # set by the owner: reopen here if lost
        self.reopened = 0
        self._sleep = sleep
        self._stopped = False
        self._reopen: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("socket")
        if self.names is None:
            self.names = NameCache(sock.family if sock is not None else socket.AF_INET)
        if sock is not None and self.rcvbuf:
            # A burst of INVITEs waits in the kernel, not dropped into a retransmission
            # storm (measured: ~900 drops at 150 set-ups/s with the default buffer).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.sink(data, ("UDP", addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the transaction timers handle the loss.
        log.debug("udp error: %s", type(exc).__name__)
        if isinstance(exc, OSError) and exc.errno in GONE_ERRNOS and self.transport:
            self.transport.abort()  # the socket is gone: connection_lost reopens it

    def send(self, data: bytes, host: str, port: int) -> None:
        """To an address; a host name is resolved off the loop first (`carrier.sip.names`:
        `sendto` would look it up inside the call, blocking the loop, for every datagram)."""
        if self.transport is None or self.transport.is_closing() or self.names is None:
            return
        self.names.send_to(data, host.strip("[]"), port, self._sendto)

    def _sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None  # health reads it: closed until bound again
        if self._stopped or self.local is None:
            if self.names is not None:
                self.names.close()
            return
        log.warning("sip UDP socket on %s:%s lost (%s); reopening", *self.local,
                    type(exc).__name__ if exc else "closed")
        self._reopen = asyncio.get_running_loop().create_task(self._bind_again(self.local))

    async def _bind_again(self, local: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        for attempt in itertools.count():
            try:
                await loop.create_datagram_endpoint(lambda: self, local_addr=local)
            except OSError as exc:
                if attempt == 0:
                    log.warning("sip UDP port %s not free yet (%s); retrying", local[1],
                                type(exc).__name__)
                await self._sleep(REOPEN_DELAYS[min(attempt, len(REOPEN_DELAYS) - 1)])
                continue
            self.reopened += 1
            log.warning("sip UDP socket on %s:%s reopened", *local)
            return

    def stop(self) -> None:
        """Close for good (the endpoint's close): no reopening."""
        self._stopped = True
        if self._reopen is not None:
            self._reopen.cancel()
        if self.transport is not None:
            self.transport.close()
        elif self.names is not None:
            self.names.close()


class StreamProtocol(asyncio.Protocol):
    """One TCP or TLS connection; frames messages by Content-Length."""

    def __init__(
        self,
        name: str,
        sink: Sink,
        registry: dict[Address, StreamProtocol],
        *,
        idle_timeout: float = 300.0,
        limits: StreamLimits | None = None,
        tls: tuple[ssl.SSLContext, float] | None = None,
    ) -> None:
        self.name = name
        self.tls = tls  # an accepted TLS connection: its context, its handshake's time
        self.limits = limits  # None: an outbound connection, not capped
        self.sink = sink
        self.registry = registry
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: Address | None = None
        self.loop = asyncio.get_running_loop()
        self.closed = self.loop.create_future()
        # A connection silent this long is closed; a message has `read_timeout` to be whole.
        self.idle_timeout = idle_timeout
        self.read_timeout = min(idle_timeout, MESSAGE_READ_TIMEOUT)
        self._idle: asyncio.TimerHandle | None = None
        self._handshake: asyncio.Task[None] | None = None  # TLS: kept while it runs
        self._early = bytearray()  # TLS data read before start_tls() returned its transport

    def _touch(self, delay: float | None = None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = self.loop.call_later(delay or self.idle_timeout, self._on_idle)

    def _on_idle(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        host, port = transport.get_extra_info("peername")[:2]
        if self.limits is not None and self._over_limits(host):
            log.info("sip %s connection refused: connection cap reached", self.name)
            transport.abort()
            return
        self.peer = (self.name, host, port)
        self.registry[self.peer] = self
        if self.tls is not None:  # counted now; nothing is read or written before TLS
            transport.pause_reading()
            self._handshake = self.loop.create_task(self._start_tls(transport, *self.tls))
            return
        self._touch()

    async def _start_tls(self, transport: asyncio.Transport, ctx: ssl.SSLContext,
                         handshake_s: float) -> None:  # fmt: skip
        try:
            tls = await self.loop.start_tls(transport, self, ctx, server_side=True,
                                            ssl_handshake_timeout=handshake_s)  # fmt: skip
        except OSError as exc:  # a failed or timed-out handshake: closed, uncounted
            log.debug("sip %s handshake failed: %s", self.name, type(exc).__name__)
            self.connection_lost(exc)
            return
        if tls is None or self.closed.done():  # None: closed during the handshake
            self.connection_lost(None)  # (asyncio then tells the protocol nothing)
            return
        self.transport, self.tls = tls, None
        self._touch()
        if self._early:
            early, self._early = bytes(self._early), bytearray()
            self.data_received(early)

    def _over_limits(self, host: str) -> bool:
        assert self.limits is not None
        accepted = [a for a, p in self.registry.items() if p.limits is not None]
        if len(accepted) >= self.limits.total:
            return True
        return sum(1 for a in accepted if a[1] == host) >= self.limits.per_host

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            return  # refused by the connection cap, closing
        if self.tls is not None:  # decrypted before our TLS transport is known: held
            self._early += data[: MAX_DATAGRAM - len(self._early)]
            return
        began = not self.framer.partial
        try:
            messages = self.framer.feed(data)
        except SipParseError as err:
            self._refuse(err)
            return
        if not self.framer.partial:
            self._touch()  # whole messages only: idle from now
        elif began or messages:
            self._touch(self.read_timeout)  # a message began: its deadline, not moved after
        if self.framer.pings:
            self.write(b"\r\n" * self.framer.pings)  # RFC 5626 sec 4.4.1 pong
            self.framer.pings = 0
        for message in messages:
            self.sink(message, self.peer)

    def _refuse(self, framing: SipParseError) -> None:
        """Framing is lost: answer what can be answered, then drop the connection.

        The answer carries the framer's status and reason (513 for a body or a header
        section past the limit); the buffered head only supplies the fields a response
        copies (the framer found them itself in an oversized header section)."""
        err = framing
        if not framing.raw_headers:
            try:
                parse_message(bytes(self.framer._buf))
            except SipParseError as parsed:
                parsed.status_code, parsed.reason = framing.status_code, framing.reason
                err = parsed
        response = error_response(err)
        if response is not None:
            self.write(response.serialize())
        else:
            metrics.sip_dropped(err.status_code)
        if self.transport is not None:
            self.transport.close()

    def write(self, data: bytes) -> None:
        if self.tls is not None:  # no plain text on a TLS connection before its handshake
            return
        if self.transport is not None and not self.transport.is_closing():
            if not self.framer.partial:  # a half-read message keeps its deadline
                self._touch()
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        if self.peer is not None and self.registry.get(self.peer) is self:
            del self.registry[self.peer]
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass
class Listener:
    transport: str
    host: str
    port: int
    server: asyncio.Server | None = None
    udp: UdpProtocol | None = None
    factory: Callable[[], asyncio.Protocol] | None = None  # a stream server's, to reopen it
