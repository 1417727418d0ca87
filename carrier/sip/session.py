"""One INVITE session (the dialog an INVITE makes, RFC 3261 sec 12-14), sans-IO.

Every method takes `now` and returns outputs (`SendData` and events) for the caller to
carry out. Each call - from the application (answer, hang up...), from the wire
(responses, in-dialog requests) or from a timer - becomes one `Input` that
`session_table.transition` turns into the next state and a list of effects; the
effects live in `session_setup` and `session_dialog`. The session reaches the network
only through its `SessionHost` (the user agent).
"""

from __future__ import annotations

from carrier.sip.authretry import authorized_retry
from carrier.sip.body import session_sdp
from carrier.sip.dialog import Dialog, DtmfRelay, Replaces, refer_to_value, sipfrag
from carrier.sip.digest import Credentials
from carrier.sip.errors import LocalProtocolError, SipParseError
from carrier.sip.events import Out
from carrier.sip.message import REASONS, Request, Response
from carrier.sip.session_core import Ctx, SessionCore
from carrier.sip.session_dialog import DIALOG_EFFECTS
from carrier.sip.session_host import SessionHost
from carrier.sip.session_setup import SETUP_EFFECTS, EffectFn
from carrier.sip.session_table import Effect, Input, transition
from carrier.sip.transaction import Address
from carrier.sip.uri import URI, parse_uri

EFFECTS: dict[Effect, EffectFn] = {**SETUP_EFFECTS, **DIALOG_EFFECTS}

IN_DIALOG_INPUTS = {
    "BYE": Input.RECV_BYE, "INVITE": Input.RECV_REINVITE, "UPDATE": Input.RECV_UPDATE,
    "INFO": Input.RECV_INFO, "REFER": Input.RECV_REFER, "NOTIFY": Input.RECV_NOTIFY,
}  # fmt: skip


