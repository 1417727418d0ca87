"""The user agent core (RFC 3261 sec 8, 12-15), sans-IO.

`UserAgent.receive(data, source, now=...)` and `handle_timer(now)` return a list of
outputs: `SendData` (bytes for the transport) and `UaEvent`s (for the application).
Calls are `carrier.sip.session.InviteSession`s whose methods return outputs the same
way; the user agent is their `SessionHost` (the only way they reach the network).
Nothing here reads a clock, opens a socket or draws randomness except through the
injectable `new_id` function.
"""

from __future__ import annotations

import heapq
import secrets
from collections.abc import Callable

from carrier.sip.authretry import authorized_retry
from carrier.sip.digest import Credentials
from carrier.sip.errors import SipParseError
from carrier.sip.events import (
    OptionsResult,
    Out,
    RegistrationChanged,
    answer_unparsed,
)
from carrier.sip.headers import NameAddr
from carrier.sip.message import (
    Request,
    Response,
    check_hops,
    parse_message,
)
from carrier.sip.policy import InboundPolicy
from carrier.sip.session import InviteSession
from carrier.sip.session_api import SessionHandle, SessionState
from carrier.sip.session_core import ALLOW
from carrier.sip.session_host import ResponseHandler, TimerFired
from carrier.sip.transaction import (
    MAGIC_COOKIE,
    Address,
    Deliver,
    SendData,
    Timers,
    TxTimeout,
    TxTransportError,
    client_key,
)
from carrier.sip.transaction_layer import LayerEvent, NewRequest, StrayResponse, TransactionLayer
from carrier.sip.ua_config import (
    MESSAGE_MAX,
    MESSAGE_TYPE,
    SUPPORTED,
    Registration,
    UaConfig,
    dest_for,
    granted_expiry,
    stamp_via,
)
from carrier.sip.ua_inbound import on_request
from carrier.sip.uri import URI, parse_uri

__all__ = ["ALLOW", "Out", "Registration", "ResponseHandler", "UaConfig", "UserAgent"]


