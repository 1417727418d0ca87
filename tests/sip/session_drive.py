"""Put an InviteSession into any state over the in-memory network, and build a valid
`Ctx` for any table input, so that tests can drive every (state, input) pair."""

from __future__ import annotations

import contextlib
import itertools

from carrier.sip.dialog import Dialog, sipfrag
from carrier.sip.errors import LocalProtocolError
from carrier.sip.message import Request, Response
from carrier.sip.sdp import LocalMedia, build_offer
from carrier.sip.session import InviteSession
from carrier.sip.session_api import SessionState
from carrier.sip.session_core import Ctx, Pending2xx
from carrier.sip.session_table import Input
from carrier.sip.transaction_layer import NewRequest
from carrier.sip.ua import UserAgent
from carrier.sip.uri import parse_uri
from tests.sip.sip_uanet import Net, make_ua

SDP = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=1).serialize()
S, In = SessionState, Input
_branches = itertools.count(1)


class Pair:
    """Two UAs, a call from `a` (the UAC session) to `b` (the UAS session)."""

    def __init__(self) -> None:
        self.a = make_ua("127.0.0.1", 5060)
        self.b = make_ua("127.0.0.2", 5070)
        self.net = Net(self.a, self.b)
        self.uac: InviteSession | None = None
        self.uas: InviteSession | None = None

    def session(self, role: str) -> InviteSession:
        session = self.uac if role == "uac" else self.uas
        assert session is not None
        return session

    def host(self, session: InviteSession) -> UserAgent:
        return self.a if session.role == "uac" else self.b

    def peer(self, session: InviteSession) -> UserAgent:
        return self.b if session.role == "uac" else self.a

    def do(self, session: InviteSession, outs: list[object], *, pump: bool = True) -> None:
        self.net.send(self.host(session), outs)  # type: ignore[arg-type]
        if pump:
            self.net.pump()

    # ---- reaching a state by real steps ------------------------------------------------
    def dial(self, *, deliver: bool = True) -> None:
        self.uac, outs = self.a.invite("sip:b@127.0.0.2:5070", now=self.net.now, sdp=SDP)
        if deliver:
            self.net.send(self.a, outs)
            self.net.pump()
            (incoming,) = [e for e in self.net.events[self.b] if hasattr(e, "replaces")]
            self.uas = incoming.call  # type: ignore[attr-defined]

    def into(self, role: str, state: SessionState) -> InviteSession:
        uac_only_initial = role == "uac" and state in (S.INITIAL, S.CANCEL_PENDING)
        self.dial(deliver=not uac_only_initial)
        uac, now = self.uac, self.net.now
        assert uac is not None
        if uac_only_initial:
            if state is S.CANCEL_PENDING:
                uac.cancel(now)
            return uac
        uas = self.session("uas")
        if state in (S.EARLY, S.CANCELLING, S.ANSWERED, S.CONFIRMED, S.TERMINATED):
            self.do(uas, uas.ring(now))
        if state is S.CANCELLING:
            uac.cancel(now)  # the CANCEL is never put on the wire
        if state is S.ANSWERED:
            uas.answer(SDP, now)  # the 2xx is never put on the wire
        if state in (S.CONFIRMED, S.TERMINATED):
            self.do(uas, uas.answer(SDP, now))
        if state is S.TERMINATED:
            session = self.session(role)
            self.do(session, session.bye(now))
        session = self.session(role)
        assert session.state is state, (role, state, session.state)
        return session

    # ---- a valid Ctx for each input -----------------------------------------------------
    def ctx(self, session: InviteSession, event: Input) -> Ctx:
        now = self.net.now
        s = session
        if event in _INVITE_RESPONSES:
            return self._invite_response(s, event)
        if event in (In.RECV_ACK, In.TIMER_2XX, In.TIMER_ACK):
            if s.pending_2xx is None:
                s.pending_2xx = Pending2xx(s.invite.cseq.seq, b"SIP/2.0 200 OK\r\n\r\n",
                                           s.dest, 0.5)  # fmt: skip
            return Ctx(now)
        if event in _REQUESTS:
            method, body, headers = _REQUESTS[event]
            return self._incoming(s, method, body, headers, stale=event is In.RECV_STALE_CSEQ)
        if event in _RESULTS:
            method, status = _RESULTS[event]
            return self._result(s, method, status, challenge=event is In.RECV_REQUEST_CHALLENGE)
        if event is In.SEND_1XX:
            return Ctx(now, status=180)
        if event in (In.SEND_2XX, In.SEND_REINVITE):
            s.reinvite_out = False
            return Ctx(now, sdp=SDP)
        if event is In.SEND_FAILURE:
            return Ctx(now, status=486)
        if event is In.SEND_IN_DIALOG:
            self._ensure_dialog(s)
            return Ctx(now, method="INFO", body=b"Signal=5\r\nDuration=160\r\n",
                       content_type="application/dtmf-relay")  # fmt: skip
        if event is In.SEND_ANSWER and s.state is not S.TERMINATED:
            ctx = self._incoming(s, "UPDATE", SDP, (("Content-Type", "application/sdp"),))
            assert ctx.request is not None
            assert ctx.key is not None
            s.pending_server[ctx.key] = ctx.request
            return Ctx(now, key=ctx.key, status=200, sdp=SDP)
        return Ctx(now)  # CANCEL, BYE and the timers carry nothing

    def _invite_response(self, s: InviteSession, event: Input) -> Ctx:
        status = {In.RECV_100: 100, In.RECV_1XX: 180, In.RECV_2XX: 200, In.RECV_2XX_AGAIN: 200,
                  In.RECV_2XX_FORK: 200, In.RECV_CHALLENGE: 407, In.RECV_422: 422,
                  In.RECV_FAILURE: 486, In.INVITE_TIMEOUT: 0}[event]  # fmt: skip
        ctx = Ctx(self.net.now, request=s.invite, handler=lambda _r, _t: [])
        if status == 0:
            return ctx
        tag = "fork" if event is In.RECV_2XX_FORK else (
            s.dialog.remote_tag if s.dialog is not None else "b-tag")  # fmt: skip
        resp = Response.for_request(s.invite, status, to_tag=None if status == 100 else tag)
        if status > 100:
            resp.add("Contact", "<sip:b@127.0.0.2:5070>")
        if status == 200:
            resp.add("Content-Type", "application/sdp")
            resp.body = SDP
        if event is In.RECV_2XX_AGAIN:
            self._ensure_dialog(s)
            s.acks.setdefault(resp.cseq.seq, b"ACK sip:b@127.0.0.2:5070 SIP/2.0\r\n\r\n")
        if event in (In.RECV_CHALLENGE, In.RECV_422):
            retry = s.invite.copy()
            retry.set("CSeq", f"{s.invite.cseq.seq + 1} INVITE")
            ctx.retry = retry
        ctx.response = resp
        return ctx

    def _ensure_dialog(self, s: InviteSession) -> Dialog:
        if s.dialog is None:
            ringing = Response.for_request(s.invite, 180, to_tag="b-tag")
            ringing.add("Contact", "<sip:b@127.0.0.2:5070>")
            s.dialog = Dialog.from_uac(s.invite, ringing)
        return s.dialog

    def _incoming(self, s: InviteSession, method: str, body: bytes,
                  headers: tuple[tuple[str, str], ...], *, stale: bool = False) -> Ctx:  # fmt: skip
        """A request from the peer, given a server transaction in the host."""
        dialog = self._ensure_dialog(s)
        peer = self.peer(s).config.contacts["UDP"]
        req = Request(method=method, uri=parse_uri(f"sip:x@{s.dest[1]}"))
        req.add("Via", f"SIP/2.0/UDP {peer[0]}:{peer[1]};branch=z9hG4bKd{next(_branches)}")
        req.add("From", str(dialog.remote))
        req.add("To", str(dialog.local))
        req.add("Call-ID", s.call_id)
        req.add("CSeq", f"{1 if stale else 1000 + next(_branches)} {method}")
        req.add("Max-Forwards", "70")
        for name, value in headers:
            req.add(name, value)
        req.body = body
        (event,) = self.host(s).tx.receive(req, ("UDP", *peer), reliable=False, now=self.net.now)
        assert isinstance(event, NewRequest)
        return Ctx(self.net.now, request=req, key=event.key)

    def _result(self, s: InviteSession, method: str, status: int, *, challenge: bool) -> Ctx:
        dialog = self._ensure_dialog(s)
        req = dialog.new_request(method)
        req.add("Via", "SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKr1")
        resp = None if status == 0 else Response.for_request(req, status, to_tag=dialog.remote_tag)
        ctx = Ctx(self.net.now, request=req, response=resp, status=status or 408,
                  dest=s.next_hop(), handler=lambda _r, _t: [])  # fmt: skip
        if challenge:
            retry = req.copy()
            retry.set("CSeq", f"{req.cseq.seq + 1} {method}")
            ctx.retry = retry
        return ctx

    # ---- the end of every run ------------------------------------------------------------
    def settle(self) -> None:
        """Hang both sides up, run the clock far: nothing may stay open."""
        self.net.drop = lambda data, dest: False
        live = [self.uac, self.uas]
        for _ in range(3):  # a synthetic input may leave the wire to make a new call
            for session in live:
                if session is not None and session.state is not S.TERMINATED:
                    with contextlib.suppress(LocalProtocolError):
                        self.do(session, session.bye(self.net.now))
            self.net.advance(self.net.now + 100.0)
            live = [*self.a.calls.values(), *self.b.calls.values()]
            if not live:
                break
        for ua in (self.a, self.b):
            assert len(ua.tx) == 0
            assert ua.next_timer is None
            assert not ua.calls


