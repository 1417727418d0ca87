"""The asyncio SIP endpoint: listeners, the UA core's timer on the loop, async calls.

    endpoint = SipEndpoint(EndpointConfig(...), on_call=handle)   # handle(SipCall) coroutine
    await endpoint.start()
    call = endpoint.invite("sip:+15551230000@192.0.2.1", sdp=offer, headers=[("Identity", v)])
    answered = await call.wait_answer(timeout=30)
    ...
    await endpoint.close()

`loop.time()` is the only clock; everything else is the sans-IO `UserAgent`.
Refusals (issue 11 item 6): datagrams from sources the policy does not admit go through
the sans-IO `RefusalGate` first (stateless, rate-limited 403); every refusal is counted by
a `RefusalLedger` and `audit` receives `RefusalSummary`s (one per source, rule and window),
never one call per packet. `close()` reports what is still counted.

Drain: with `draining` set (seconds), new INVITEs get 503 with that `Retry-After`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import TypeVar

from carrier import metrics
from carrier.errors import ListenError
from carrier.sip.dialog import Replaces
from carrier.sip.digest import Credentials
from carrier.sip.endpoint_config import EndpointConfig as EndpointConfig  # noqa: PLC0414 - re-exported
from carrier.sip.endpoint_requests import OutOfDialog
from carrier.sip.errors import CallFailedError as CallFailedError  # noqa: PLC0414 - re-exported
from carrier.sip.events import (
    CallAnswered,
    CallFailed,
    IncomingCall,
    MessageDropped,
    MessageReceived,
    OptionsResult,
    PolicyRefused,
    RegistrationChanged,
    RequestResult,
    UaEvent,
)
from carrier.sip.listen_keep import keep_streams
from carrier.sip.message import Request
from carrier.sip.policy import InboundPolicy
from carrier.sip.refusal import AnswerLimiter, RefusalGate, RefusalLedger, RefusalSummary
from carrier.sip.session import InviteSession
from carrier.sip.session_api import SessionState
from carrier.sip.transaction import Address, SendData
from carrier.sip.transport import (
    Listener,
    StreamProtocol,
    UdpProtocol,
    client_tls_context,
    server_tls_context,
)
from carrier.sip.ua import Out, Registration, UaConfig, UserAgent
from carrier.sip.uri import URI

log = logging.getLogger(__name__)
UDP_RCVBUF = 4 << 20  # bytes; the kernel caps it at net.core.rmem_max
TLS_HANDSHAKE_TIMEOUT = 10.0  # seconds an accepted TLS connection has to finish its handshake
E = TypeVar("E")


class SipCall:
    """Async face of one call (its `session`, an InviteSession). Control methods act at
    once; `wait_*` await events."""

    def __init__(self, endpoint: SipEndpoint, session: InviteSession,
                 request_replaces: Replaces | None = None) -> None:  # fmt: skip
        self._ep = endpoint
        self.session = session
        self.replaces = request_replaces
        self.events: asyncio.Queue[UaEvent] = asyncio.Queue()

    @property
    def call_id(self) -> str:
        return self.session.call_id

    @property
    def state(self) -> SessionState:
        return self.session.state

    @property
    def request(self) -> Request:
        return self.session.invite

    @property
    def remote_sdp(self) -> bytes | None:
        return self.session.remote_sdp

    def ring(self, *, status: int = 180, sdp: bytes | None = None) -> None:
        self._ep.act(lambda now: self.session.ring(now, status=status, sdp=sdp))

    def answer(self, sdp: bytes, *, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self._ep.act(lambda now: self.session.answer(sdp, now, headers=headers))

    def reject(self, status: int, *, reason: str | None = None,
               headers: tuple[tuple[str, str], ...] = ()) -> None:  # fmt: skip
        self._ep.act(lambda now: self.session.reject(status, now, reason=reason, headers=headers))

    def hangup(self) -> None:
        self._ep.act(self.session.bye)

    def cancel(self) -> None:
        self._ep.act(self.session.cancel)

    def respond(self, key: str, status: int, *, sdp: bytes | None = None) -> None:
        """Answer a ReInviteReceived / UpdateReceived event."""
        self._ep.act(lambda now: self.session.respond(key, status, now, sdp=sdp))

    def notify_refer(self, status: int, *, final: bool) -> None:
        self._ep.act(lambda now: self.session.notify_refer(status, now, final=final))

    def send_dtmf_info(self, digit: str, *, duration_ms: int = 160) -> None:
        self._ep.act(lambda now: self.session.send_dtmf_info(digit, now, duration_ms=duration_ms))

    async def reinvite(self, sdp: bytes, *, timeout: float = 32.0) -> RequestResult:  # noqa: ASYNC109 - house style: keyword timeout=
        self._ep.act(lambda now: self.session.reinvite(sdp, now))
        return await self._result("INVITE", timeout)

    async def refer(self, target: URI | str, *, replaces: Replaces | None = None,
                    timeout: float = 32.0) -> RequestResult:  # fmt: skip  # noqa: ASYNC109 - house style timeout=
        self._ep.act(lambda now: self.session.refer(target, now, replaces=replaces))
        return await self._result("REFER", timeout)

    async def wait_answer(self, *, timeout: float) -> CallAnswered:  # noqa: ASYNC109 - house style: keyword timeout=
        event: CallAnswered | CallFailed = await self.wait_for(
            (CallAnswered, CallFailed), timeout=timeout
        )
        if isinstance(event, CallFailed):
            raise CallFailedError(event.status, event.reason)
        assert isinstance(event, CallAnswered)
        return event

    async def wait_for(self, kinds: type[E] | tuple[type, ...], *, timeout: float) -> E:  # noqa: ASYNC109 - house style: keyword timeout=
        """The next event of the given type(s); other events stay queued in order."""
        skipped: list[UaEvent] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = await self.events.get()
                    if isinstance(event, kinds):
                        return event  # type: ignore[return-value]
                    skipped.append(event)
        finally:
            # Put back what was passed over, ahead of anything newer.
            rest: list[UaEvent] = []
            while not self.events.empty():
                rest.append(self.events.get_nowait())
            for item in skipped + rest:
                self.events.put_nowait(item)

    async def _result(self, method: str, timeout: float) -> RequestResult:  # noqa: ASYNC109 - house style: keyword timeout=
        while True:
            event = await self.wait_for(RequestResult, timeout=timeout)
            if event.method == method:
                return event


class SipEndpoint(OutOfDialog):
    def __init__(
        self,
        config: EndpointConfig,
        *,
        on_call: Callable[[SipCall], Awaitable[None]] | None = None,
        policy: InboundPolicy | None = None,
        audit: Callable[[RefusalSummary], None] | None = None,
        on_registration: Callable[[RegistrationChanged], None] | None = None,
        on_message: Callable[[MessageReceived], None] | None = None,
    ) -> None:
        self.config, self.on_message = config, on_message
        self.on_call = on_call
        self.policy = policy
        self.audit = audit
        self.on_registration = on_registration
        self.draining: int | None = None
        """Set (to the Retry-After seconds) while the node drains: new INVITEs get 503."""
        self.listeners: dict[str, Listener] = {}
        self.ua: UserAgent | None = None
        self._udp: UdpProtocol | None = None
        self._streams: dict[Address, StreamProtocol] = {}
        self._connecting: dict[Address, list[bytes]] = {}
        self._calls: dict[str, SipCall] = {}
        self._options: dict[str, asyncio.Future[int | None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.refusals = RefusalLedger(interval=config.refusal_interval)
        self._gate: RefusalGate | None = None
        if policy is not None:
            limiter = AnswerLimiter(rate=config.refusal_answers_per_s,
                                    global_rate=config.refusal_answers_global_per_s)
            self._gate = RefusalGate(policy, self.refusals, limiter=limiter,
                                     server=config.user_agent)
        self._refusal_timer: asyncio.TimerHandle | None = None
        self._keeper: asyncio.Task[None] | None = None

    # ---- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        try:
            await self._start()
        except ListenError:  # what did open is released; the error names what did not
            await self.close()
            raise

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        cfg = self.config
        contacts: dict[str, tuple[str, int]] = {}
        if cfg.udp is not None:
            try:
                transport, proto = await loop.create_datagram_endpoint(
                    lambda: UdpProtocol(self._on_data, rcvbuf=UDP_RCVBUF), local_addr=cfg.udp)
            except OSError as exc:
                raise ListenError("UDP", cfg.udp[0], cfg.udp[1], exc) from exc
            self._udp = proto
            port = transport.get_extra_info("sockname")[1]
            proto.local = (cfg.udp[0], port)  # a socket lost under it is bound here again
            self.listeners["UDP"] = Listener("UDP", cfg.udp[0], port, udp=proto)
            contacts["UDP"] = (cfg.udp[0], port)
        if cfg.tcp is not None:
            await self._listen("TCP", cfg.tcp, None, contacts)
        if cfg.tls is not None and cfg.tls_cert and cfg.tls_key:
            ctx = server_tls_context(cfg.tls_cert, cfg.tls_key)
            await self._listen("TLS", cfg.tls, ctx, contacts)
        if cfg.advertise:
            contacts = {name: (cfg.advertise, port) for name, (_, port) in contacts.items()}
        ua_config = UaConfig(
            contacts=contacts,
            user=cfg.user,
            user_agent=cfg.user_agent,
            timers=cfg.timers,
            session_expires=cfg.session_expires,
            min_se=cfg.min_se,
        )
        self._keeper = loop.create_task(keep_streams(self.listeners))  # TCP/TLS reopened
        self.ua = UserAgent(ua_config, policy=self.policy)
        self.ua.takes_messages = self.on_message is not None  # else 405, never a lost 200

    async def _listen(self, name: str, addr: tuple[str, int], ctx: ssl.SSLContext | None,
                      contacts: dict[str, tuple[str, int]]) -> None:  # fmt: skip
        loop = asyncio.get_running_loop()
        idle = self.config.stream_idle_timeout
        # A TLS connection counts against the caps from accept (StreamProtocol starts TLS
        # itself); the wait for its handshake is short (asyncio's default is 60 s).
        tls = (ctx, min(idle, TLS_HANDSHAKE_TIMEOUT)) if ctx else None
        try:
            server = await loop.create_server(
                factory := lambda: StreamProtocol(name, self._on_data, self._streams,
                                                  idle_timeout=idle,
                                                  limits=self.config.stream_limits, tls=tls),
                addr[0], addr[1],
            )  # fmt: skip
        except OSError as exc:
            raise ListenError(name, addr[0], addr[1], exc) from exc
        port = server.sockets[0].getsockname()[1]
        self.listeners[name] = Listener(name, addr[0], port, server=server, factory=factory)
        contacts[name] = (addr[0], port)

    async def close(self) -> None:
        for handle in (self._timer, self._refusal_timer, self._keeper):
            if handle is not None:
                handle.cancel()
        if self._loop is not None:
            self._report(self.refusals.flush(self._now()), rearm=False)
        for task in list(self._tasks):
            task.cancel()
        ending = [*self._tasks, *([self._keeper] if self._keeper else [])]
        await asyncio.gather(*ending, return_exceptions=True)
        for listener in self.listeners.values():
            if listener.server is not None:
                listener.server.close()
        for stream in list(self._streams.values()):
            if stream.transport is not None:
                stream.transport.close()
        if self._udp is not None:
            self._udp.stop()
        for listener in self.listeners.values():
            if listener.server is not None:
                await listener.server.wait_closed()

    async def __aenter__(self) -> SipEndpoint:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def handling(self) -> int:
        """Inbound calls whose handler still runs (a drain waits for 0)."""
        return len(self._tasks)

    def port(self, transport: str) -> int:
        return self.listeners[transport].port

    # ---- outbound --------------------------------------------------------------------
    def invite(
        self,
        target: URI | str,
        *,
        sdp: bytes,
        from_user: str | None = None,
        from_display: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        credentials: Credentials | None = None,
        proxy: URI | str | None = None,
    ) -> SipCall:
        """Send an INVITE (through `proxy`, e.g. "sip:192.0.2.1:5060;transport=tcp")."""
        ua = self._ua()
        call, outs = ua.invite(
            target, now=self._now(), sdp=sdp, from_user=from_user, from_display=from_display,
            headers=headers, credentials=credentials, proxy=proxy,
        )  # fmt: skip
        wrapper = SipCall(self, call)
        self._calls[call.call_id] = wrapper
        self._dispatch(outs)
        return wrapper

    def register(self, registration: Registration) -> None:
        self.act(lambda now: self._ua().register(registration, now=now))

    # ---- plumbing --------------------------------------------------------------------
    def act(self, fn: Callable[[float], list[Out]]) -> None:
        """Run a sans-IO step now and carry out its outputs."""
        self._dispatch(fn(self._now()))

    def _ua(self) -> UserAgent:
        if self.ua is None:
            raise RuntimeError("endpoint not started")
        return self.ua

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _on_data(self, data: bytes, source: Address) -> None:
        if self.ua is None:
            return
        now = self._now()
        calls = self.ua.calls
        screened = None if self._gate is None else self._gate.screen(
            data, source, now, known=calls.__contains__)
        if screened is None:
            self._dispatch(self.ua.receive(data, source, now=now))
            return
        if screened.answer is not None:
            self._send(screened.answer, source)
        self._report(screened.summaries)

    # ---- refusals: counted, reported as summaries --------------------------------------
    def _report(self, summaries: tuple[RefusalSummary, ...] | list[RefusalSummary], *,
                rearm: bool = True) -> None:  # fmt: skip
        if self.audit is not None:
            for summary in summaries:
                self.audit(summary)
        if not rearm:
            return
        due = self.refusals.next_due
        if due is None or (self._refusal_timer is not None and self._refusal_timer.when() <= due):
            return
        if self._refusal_timer is not None:
            self._refusal_timer.cancel()
        assert self._loop is not None
        self._refusal_timer = self._loop.call_at(due, self._on_refusal_timer)

    def _on_refusal_timer(self) -> None:
        self._refusal_timer = None
        self._report(self.refusals.due(self._now()))

    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch(self._ua().handle_timer(self._now()))

    def _dispatch(self, outs: list[Out]) -> None:
        for out in outs:
            if isinstance(out, SendData):
                self._send(out.data, out.dest)
            else:
                self._deliver(out)
        self._rearm()

    def _rearm(self) -> None:
        due = self._ua().next_timer
        if due is None:
            return
        if self._timer is not None:
            if self._timer.when() <= due:
                return
            self._timer.cancel()
        assert self._loop is not None
        self._timer = self._loop.call_at(due, self._on_timer)

    def _deliver(self, event: UaEvent) -> None:
        if isinstance(event, IncomingCall):
            session = event.call
            assert isinstance(session, InviteSession)  # the UA only makes InviteSessions
            wrapper = SipCall(self, session, event.replaces)
            self._calls[session.call_id] = wrapper
            if self.draining is not None:  # stopping: this node takes no new call
                metrics.call_failed("inbound", 503)
                after = (("Retry-After", str(self.draining)),)
                self.act(lambda now: session.reject(503, now, reason="Draining", headers=after))
                return
            if self.on_call is None:
                self.act(lambda now: session.reject(480, now))
                return
            task = asyncio.get_running_loop().create_task(self._run_handler(wrapper))
            self._tasks.add(task)
            task.add_done_callback(self._task_done)
        elif isinstance(event, PolicyRefused):
            metrics.call_failed("inbound", event.status)
            source = event.source
            self._report(self.refusals.note(source[1], source[0], event.rule, event.status,
                                            self._now()))
        elif isinstance(event, OptionsResult):
            future = self._options.get(event.key)
            if future is not None and not future.done():
                future.set_result(event.status)
        elif isinstance(event, MessageDropped):
            metrics.sip_dropped(event.status)
        elif isinstance(event, RegistrationChanged | MessageReceived):
            self._notify(event)
        else:
            owner = self._calls.get(event.call.call_id)
            if owner is not None and owner.session is event.call:
                owner.events.put_nowait(event)
                if event.call.state is SessionState.TERMINATED:
                    self._calls.pop(event.call.call_id, None)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The application's handler failed; the call was refused in _run_handler.
            log.error("call handler failed: %s", type(task.exception()).__name__)

    async def _run_handler(self, call: SipCall) -> None:
        assert self.on_call is not None
        try:
            await self.on_call(call)
        finally:
            if call.state in (SessionState.INITIAL, SessionState.EARLY) and self.ua is not None:
                self.act(lambda now: call.session.reject(500, now))

    def _send(self, data: bytes, dest: Address) -> None:
        transport, host, port = dest
        if transport == "UDP":
            if self._udp is not None:
                self._udp.send(data, host, port)
            return
        stream = self._streams.get(dest)
        if stream is not None:
            stream.write(data)
            return
        if dest in self._connecting:
            self._connecting[dest].append(data)
            return
        self._connecting[dest] = [data]
        task = asyncio.get_running_loop().create_task(self._connect(dest))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, dest: Address) -> None:
        transport, host, port = dest
        loop = asyncio.get_running_loop()
        ctx = None
        if transport == "TLS":
            ctx = client_tls_context(self.config.tls_ca, verify=self.config.tls_verify)
        try:
            _, proto = await loop.create_connection(
                lambda: StreamProtocol(transport, self._on_data, self._streams,
                                       idle_timeout=self.config.stream_idle_timeout),
                host, port, ssl=ctx,
            )  # fmt: skip
        except OSError as err:
            # The transaction timers report the failure as a timeout (408).
            log.info("sip connect to %s:%s failed: %s", host, port, type(err).__name__)
            self._connecting.pop(dest, None)
            return
        self._streams[dest] = proto
        for data in self._connecting.pop(dest, []):
            proto.write(data)