class UserAgent:
    def __init__(
        self,
        config: UaConfig,
        *,
        policy: InboundPolicy | None = None,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self.config = config
        self.policy = policy or InboundPolicy()
        self.takes_messages = False  # MESSAGE is answered 405 unless someone takes texts
        self.new_id = new_id or (lambda: secrets.token_hex(8))
        self.tx = TransactionLayer(config.timers)
        self.calls: dict[str, InviteSession] = {}
        self._handlers: dict[str, ResponseHandler] = {}
        self._timers: dict[str, tuple[float, TimerFired]] = {}
        self._timer_heap: list[tuple[float, int, str]] = []
        self._timer_seq = 0

    # ---- inputs --------------------------------------------------------------------
    def receive(self, data: bytes, source: Address, *, now: float) -> list[Out]:
        reliable = source[0] != "UDP"
        try:
            msg = parse_message(data)
            if isinstance(msg, Request):
                check_hops(msg)  # 483 before any transaction (sipwire, issue 11)
        except SipParseError as err:
            return answer_unparsed(err, source)
        try:
            if isinstance(msg, Request):
                stamp_via(msg, source)
            elif not self._is_ours(msg):
                return []  # RFC 3261 18.1.2: a response not for us is discarded
            return self._process(self.tx.receive(msg, source, reliable=reliable, now=now), now)
        except SipParseError as err:
            # A field that passed the syntax check but fails deeper parsing.
            if isinstance(msg, Request) and msg.method != "ACK":
                err.is_request, err.method, err.raw_headers = True, msg.method, tuple(msg.headers)
            return answer_unparsed(err, source)

    @property
    def next_timer(self) -> float | None:
        heap = self._timer_heap
        while heap:
            due, _, name = heap[0]
            entry = self._timers.get(name)
            if entry is not None and entry[0] == due:
                break
            heapq.heappop(heap)
        dues = [heap[0][0]] if heap else []
        tx_due = self.tx.next_timer
        if tx_due is not None:
            dues.append(tx_due)
        return min(dues) if dues else None

    def handle_timer(self, now: float) -> list[Out]:
        out = self._process(list(self.tx.handle_timer(now)), now)
        heap = self._timer_heap
        while heap and heap[0][0] <= now:
            due, _, name = heapq.heappop(heap)
            entry = self._timers.get(name)
            if entry is None or entry[0] != due:
                continue
            del self._timers[name]
            out += entry[1](now)
        return out

    def set_timer(self, name: str, due: float, fire: TimerFired) -> None:
        self._timers[name] = (due, fire)
        self._timer_seq += 1
        heapq.heappush(self._timer_heap, (due, self._timer_seq, name))

    def cancel_timer(self, name: str) -> None:
        self._timers.pop(name, None)

    # ---- outbound ------------------------------------------------------------------
    def invite(
        self,
        target: URI | str,
        *,
        now: float,
        sdp: bytes,
        from_user: str | None = None,
        from_display: str | None = None,
        to: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        credentials: Credentials | None = None,
        proxy: URI | str | None = None,
        session_timer: bool = True,
    ) -> tuple[InviteSession, list[Out]]:
        """Place a call. `proxy` (a trunk's address) receives the INVITE when given."""
        uri = parse_uri(target) if isinstance(target, str) else target
        next_hop = parse_uri(proxy) if isinstance(proxy, str) else (proxy or uri)
        local_tag = self.new_id()
        user = from_user or self.config.user
        host = self._local(next_hop.transport)[0]
        from_addr = NameAddr(URI("sip", host=host, user=user), from_display, (("tag", local_tag),))
        req = Request(method="INVITE", uri=uri)
        req.add("From", str(from_addr))
        req.add("To", to or f"<{uri}>")
        req.add("Call-ID", f"{self.new_id()}@{host}")
        req.add("CSeq", "1 INVITE")
        req.add("Contact", self.contact(next_hop.transport, user))
        req.add("Allow", ALLOW)
        req.add("Supported", ", ".join(SUPPORTED))
        if session_timer:
            req.add("Session-Expires", str(self.config.session_expires))
            req.add("Min-SE", str(self.config.min_se))
        for name, value in headers:
            req.add(name, value)
        req.add("Content-Type", "application/sdp")
        req.body = sdp
        call = InviteSession.outgoing(
            self, req, local_tag, dest=dest_for(next_hop), credentials=credentials
        )
        self.calls[req.call_id] = call
        return call, call.start_invite(now)

    def options(self, target: URI | str, *, now: float) -> tuple[str, list[Out]]:
        """An out-of-dialog OPTIONS (trunk keepalive); the result is an OptionsResult."""
        return self._out_of_dialog("OPTIONS", target, user=self.config.user, now=now,
                                   headers=(("Accept", "application/sdp"),))

    def message(self, target: URI | str, text: str, *, sender: str, now: float
                ) -> tuple[str, list[Out]]:
        """A text by MESSAGE (RFC 3428) from our number ``sender``; the result is an
        OptionsResult. At most 1300 bytes (RFC 3428 9, no congestion control assumed)."""
        body = text.encode()
        if len(body) > MESSAGE_MAX:
            raise ValueError(f"a MESSAGE body is at most {MESSAGE_MAX} bytes")
        return self._out_of_dialog("MESSAGE", target, user=sender, now=now,
                                   headers=(("Content-Type", MESSAGE_TYPE),), body=body)

    def _out_of_dialog(self, method: str, target: URI | str, *, user: str, now: float,
                       headers: tuple[tuple[str, str], ...], body: bytes = b""
                       ) -> tuple[str, list[Out]]:
        uri = parse_uri(target) if isinstance(target, str) else target
        host = self._local(uri.transport)[0]
        req = Request(method=method, uri=uri)
        req.add("From", f"<sip:{user}@{host}>;tag={self.new_id()}")
        req.add("To", f"<{uri}>")
        req.add("Call-ID", f"{self.new_id()}@{host}")
        req.add("CSeq", f"1 {method}")
        for name, value in headers:
            req.add(name, value)
        req.body = body
        key_box: list[str] = []

        def done(resp: Response | None, _now: float) -> list[Out]:
            if resp is not None and resp.status < 200:
                return []
            return [OptionsResult(key_box[0], None if resp is None else resp.status)]

        key, out = self._start_client(req, dest_for(uri), now, done)
        key_box.append(key)
        return key, out

    def register(self, reg: Registration, *, now: float, expires: int | None = None) -> list[Out]:
        """Send REGISTER; refreshes itself at half the granted expiry (RFC 3261 10.2.4)."""
        host = self._local(reg.registrar.transport)[0]
        reg.call_id = reg.call_id or f"{self.new_id()}@{host}"
        reg.seq += 1
        want = reg.expires if expires is None else expires
        req = Request(method="REGISTER", uri=reg.registrar)
        req.add("From", f"<{reg.aor}>;tag={self.new_id()}")
        req.add("To", f"<{reg.aor}>")
        req.add("Call-ID", reg.call_id)
        req.add("CSeq", f"{reg.seq} REGISTER")
        req.add("Contact", self.contact(reg.registrar.transport, self.config.user))
        req.add("Expires", str(want))

        def done(resp: Response | None, when: float) -> list[Out]:
            nonlocal req  # the request this answers: the last one sent
            if resp is not None and resp.status < 200:
                return []
            if resp is not None and resp.status in (401, 407) and reg.credentials:
                retry = authorized_retry(req, resp, reg.credentials, cnonce=self.new_id())
                if retry is not None:
                    reg.seq, req = retry.cseq.seq, retry
                    return self.send_request(retry, dest_for(reg.registrar), when, done)
            if resp is None or resp.status >= 300:
                reg.registered = False
                return [
                    RegistrationChanged(reg.aor, False, 0, None if resp is None else resp.status)
                ]
            granted = granted_expiry(resp, want)
            reg.registered = granted > 0
            if granted > 0:
                self.set_timer(
                    f"reg:{reg.aor}", when + max(granted / 2, 1.0),
                    lambda t: self.register(reg, now=t),
                )  # fmt: skip
            else:
                self.cancel_timer(f"reg:{reg.aor}")
            return [RegistrationChanged(reg.aor, granted > 0, granted, resp.status)]

        return self.send_request(req, dest_for(reg.registrar), now, done)

    # ---- SessionHost: what an InviteSession may ask of us --------------------------------
    @property
    def timers(self) -> Timers:
        return self.config.timers

    @property
    def session_expires(self) -> int:
        return self.config.session_expires

    def contact(self, transport: str, user: str | None = None) -> str:
        user = user or self.config.user
        host, port = self._local(transport)
        scheme = "sips" if transport == "TLS" else "sip"
        param = "" if transport in ("UDP", "TLS") else f";transport={transport.lower()}"
        return f"<{scheme}:{user}@{host}:{port}{param}>"

    def send_request(
        self, req: Request, dest: Address, now: float, handler: ResponseHandler
    ) -> list[Out]:
        return self._start_client(req, dest, now, handler)[1]

    def _start_client(
        self, req: Request, dest: Address, now: float, handler: ResponseHandler
    ) -> tuple[str, list[Out]]:
        """Add our Via (fresh branch) and Max-Forwards, start a client transaction."""
        host, port = self._local(dest[0])
        req.remove("Via")
        req.prepend(
            "Via", f"SIP/2.0/{dest[0]} {host}:{port};branch={MAGIC_COOKIE}{self.new_id()};rport"
        )
        if not req.has("Max-Forwards"):
            req.add("Max-Forwards", "70")
        if not req.has("User-Agent"):
            req.add("User-Agent", self.config.user_agent)
        tx, actions = self.tx.send_request(req, dest, reliable=dest[0] != "UDP", now=now)
        self._handlers[tx.key] = handler
        return tx.key, [a for a in actions if isinstance(a, SendData)]

    def send_cancel(self, cancel: Request, dest: Address, now: float) -> list[Out]:
        _, actions = self.tx.send_request(cancel, dest, reliable=dest[0] != "UDP", now=now)
        return [a for a in actions if isinstance(a, SendData)]

    def abandon(self, invite: Request) -> None:
        self.tx.abandon(client_key(invite.via.branch or "", "INVITE"))

    def send_ack(self, req: Request, dest: Address) -> list[Out]:
        """ACK for a 2xx: sent outside any transaction (RFC 3261 13.2.2.4)."""
        host, port = self._local(dest[0])
        req.remove("Via")
        req.prepend(
            "Via", f"SIP/2.0/{dest[0]} {host}:{port};branch={MAGIC_COOKIE}{self.new_id()};rport"
        )
        if not req.has("Max-Forwards"):
            req.add("Max-Forwards", "70")
        return [SendData(req.serialize(), dest)]

    def respond(self, key: str, response: Response, now: float) -> list[Out]:
        if self.tx.get(key) is None:
            return []
        if not response.has("Server"):
            response.add("Server", self.config.user_agent)
        return [a for a in self.tx.send_response(key, response, now) if isinstance(a, SendData)]

    def request_source(self, key: str) -> Address | None:
        tx = self.tx.get(key)
        return None if tx is None else tx.dest

    def trunk_of(self, source_host: str) -> str | None:
        trunk = self.policy.trunk_for(source_host)
        return None if trunk is None else trunk.name

    def session_ended(self, session: SessionHandle) -> None:
        if self.calls.get(session.call_id) is session:
            del self.calls[session.call_id]

    @property
    def active_calls(self) -> int:
        return sum(1 for c in self.calls.values() if c.state is not SessionState.TERMINATED)

    def active_calls_on(self, trunk: str) -> int:
        return sum(
            1
            for c in self.calls.values()
            if c.trunk == trunk and c.state is not SessionState.TERMINATED
        )

    # ---- internals ---------------------------------------------------------------------
    def _local(self, transport: str) -> tuple[str, int]:
        local = self.config.contacts.get(transport) or next(iter(self.config.contacts.values()))
        return local

    def _is_ours(self, resp: Response) -> bool:
        via = resp.via
        return any(via.host == host for host, _ in self.config.contacts.values())

    def _process(self, events: list[LayerEvent], now: float) -> list[Out]:
        out: list[Out] = []
        for ev in events:
            if isinstance(ev, SendData):
                out.append(ev)
            elif isinstance(ev, Deliver):
                if isinstance(ev.message, Response):
                    handler = self._handlers.get(ev.key)
                    if handler is not None:
                        out += handler(ev.message, now)
                else:
                    out += self._on_ack(ev.message, now)
            elif isinstance(ev, TxTimeout | TxTransportError):
                handler = self._handlers.pop(ev.key, None)
                if handler is not None:
                    out += handler(None, now)
            elif isinstance(ev, NewRequest):
                out += self._on_request(ev.request, ev.key, ev.source, now)
            elif isinstance(ev, StrayResponse):
                call = self.calls.get(ev.response.call_id)
                if call is not None:
                    out += call.on_stray_response(ev.response, now)
        reaped = self.tx.reaped
        while reaped:
            self._handlers.pop(reaped.pop(), None)
        return out

    def reply(
        self, req: Request, key: str | None, status: int, now: float,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> list[Out]:  # fmt: skip
        """A response to a request of a server transaction (none for an ACK: `key` None)."""
        if key is None:
            return []
        resp = Response.for_request(req, status, to_tag=self.new_id() if status > 100 else None)
        for name, value in headers:
            resp.add(name, value)
        return self.respond(key, resp, now)

    def _on_ack(self, req: Request, now: float) -> list[Out]:
        call = self.calls.get(req.call_id)
        return [] if call is None else call.on_ack(req, now)

    def _on_request(self, req: Request, key: str | None, source: Address, now: float
                    ) -> list[Out]:
        if req.method == "ACK":
            return self._on_ack(req, now)
        return on_request(self, req, key, source, now)