class InviteSession(SessionCore):
    """Created by the user agent: `outgoing(...)` for a call we place, `incoming(...)`
    for an INVITE that passed the inbound checks."""

    @classmethod
    def outgoing(
        cls, host: SessionHost, invite: Request, local_tag: str, *, dest: Address,
        credentials: Credentials | None = None,
    ) -> InviteSession:  # fmt: skip
        session = cls(host, "uac", invite, local_tag, dest, credentials)
        session.local_sdp = invite.body or None
        return session

    @classmethod
    def incoming(
        cls, host: SessionHost, invite: Request, local_tag: str, *, source: Address,
        server_key: str, trunk: str | None = None,
    ) -> InviteSession:  # fmt: skip
        session = cls(host, "uas", invite, local_tag, source, trunk=trunk)
        session.dialog = Dialog.from_uas(invite, local_tag)
        session.server_key = server_key
        session.remote_sdp = session_sdp(invite)
        session.peer_allows_update = "UPDATE" in invite.tokens("Allow")
        return session

    # ---- the engine -----------------------------------------------------------------
    def step(self, event: Input, ctx: Ctx) -> list[Out]:
        self.state, effects = transition(self.role, self.state, event)
        out: list[Out] = []
        for effect in effects:
            out += EFFECTS[effect](self, ctx)
        return out

    # ---- UAC: the initial INVITE ---------------------------------------------------
    def start_invite(self, now: float) -> list[Out]:
        return self.host.send_request(self.invite, self.dest, now, self._on_invite_response)

    def cancel(self, now: float) -> list[Out]:
        """CANCEL our INVITE (RFC 3261 9.1); deferred until a provisional arrived."""
        return self.step(Input.SEND_CANCEL, Ctx(now))

    def _on_invite_response(self, resp: Response | None, now: float) -> list[Out]:
        ctx = Ctx(now, request=self.invite, response=resp, handler=self._on_invite_response)
        return self.step(self._classify_invite_response(resp, ctx), ctx)

    def _classify_invite_response(self, resp: Response | None, ctx: Ctx) -> Input:  # noqa: PLR0911 - one input per kind of response
        if resp is None:
            return Input.INVITE_TIMEOUT
        if resp.status < 200:
            return Input.RECV_100 if resp.status == 100 else Input.RECV_1XX
        if resp.status < 300:
            if resp.to.tag is None:  # no dialog can be made (RFC 3261 12.1.2): malformed,
                raise SipParseError("2xx without To tag")  # dropped; nothing changes
            dialog = self.dialog
            if dialog is not None and not dialog.early and resp.to.tag != dialog.remote_tag:
                return Input.RECV_2XX_FORK
            return Input.RECV_2XX_AGAIN if resp.cseq.seq in self.acks else Input.RECV_2XX
        if resp.status in (401, 407) and self.credentials is not None:
            ctx.retry = authorized_retry(
                self.invite, resp, self.credentials, cnonce=self.host.new_id()
            )
            if ctx.retry is not None:
                return Input.RECV_CHALLENGE
        min_se = (resp.get("Min-SE") or "").split(";")[0].strip()
        if resp.status == 422 and not self.retried_422 and min_se.isdigit():
            self.retried_422 = True
            retry = self.invite.copy()
            retry.set("CSeq", f"{self.invite.cseq.seq + 1} INVITE")
            retry.set("Session-Expires", min_se)
            retry.set("Min-SE", min_se)
            ctx.retry = retry
            return Input.RECV_422
        return Input.RECV_FAILURE

    def on_stray_response(self, resp: Response, now: float) -> list[Out]:
        """A 2xx retransmitted after its transaction ended: ACK it again."""
        if resp.cseq.method == "INVITE" and 200 <= resp.status < 300 and resp.cseq.seq in self.acks:
            return self.step(Input.RECV_2XX_AGAIN, Ctx(now, response=resp))
        return []

    # ---- UAS: answering -------------------------------------------------------------
    def ring(self, now: float, *, status: int = 180, sdp: bytes | None = None) -> list[Out]:
        if not 100 < status < 200:
            raise LocalProtocolError("ring() sends a 101-199 provisional")
        return self.step(Input.SEND_1XX, Ctx(now, status=status, sdp=sdp))

    def answer(
        self, sdp: bytes, now: float, *, headers: tuple[tuple[str, str], ...] = ()
    ) -> list[Out]:
        return self.step(Input.SEND_2XX, Ctx(now, sdp=sdp, headers=headers))

    def reject(self, status: int, now: float, *, reason: str | None = None,
               headers: tuple[tuple[str, str], ...] = ()) -> list[Out]:  # fmt: skip
        if not 300 <= status <= 699:
            raise LocalProtocolError("reject() sends a 3xx-6xx")
        return self.step(
            Input.SEND_FAILURE, Ctx(now, status=status, reason=reason, headers=headers)
        )

    def on_cancel(self, now: float) -> list[Out]:
        return self.step(Input.RECV_CANCEL, Ctx(now))

    def on_ack(self, req: Request, now: float) -> list[Out]:
        """An ACK matching the 2xx we retransmit; any other ACK is absorbed."""
        pending = self.pending_2xx
        if pending is None or req.cseq.seq != pending.seq:
            return []
        via = req.via  # stamped with the source (RFC 3261 18.2.1): received= when it differs
        if not self.from_peer(("", (via.received or via.host).strip("[]"), 0)):
            return []  # forged elsewhere: it must not confirm the call or carry its answer
        return self.step(Input.RECV_ACK, Ctx(now, request=req))

    # ---- in-dialog requests we receive ------------------------------------------------
    def on_request(self, req: Request, key: str | None, source: Address, now: float) -> list[Out]:
        if key is None:
            return []
        ctx = Ctx(now, request=req, key=key)
        return self.step(self._classify_request(req, source), ctx)

    def _classify_request(self, req: Request, source: Address) -> Input:
        # The source is checked before the CSeq, so that a forged request cannot move
        # the dialog's remote CSeq past the peer's own.
        if not self.from_peer(source):
            return Input.RECV_FOREIGN_SOURCE
        if self.dialog is None:  # e.g. a request racing ahead of the 1xx making the dialog
            return Input.RECV_NO_DIALOG
        if not self.dialog.accept_remote_cseq(req):
            return Input.RECV_STALE_CSEQ
        return IN_DIALOG_INPUTS.get(req.method, Input.RECV_REQUEST)

    def respond(
        self, key: str, status: int, now: float, *, sdp: bytes | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> list[Out]:  # fmt: skip
        """Answer a ReInviteReceived / UpdateReceived."""
        return self.step(
            Input.SEND_ANSWER, Ctx(now, key=key, status=status, sdp=sdp, headers=headers)
        )

    # ---- in-dialog requests we send -------------------------------------------------
    def bye(self, now: float) -> list[Out]:
        """Hang up: BYE when answered, CANCEL while calling out, 480 while ringing in."""
        return self.step(Input.SEND_BYE, Ctx(now))

    def reinvite(self, sdp: bytes, now: float) -> list[Out]:
        """Send a re-INVITE with a new offer (hold: a=sendonly; resume: a=sendrecv)."""
        return self.step(Input.SEND_REINVITE, Ctx(now, sdp=sdp))

    def update(self, now: float, *, sdp: bytes | None = None) -> list[Out]:
        content_type = "application/sdp" if sdp else None
        return self._send("UPDATE", Ctx(now, sdp=sdp, body=sdp or b"", content_type=content_type))

    def refer(
        self, target: URI | str, now: float, *, replaces: Replaces | None = None
    ) -> list[Out]:
        """Blind transfer (RFC 3515), or attended with `replaces` (RFC 3891)."""
        uri = parse_uri(target) if isinstance(target, str) else target
        if self.dialog is None:
            raise LocalProtocolError("REFER needs a dialog")
        extra = (
            ("Refer-To", refer_to_value(uri, replaces)),
            ("Referred-By", f"<{self.dialog.local.uri}>"),
        )
        return self._send("REFER", Ctx(now, headers=extra))

    def notify_refer(
        self, status: int, now: float, *, final: bool, reason: str | None = None
    ) -> list[Out]:
        state = "terminated;reason=noresource" if final else "active;expires=60"
        body = sipfrag(status, reason or REASONS.get(status, "Unknown"))
        extra = (("Event", "refer"), ("Subscription-State", state))
        ctx = Ctx(now, body=body, content_type="message/sipfrag;version=2.0", headers=extra)
        return self._send("NOTIFY", ctx)

    def send_dtmf_info(self, digit: str, now: float, *, duration_ms: int = 160) -> list[Out]:
        body = DtmfRelay(digit, duration_ms).body()
        return self._send("INFO", Ctx(now, body=body, content_type="application/dtmf-relay"))

    def _send(self, method: str, ctx: Ctx) -> list[Out]:
        ctx.method = method
        return self.step(Input.SEND_IN_DIALOG, ctx)
