"""The data of one INVITE session and the helpers its effects share.

`SessionCore` holds what RFC 3261 calls the dialog state plus the session's own
bookkeeping (offers, the 2xx awaiting its ACK, requests awaiting the application). It
reaches the network only through its `SessionHost`. The table engine lives in
`carrier.sip.session` (`InviteSession`); the effects in `session_setup` and
`session_dialog`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from carrier.sip.authretry import authorized_retry
from carrier.sip.dialog import Dialog, SessionExpires
from carrier.sip.digest import Credentials
from carrier.sip.errors import LocalProtocolError
from carrier.sip.events import Out
from carrier.sip.message import Request, Response
from carrier.sip.session_api import SessionState
from carrier.sip.session_host import ResponseHandler, SessionHost
from carrier.sip.session_table import Input
from carrier.sip.transaction import Address
from carrier.sip.uri import on_this_host

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REFER, NOTIFY"


@dataclass
class Ctx:
    """What one input carries to its effects."""

    now: float
    request: Request | None = None
    response: Response | None = None
    key: str | None = None  # the server transaction of `request`
    status: int = 0
    reason: str | None = None
    sdp: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    retry: Request | None = None  # the request to resend (digest, Min-SE)
    method: str = ""  # a request we are about to send in the dialog
    body: bytes = b""
    content_type: str | None = None
    dest: Address | None = None
    handler: ResponseHandler | None = None


@dataclass
class Pending2xx:
    """Our 2xx to an INVITE, retransmitted until its ACK (RFC 3261 13.3.1.4)."""

    seq: int
    wire: bytes
    dest: Address
    interval: float
    offered: bool = False  # it carried our offer: the ACK brings the answer


@dataclass(eq=False)
class SessionCore:
    host: SessionHost
    role: str  # "uac" | "uas"
    invite: Request
    local_tag: str
    dest: Address  # UAC: the first hop of the INVITE; UAS: where the INVITE came from
    credentials: Credentials | None = None
    trunk: str | None = None  # inbound: the trunk the policy matched the source to
    state: SessionState = SessionState.INITIAL
    dialog: Dialog | None = None
    server_key: str | None = None
    local_sdp: bytes | None = None
    remote_sdp: bytes | None = None
    session: SessionExpires | None = None
    refresher_is_us: bool = False
    peer_allows_update: bool = False
    reinvite_out: bool = False
    update_offer_out: bool = False  # our UPDATE with an offer awaits its final response
    refreshing: bool = False  # the request out is our session refresh (RFC 4028)
    retried_422: bool = False
    acks: dict[int, bytes] = field(default_factory=dict)  # INVITE CSeq -> our ACK
    pending_2xx: Pending2xx | None = None
    pending_server: dict[str, Request] = field(default_factory=dict)

    @property
    def call_id(self) -> str:
        return self.invite.call_id

    def __repr__(self) -> str:
        return f"InviteSession({self.role}, {self.call_id!r}, {self.state.value})"

    def step(self, event: Input, ctx: Ctx) -> list[Out]:
        """Feed one input through the table (implemented by InviteSession)."""
        raise NotImplementedError

    # ---- naming of our timers -------------------------------------------------------
    def timer(self, suffix: str) -> str:
        return f"{self.call_id}:{suffix}"

    # ---- building messages ----------------------------------------------------------
    def response(self, req: Request, status: int, sdp: bytes | None) -> Response:
        resp = Response.for_request(req, status, to_tag=self.local_tag)
        if 100 < status < 300 and req.method == "INVITE":
            # RFC 3261 12.1.1: a dialog-creating response copies the Record-Route set, in
            # order, so the caller's ACK and BYE pass the proxies that asked to stay.
            for value in req.get_all("Record-Route"):
                resp.add("Record-Route", value)
        if status > 100:
            resp.add("Contact", self.host.contact(self.dest[0]))
        if sdp is not None:
            resp.add("Content-Type", "application/sdp")
            resp.body = sdp
        return resp

    def reply(self, ctx: Ctx, status: int) -> list[Out]:
        assert ctx.request is not None
        assert ctx.key is not None
        return self.host.respond(ctx.key, self.response(ctx.request, status, None), ctx.now)

    def next_hop(self) -> Address:
        if self.dialog is None:
            return self.dest
        uri = self.dialog.next_hop()
        transport = (uri.param("transport") or "").upper() or (
            "TLS" if uri.scheme == "sips" else self.dest[0]
        )
        host = (uri.param("maddr") or uri.host).strip("[]")
        if on_this_host(host) and not on_this_host(self.dest[1]):
            return self.dest  # a peer elsewhere naming this host: where it really is
        return (transport, host, uri.port or (5061 if transport == "TLS" else 5060))

    def peer_hosts(self) -> set[str]:
        """Hosts an in-dialog request may come from: the address the dialog was set up
        with, the remote target and the first route (the peer's proxy)."""
        hosts = {self.dest[1]}
        if self.dialog is not None:
            hosts.add(self.dialog.remote_target.host.strip("[]"))
            if self.dialog.route_set:
                hosts.add(self.dialog.route_set[0].uri.host.strip("[]"))
        return hosts

    def from_peer(self, source: Address) -> bool:
        """RFC 3261 leaves authorizing in-dialog requests to the UAS (sec 26.2): we only
        take them from the dialog's peers, or from the trunk the call belongs to."""
        host = source[1]
        if host in self.peer_hosts():
            return True
        trunk = self.host.trunk_of(host)
        return trunk is not None and (self.trunk is None or trunk == self.trunk)

    # ---- sending inside the dialog -------------------------------------------------
    def send_in_dialog(
        self, method: str, now: float, *, body: bytes = b"", content_type: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> list[Out]:  # fmt: skip
        if self.dialog is None:
            raise LocalProtocolError(f"{method} needs a dialog")
        req = self.dialog.new_request(method)
        if method != "BYE":
            req.add("Contact", self.host.contact(self.dest[0]))
        for name, value in headers:
            req.add(name, value)
        if content_type:
            req.add("Content-Type", content_type)
        req.body = body
        dest = self.next_hop()

        def done(resp: Response | None, when: float) -> list[Out]:
            return self.on_in_dialog_response(req, resp, Ctx(when, dest=dest, handler=done))

        return self.host.send_request(req, dest, now, done)

    def on_in_dialog_response(self, req: Request, resp: Response | None, ctx: Ctx) -> list[Out]:
        """Classify the final response to a request we sent in the dialog."""
        if resp is not None and resp.status < 200:
            return []
        if req.method == "UPDATE":
            self.update_offer_out = False
        ctx.request, ctx.response = req, resp
        ctx.status = 408 if resp is None else resp.status
        if resp is not None and resp.status in (401, 407) and self.credentials is not None:
            ctx.retry = authorized_retry(req, resp, self.credentials, cnonce=self.host.new_id())
            if ctx.retry is not None:
                return self.step(Input.RECV_REQUEST_CHALLENGE, ctx)
        ok = resp is not None and 200 <= resp.status < 300
        if ok and req.method == "INVITE":
            return self.step(Input.RECV_REINVITE_2XX, ctx)
        if ok and req.method == "UPDATE":
            return self.step(Input.RECV_UPDATE_2XX, ctx)
        if ctx.status in (408, 481) and req.method != "BYE":
            return self.step(Input.RECV_DIALOG_GONE, ctx)  # RFC 3261 12.2.1.2
        return self.step(Input.RECV_RESULT, ctx)