_INVITE_RESPONSES = frozenset(
    {In.RECV_100, In.RECV_1XX, In.RECV_2XX, In.RECV_2XX_AGAIN, In.RECV_2XX_FORK,
     In.RECV_CHALLENGE, In.RECV_422, In.RECV_FAILURE, In.INVITE_TIMEOUT}
)  # fmt: skip
_SIPFRAG = (("Event", "refer"), ("Subscription-State", "terminated"),
            ("Content-Type", "message/sipfrag"))  # fmt: skip
_REQUESTS: dict[Input, tuple[str, bytes, tuple[tuple[str, str], ...]]] = {
    In.RECV_BYE: ("BYE", b"", ()),
    In.RECV_REINVITE: ("INVITE", SDP, (("Content-Type", "application/sdp"),)),
    In.RECV_UPDATE: ("UPDATE", b"", (("Session-Expires", "1800;refresher=uac"),)),
    In.RECV_INFO: ("INFO", b"Signal=7\r\n", (("Content-Type", "application/dtmf-relay"),)),
    In.RECV_REFER: ("REFER", b"", (("Refer-To", "<sip:c@127.0.0.3>"),)),
    In.RECV_NOTIFY: ("NOTIFY", sipfrag(200, "OK"), _SIPFRAG),
    In.RECV_REQUEST: ("OPTIONS", b"", ()),
    In.RECV_STALE_CSEQ: ("INFO", b"", ()),
    In.RECV_FOREIGN_SOURCE: ("BYE", b"", ()),
    In.RECV_NO_DIALOG: ("BYE", b"", ()),
}
_RESULTS: dict[Input, tuple[str, int]] = {
    In.RECV_REINVITE_2XX: ("INVITE", 200),
    In.RECV_UPDATE_2XX: ("UPDATE", 200),
    In.RECV_DIALOG_GONE: ("INFO", 481),
    In.RECV_REQUEST_CHALLENGE: ("INFO", 401),
    In.RECV_RESULT: ("INFO", 200),
}
