"""One call (an INVITE dialog), sans-IO: every method takes `now` and returns outputs
(`SendData` and events) for the caller to carry out. Created by `UserAgent`.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from carrier.sip.dialog import (
    Dialog,
    DtmfRelay,
    ReferTarget,
    Replaces,
    SessionExpires,
    parse_dtmf_info,
    parse_sipfrag,
    refer_to_value,
    sipfrag,
)
from carrier.sip.digest import Credentials
from carrier.sip.errors import LocalProtocolError, SipParseError
from carrier.sip.events import (
    CallAnswered,
    CallCancelled,
    CallConfirmed,
    CallEnded,
    CallFailed,
    CallProgress,
    DtmfReceived,
    ReferProgress,
    ReferReceived,
    ReInviteReceived,
    RequestResult,
    UpdateReceived,
)
from carrier.sip.message import REASONS, Request, Response
from carrier.sip.transaction import Address, SendData, client_key
from carrier.sip.uri import URI, parse_uri

if TYPE_CHECKING:
    from carrier.sip.ua import Out, ResponseHandler, UserAgent


class CallState(enum.Enum):
    INITIAL = "initial"  # UAC: INVITE sent; UAS: INVITE received, nothing sent but 100
    EARLY = "early"  # a provisional with a tag went out / came in
    ANSWERED = "answered"  # UAS: 2xx sent, waiting for the ACK
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class Call:
    def __init__(
        self,
        ua: UserAgent,
        role: str,
        invite: Request,
        local_tag: str,
        *,
        dest: Address,
        credentials: Credentials | None,
    ) -> None:
        self.ua = ua
        self.role = role  # "uac" | "uas"
        self.invite = invite
        self.call_id = invite.call_id
        self.local_tag = local_tag
        self.dest = dest
        self.credentials = credentials
        self.trunk: str | None = None  # inbound: the trunk the policy matched the source to
        self.state = CallState.INITIAL
        self.dialog: Dialog | None = Dialog.from_uas(invite, local_tag) if role == "uas" else None
        self.server_key: str | None = None
        self.local_sdp: bytes | None = None
        self.remote_sdp: bytes | None = invite.body or None if role == "uas" else None
        self.session: SessionExpires | None = None
        self.refresher_is_us = False
        self.peer_allows_update = "UPDATE" in invite.tokens("Allow") if role == "uas" else False
        self._got_provisional = False
        self._cancel_pending = False
        self._cancel_sent = False
        self._retried_422 = False
        self._acks: dict[int, bytes] = {}  # INVITE CSeq -> ACK bytes, for 2xx retransmissions
        self._pending_2xx: tuple[int, bytes, Address] | None = None
        self._pending_server: dict[str, Request] = {}
        self._reinvite_out = False

    def __repr__(self) -> str:
        return f"Call({self.role}, {self.call_id!r}, {self.state.value})"

    # ---- UAC: the initial INVITE ---------------------------------------------------
    def start_invite(self, now: float) -> list[Out]:
        _, out = self.ua.send_request(self.invite, self.dest, now, self._on_invite_response)
        return out

    def cancel(self, now: float) -> list[Out]:
        """CANCEL our INVITE (RFC 3261 9.1); deferred until a provisional arrived."""
        if self.role != "uac" or self.state not in (CallState.INITIAL, CallState.EARLY):
            return []
        if self._cancel_sent:
            return []
        if not self._got_provisional:
            self._cancel_pending = True
            return []
        self._cancel_sent = True
        req = Request(method="CANCEL", uri=self.invite.uri)
        req.add("Via", self.invite.get_all("Via")[0])
        for route in self.invite.get_all("Route"):
            req.add("Route", route)
        for name in ("From", "To", "Call-ID"):
            req.add(name, self.invite.get(name) or "")
        req.add("CSeq", f"{self.invite.cseq.seq} CANCEL")
        req.add("Max-Forwards", "70")
        # RFC 3261 9.1: without a final response 64*T1 after CANCEL, give the INVITE up.
        deadline = now + 64 * self.ua.config.timers.t1
        self.ua.set_timer(f"{self.call_id}:cancel", deadline, self._cancel_expired)
        _, actions = self.ua.tx.send_request(
            req, self.dest, reliable=self.dest[0] != "UDP", now=now
        )
        return [a for a in actions if isinstance(a, SendData)]

    def _cancel_expired(self, now: float) -> list[Out]:
        """The INVITE got no final answer in time after CANCEL (or after the call ended
        early): drop its transaction so nothing is left open."""
        branch = self.invite.via.branch or ""
        self.ua.tx.abandon(client_key(branch, "INVITE"))
        if self.state not in (CallState.INITIAL, CallState.EARLY):
            return []
        return self._fail(487, "Request Terminated", None)

    def _on_invite_response(self, resp: Response | None, now: float) -> list[Out]:  # noqa: PLR0911
        if resp is None:
            if self.state in (CallState.INITIAL, CallState.EARLY):
                return self._fail(408, "Request Timeout", None)
            return []
        if resp.status < 200:
            return self._on_provisional(resp, now)
        if resp.status < 300:
            return self._on_2xx(resp, now)
        if self.state is not CallState.INITIAL and self.state is not CallState.EARLY:
            return []
        if resp.status in (401, 407) and self.credentials is not None:
            retry = self._retry_invite(resp, now)
            if retry is not None:
                return retry
        if resp.status == 422 and not self._retried_422:
            min_se = resp.get("Min-SE")
            if min_se and min_se.split(";")[0].strip().isdigit():
                self._retried_422 = True
                req = self.invite.copy()
                req.set("CSeq", f"{self.invite.cseq.seq + 1} INVITE")
                req.set("Session-Expires", min_se.split(";")[0].strip())
                req.set("Min-SE", min_se.split(";")[0].strip())
                self.invite = req
                self._got_provisional = self._cancel_sent = False
                return self.start_invite(now)
        return self._fail(resp.status, resp.reason, resp)

    def _retry_invite(self, resp: Response, now: float) -> list[Out] | None:
        assert self.credentials is not None
        retry = self.ua.auth_retry(
            self.invite, resp, self.credentials, now,
            handler=self._on_invite_response, dest=self.dest,
        )  # fmt: skip
        if retry is None:
            return None
        self.invite = retry[0]
        self._got_provisional = self._cancel_sent = False
        return retry[1]

    def _on_provisional(self, resp: Response, now: float) -> list[Out]:
        if self.state not in (CallState.INITIAL, CallState.EARLY):
            return []
        out: list[Out] = []
        if resp.status > 100:
            self._got_provisional = True
            self.state = CallState.EARLY
            if resp.to.tag and self.dialog is None and resp.contacts:
                self.dialog = Dialog.from_uac(self.invite, resp)
            if resp.body and resp.content_type == "application/sdp":
                self.remote_sdp = resp.body
        else:
            self._got_provisional = True
        if self._cancel_pending:
            self._cancel_pending = False
            out += self.cancel(now)
        if resp.status > 100:
            out.append(CallProgress(self, resp))
        return out

    def _on_2xx(self, resp: Response, now: float) -> list[Out]:
        seq = resp.cseq.seq
        if (
            self.dialog is not None
            and not self.dialog.early
            and resp.to.tag != self.dialog.remote_tag
        ):
            return self._drop_fork(resp, now)
        if seq in self._acks:  # retransmitted 2xx: ACK again
            return [SendData(self._acks[seq], self._next_hop())]
        if self.state not in (CallState.INITIAL, CallState.EARLY):
            return []
        dialog = Dialog.from_uac(self.invite, resp)
        if self.dialog is not None and self.dialog.remote_tag == dialog.remote_tag:
            dialog.route_set = list(reversed(resp.record_routes)) or self.dialog.route_set
        self.dialog = dialog
        dialog.early = False
        self.state = CallState.CONFIRMED
        if resp.body:
            self.remote_sdp = resp.body
        self.peer_allows_update = "UPDATE" in resp.tokens("Allow")
        out = self._send_ack(seq)
        self._read_session_timer(resp, now, uac=True)
        out.append(CallAnswered(self, resp))
        if self._cancel_pending or self._cancel_sent:  # CANCEL lost the race: hang up
            out += self.bye(now)
        return out

    def _drop_fork(self, resp: Response, now: float) -> list[Out]:
        """A 2xx from a second fork (another To tag): ACK it, then BYE it (RFC 3261 13.2.2.4)."""
        fork = Dialog.from_uac(self.invite, resp)
        target = fork.next_hop()
        transport = (target.param("transport") or "").upper() or self.dest[0]
        dest = (transport, target.host.strip("[]"), target.port or 5060)
        out = self.ua.send_stateless(fork.new_request("ACK", seq=resp.cseq.seq), dest)
        bye = fork.new_request("BYE")
        return out + self.ua.send_request(bye, dest, now, lambda _r, _t: [])[1]

    def _send_ack(self, seq: int) -> list[Out]:
        assert self.dialog is not None
        ack = self.dialog.new_request("ACK", seq=seq)
        out = self.ua.send_stateless(ack, self._next_hop())
        self._acks[seq] = ack.serialize()
        return out

    def on_stray_response(self, resp: Response, now: float) -> list[Out]:
        if resp.cseq.method == "INVITE" and 200 <= resp.status < 300:
            ack = self._acks.get(resp.cseq.seq)
            if ack is not None:
                return [SendData(ack, self._next_hop())]
        return []

    # ---- UAS: answering -------------------------------------------------------------
    def ring(self, now: float, *, status: int = 180, sdp: bytes | None = None) -> list[Out]:
        if self.role != "uas" or self.state not in (CallState.INITIAL, CallState.EARLY):
            raise LocalProtocolError("ring() is for an unanswered inbound call")
        if not 100 < status < 200:
            raise LocalProtocolError("ring() sends a 101-199 provisional")
        resp = self._response(self.invite, status, sdp)
        self.state = CallState.EARLY
        return self.ua.respond(self.server_key or "", resp, now)

    def answer(
        self, sdp: bytes, now: float, *, headers: tuple[tuple[str, str], ...] = ()
    ) -> list[Out]:
        if self.role != "uas" or self.state not in (CallState.INITIAL, CallState.EARLY):
            raise LocalProtocolError("answer() is for an unanswered inbound call")
        resp = self._response(self.invite, 200, sdp)
        resp.add("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REFER, NOTIFY")
        resp.add("Supported", "timer, replaces")
        self._offer_session_timer(resp)
        for name, value in headers:
            resp.add(name, value)
        self.local_sdp = sdp
        self.state = CallState.ANSWERED
        out = self.ua.respond(self.server_key or "", resp, now)
        self._arm_2xx(self.invite.cseq.seq, resp, self.dest, now)
        return out

    def reject(self, status: int, now: float, *, reason: str | None = None,
               headers: tuple[tuple[str, str], ...] = ()) -> list[Out]:  # fmt: skip
        if self.role != "uas" or self.state not in (CallState.INITIAL, CallState.EARLY):
            raise LocalProtocolError("reject() is for an unanswered inbound call")
        if not 300 <= status <= 699:
            raise LocalProtocolError("reject() sends a 3xx-6xx")
        resp = Response.for_request(self.invite, status, reason, to_tag=self.local_tag)
        for name, value in headers:
            resp.add(name, value)
        out = self._end(now)
        return out + self.ua.respond(self.server_key or "", resp, now)

    def on_cancel(self, now: float) -> list[Out]:
        if self.state not in (CallState.INITIAL, CallState.EARLY):
            return []
        resp = Response.for_request(self.invite, 487, to_tag=self.local_tag)
        out = self._end(now)
        return [*out, *self.ua.respond(self.server_key or "", resp, now), CallCancelled(self)]

    def on_ack(self, req: Request, now: float) -> list[Out]:
        pending = self._pending_2xx
        if pending is None or req.cseq.seq != pending[0]:
            return []
        self._pending_2xx = None
        self.ua.cancel_timer(f"{self.call_id}:2xx")
        if req.body and req.content_type == "application/sdp":
            self.remote_sdp = req.body
        if self.state is CallState.ANSWERED:
            self.state = CallState.CONFIRMED
            if self.dialog is not None:
                self.dialog.early = False
            self._start_session_timer(now)
            return [CallConfirmed(self)]
        return []

    # ---- in-dialog requests we receive ------------------------------------------------
    def on_request(  # noqa: PLR0911, PLR0912 - one branch per in-dialog method
        self, req: Request, key: str | None, now: float
    ) -> list[Out]:
        if key is None:
            return []
        if self.dialog is None:  # e.g. a request racing ahead of the 1xx that makes the dialog
            return self.ua.respond(key, Response.for_request(req, 481), now)
        if not self.dialog.accept_remote_cseq(req):
            return self._reply(req, key, 500, now)
        method = req.method
        if method == "BYE":
            out = self._reply(req, key, 200, now)
            if self.role == "uas" and self.state in (CallState.INITIAL, CallState.EARLY):
                resp = Response.for_request(self.invite, 487, to_tag=self.local_tag)
                out += self.ua.respond(self.server_key or "", resp, now)
            out += self._end(now)
            return [*out, CallEnded(self, "bye-received")]
        if method == "INVITE":
            if self._reinvite_out or self._pending_2xx is not None:
                return self._reply(req, key, 491, now)
            self.dialog.refresh_target(req)
            self._pending_server[key] = req
            return [ReInviteReceived(self, req, key)]
        if method == "UPDATE":
            self.dialog.refresh_target(req)
            if req.body:
                self._pending_server[key] = req
                return [UpdateReceived(self, req, key)]
            resp = self._response(req, 200, None)
            self._offer_session_timer(resp, refresh=req)
            out = self.ua.respond(key, resp, now)
            self._start_session_timer(now)
            return out
        if method == "INFO":
            out = self._reply(req, key, 200, now)
            try:
                dtmf = parse_dtmf_info(req.content_type, req.body)
            except SipParseError:
                dtmf = None
            return out if dtmf is None else [*out, DtmfReceived(self, dtmf.digit, dtmf.duration_ms)]
        if method == "REFER":
            refer_to = req.get("Refer-To")
            if refer_to is None:
                return self._reply(req, key, 400, now)
            target = ReferTarget.parse(refer_to)
            return [*self._reply(req, key, 202, now), ReferReceived(self, req, target)]
        if method == "NOTIFY":
            if (req.get("Event") or "").split(";")[0].strip().lower() != "refer":
                return self._reply(req, key, 489, now)
            status = parse_sipfrag(req.body)
            final = (req.get("Subscription-State") or "").lower().startswith("terminated")
            return [*self._reply(req, key, 200, now), ReferProgress(self, status, final)]
        return self._reply(req, key, 200, now)

    def respond(
        self, key: str, status: int, now: float, *, sdp: bytes | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> list[Out]:  # fmt: skip
        """Answer a ReInviteReceived / UpdateReceived."""
        req = self._pending_server.pop(key, None)
        if req is None:
            raise LocalProtocolError("no pending request with that key")
        resp = self._response(req, status, sdp if status < 300 else None)
        for name, value in headers:
            resp.add(name, value)
        if 200 <= status < 300:
            if sdp is not None:
                self.local_sdp = sdp
            if req.body:
                self.remote_sdp = req.body
            self._offer_session_timer(resp, refresh=req)
            self._start_session_timer(now)
        tx = self.ua.tx.get(key)
        out = self.ua.respond(key, resp, now)
        if req.method == "INVITE" and 200 <= status < 300 and tx is not None:
            self._arm_2xx(req.cseq.seq, resp, tx.dest, now)
        return out

    # ---- in-dialog requests we send -------------------------------------------------
    def bye(self, now: float) -> list[Out]:
        """Hang up: BYE when answered, CANCEL while calling out, 480 while ringing in."""
        if self.state is CallState.TERMINATED:
            return []
        if self.role == "uac" and self.state in (CallState.INITIAL, CallState.EARLY):
            return self.cancel(now)
        if self.role == "uas" and self.state in (CallState.INITIAL, CallState.EARLY):
            return self.reject(480, now)
        out = self._send("BYE", now)
        out += self._end(now)
        return [*out, CallEnded(self, "bye-sent")]

    def reinvite(self, sdp: bytes, now: float) -> list[Out]:
        """Send a re-INVITE with a new offer (hold: a=sendonly; resume: a=sendrecv)."""
        if self.state is not CallState.CONFIRMED or self._reinvite_out:
            raise LocalProtocolError("re-INVITE needs a confirmed call and none pending")
        self.local_sdp = sdp
        self._reinvite_out = True
        return self._send("INVITE", now, body=sdp, content_type="application/sdp")

    def update(self, now: float, *, sdp: bytes | None = None) -> list[Out]:
        if sdp is not None:
            self.local_sdp = sdp
        return self._send(
            "UPDATE", now, body=sdp or b"", content_type="application/sdp" if sdp else None
        )

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
        return self._send("REFER", now, headers=extra)

    def notify_refer(
        self, status: int, now: float, *, final: bool, reason: str | None = None
    ) -> list[Out]:
        state = "terminated;reason=noresource" if final else "active;expires=60"
        body = sipfrag(status, reason or REASONS.get(status, "Unknown"))
        extra = (("Event", "refer"), ("Subscription-State", state))
        return self._send(
            "NOTIFY", now, body=body, content_type="message/sipfrag;version=2.0", headers=extra
        )

    def send_dtmf_info(self, digit: str, now: float, *, duration_ms: int = 160) -> list[Out]:
        relay = DtmfRelay(digit, duration_ms)
        return self._send("INFO", now, body=relay.body(), content_type="application/dtmf-relay")

    def _send(
        self, method: str, now: float, *, body: bytes = b"", content_type: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> list[Out]:  # fmt: skip
        if self.dialog is None or (self.state is CallState.TERMINATED and method != "BYE"):
            raise LocalProtocolError(f"{method} needs a dialog")
        req = self.dialog.new_request(method)
        if method != "BYE":
            req.add("Contact", self.ua.contact(self.dest[0], self.ua.config.user))
        for name, value in headers:
            req.add(name, value)
        if content_type:
            req.add("Content-Type", content_type)
        req.body = body
        dest = self._next_hop()

        def done(resp: Response | None, when: float) -> list[Out]:
            return self._on_in_dialog_response(req, resp, when, done, dest)

        return self.ua.send_request(req, dest, now, done)[1]

    def _on_in_dialog_response(self, req: Request, resp: Response | None, now: float,
                               handler: ResponseHandler, dest: Address) -> list[Out]:  # fmt: skip
        if resp is not None and resp.status < 200:
            return []
        method = req.method
        if resp is not None and resp.status in (401, 407) and self.credentials is not None:
            assert self.dialog is not None
            retry = self.ua.auth_retry(
                req,
                resp,
                self.credentials,
                now,
                handler=handler,
                dest=dest,
            )
            if retry is not None:
                self.dialog.local_seq = req.cseq.seq + 1
                return retry[1]
        status = 408 if resp is None else resp.status
        out: list[Out] = []
        if method == "INVITE":
            self._reinvite_out = False
            if resp is not None and 200 <= resp.status < 300:
                assert self.dialog is not None
                self.dialog.refresh_target(resp)
                if resp.body:
                    self.remote_sdp = resp.body
                out += self._send_ack(resp.cseq.seq)
                self._read_session_timer(resp, now, uac=True)
        if method == "UPDATE" and resp is not None and 200 <= resp.status < 300:
            if resp.body:
                self.remote_sdp = resp.body
            self._read_session_timer(resp, now, uac=True)
        out.append(RequestResult(self, method, status, resp))
        if status in (408, 481) and method != "BYE" and self.state is not CallState.TERMINATED:
            out += self.bye(now)  # RFC 3261 12.2.1.2: the dialog is gone
        return out

    # ---- session timers (RFC 4028) ----------------------------------------------------
    def _offer_session_timer(self, resp: Response, *, refresh: Request | None = None) -> None:
        """Put Session-Expires in our 2xx. In RFC 4028 terms the peer is the UAC of the
        request being answered and we are its UAS."""
        source = refresh or self.invite
        value = source.get("Session-Expires")
        peer_supports = "timer" in [t.lower() for t in source.tokens("Supported")]
        if value is None and not peer_supports:
            return
        asked = SessionExpires.parse(value) if value else None
        seconds = asked.seconds if asked else self.ua.config.session_expires
        refresher = asked.refresher if asked and asked.refresher else None
        if refresher is None:
            refresher = "uac" if peer_supports else "uas"
        self.session = SessionExpires(seconds, refresher)
        self.refresher_is_us = refresher == "uas"
        resp.set("Session-Expires", str(self.session))
        if peer_supports:
            resp.set("Require", "timer")

    def _read_session_timer(self, resp: Response, now: float, *, uac: bool) -> None:
        value = resp.get("Session-Expires")
        if value is None:
            return
        se = SessionExpires.parse(value)
        self.session = se
        self.refresher_is_us = (se.refresher or "uac") == ("uac" if uac else "uas")
        self._start_session_timer(now)

    def _start_session_timer(self, now: float) -> None:
        if self.session is None or self.state is CallState.TERMINATED:
            return
        se = self.session.seconds
        name = f"{self.call_id}:se"
        if self.refresher_is_us:
            self.ua.set_timer(name, now + se / 2, self._refresh_session)
        else:
            self.ua.set_timer(name, now + se - min(32, se / 3), self._session_expired)

    def _refresh_session(self, now: float) -> list[Out]:
        if self.state is not CallState.CONFIRMED:
            return []
        if self.peer_allows_update:
            return self.update(now)
        if self._reinvite_out or self.local_sdp is None:
            return []
        return self.reinvite(self.local_sdp, now)

    def _session_expired(self, now: float) -> list[Out]:
        if self.state is not CallState.CONFIRMED:
            return []
        out = self._send("BYE", now)
        out += self._end(now)
        return [*out, CallEnded(self, "session-expired")]

    # ---- helpers ---------------------------------------------------------------------
    def _arm_2xx(self, seq: int, resp: Response, dest: Address, now: float) -> None:
        """Retransmit our 2xx to INVITE until the ACK (RFC 3261 13.3.1.4)."""
        wire = resp.serialize()
        self._pending_2xx = (seq, wire, dest)
        timers = self.ua.config.timers
        deadline = now + 64 * timers.t1
        name = f"{self.call_id}:2xx"

        def fire(interval: float) -> object:
            def resend(when: float) -> list[Out]:
                if self._pending_2xx is None or self._pending_2xx[0] != seq:
                    return []
                if when >= deadline:
                    self._pending_2xx = None
                    if self.state is CallState.ANSWERED:
                        out = self._send("BYE", when)
                        out += self._end(when)
                        return [*out, CallEnded(self, "ack-timeout")]
                    return []
                nxt = min(interval * 2, timers.t2)
                self.ua.set_timer(name, min(when + nxt, deadline), fire(nxt))  # type: ignore[arg-type]
                return [] if dest[0] != "UDP" else [SendData(wire, dest)]

            return resend

        first = timers.t1 if dest[0] == "UDP" else 64 * timers.t1
        self.ua.set_timer(name, min(now + first, deadline), fire(timers.t1))  # type: ignore[arg-type]

    def _response(self, req: Request, status: int, sdp: bytes | None) -> Response:
        resp = Response.for_request(req, status, to_tag=self.local_tag)
        if status > 100:
            resp.add("Contact", self.ua.contact(self.dest[0], self.ua.config.user))
        if sdp is not None:
            resp.add("Content-Type", "application/sdp")
            resp.body = sdp
        return resp

    def _reply(self, req: Request, key: str, status: int, now: float) -> list[Out]:
        return self.ua.respond(key, self._response(req, status, None), now)

    def _next_hop(self) -> Address:
        if self.dialog is None:
            return self.dest
        uri = self.dialog.next_hop()
        transport = (uri.param("transport") or "").upper() or (
            "TLS" if uri.scheme == "sips" else self.dest[0]
        )
        host = uri.param("maddr") or uri.host
        return (transport, host.strip("[]"), uri.port or (5061 if transport == "TLS" else 5060))

    def _fail(self, status: int, reason: str, resp: Response | None) -> list[Out]:
        self._end()
        return [CallFailed(self, status, reason, resp)]

    def _end(self, now: float | None = None) -> list[Out]:
        """Mark the call over; requests still waiting for the application are answered
        (487 for a re-INVITE, 481 otherwise) so that no server transaction is left open."""
        out: list[Out] = []
        if now is not None:
            for key, req in list(self._pending_server.items()):
                status = 487 if req.method == "INVITE" else 481
                out += self.ua.respond(key, Response.for_request(req, status), now)
        self._pending_server.clear()
        invite_open = self.role == "uac" and self.state in (CallState.INITIAL, CallState.EARLY)
        if invite_open and now is not None and not self._cancel_sent:
            deadline = now + 64 * self.ua.config.timers.t1
            self.ua.set_timer(f"{self.call_id}:cancel", deadline, self._cancel_expired)
        self.state = CallState.TERMINATED
        self._pending_2xx = None
        for suffix in ("2xx", "se"):
            self.ua.cancel_timer(f"{self.call_id}:{suffix}")
        self.ua.forget_call(self)
        return out
