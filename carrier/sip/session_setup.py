"""Effects of the session table while the INVITE is answered: RFC 3261 13.2 (UAC),
13.3 (UAS), 9 (CANCEL) and the end of a session. Each takes the session and the
input's `Ctx` and returns outputs; `SETUP_EFFECTS` maps the table's effects to them.
"""

from __future__ import annotations

from collections.abc import Callable

from carrier.sip.body import session_sdp
from carrier.sip.dialog import Dialog
from carrier.sip.events import (
    AnswerInAck,
    CallAnswered,
    CallCancelled,
    CallConfirmed,
    CallEnded,
    CallFailed,
    CallProgress,
    Out,
)
from carrier.sip.message import Request, Response
from carrier.sip.session_core import ALLOW, Ctx, SessionCore
from carrier.sip.session_table import Effect
from carrier.sip.session_timer import (
    arm_2xx,
    arm_abandon,
    forget_2xx,
    offer_session_timer,
    read_session_timer,
    retransmit_2xx,
    start_session_timer,
)
from carrier.sip.transaction import SendData
from carrier.sip.uri import on_this_host

EffectFn = Callable[[SessionCore, Ctx], list[Out]]


def _resp(ctx: Ctx) -> Response:
    assert ctx.response is not None
    return ctx.response


# ---- UAC --------------------------------------------------------------------------------
def progress(s: SessionCore, ctx: Ctx) -> list[Out]:
    resp = _resp(ctx)
    if resp.to.tag and s.dialog is None and resp.contacts:
        s.dialog = Dialog.from_uac(s.invite, resp)
    if (sdp := session_sdp(resp)) is not None:
        s.remote_sdp = sdp
    return [CallProgress(s, resp)]


def send_cancel(s: SessionCore, ctx: Ctx) -> list[Out]:
    """CANCEL our INVITE (RFC 3261 9.1): same Request-URI, Via, Route, From, To, Call-ID."""
    req = Request(method="CANCEL", uri=s.invite.uri)
    req.add("Via", s.invite.get_all("Via")[0])
    for route in s.invite.get_all("Route"):
        req.add("Route", route)
    for name in ("From", "To", "Call-ID"):
        req.add(name, s.invite.get(name) or "")
    req.add("CSeq", f"{s.invite.cseq.seq} CANCEL")
    req.add("Max-Forwards", "70")
    arm_abandon(s, ctx.now)
    return s.host.send_cancel(req, s.dest, ctx.now)


def accept_2xx(s: SessionCore, ctx: Ctx) -> list[Out]:
    """The 2xx to our INVITE makes the dialog (RFC 3261 12.1.2); ACK it (13.2.2.4)."""
    resp = _resp(ctx)
    dialog = Dialog.from_uac(s.invite, resp)
    if s.dialog is not None and s.dialog.remote_tag == dialog.remote_tag:
        dialog.route_set = list(reversed(resp.record_routes)) or s.dialog.route_set
    dialog.early = False
    s.dialog = dialog
    if (sdp := session_sdp(resp)) is not None:
        s.remote_sdp = sdp
    s.peer_allows_update = "UPDATE" in resp.tokens("Allow")
    out = send_ack(s, resp.cseq.seq)
    read_session_timer(s, resp, ctx.now)
    return [*out, CallAnswered(s, resp)]


def send_ack(s: SessionCore, seq: int) -> list[Out]:
    assert s.dialog is not None
    ack = s.dialog.new_request("ACK", seq=seq)
    out = s.host.send_ack(ack, s.next_hop())
    s.acks[seq] = ack.serialize()
    return out


def ack_again(s: SessionCore, ctx: Ctx) -> list[Out]:
    return [SendData(s.acks[_resp(ctx).cseq.seq], s.next_hop())]


def drop_fork(s: SessionCore, ctx: Ctx) -> list[Out]:
    """A 2xx from a second fork (another To tag): ACK it, then BYE it (RFC 3261 13.2.2.4)."""
    resp = _resp(ctx)
    fork = Dialog.from_uac(s.invite, resp)
    target = fork.next_hop()
    transport = (target.param("transport") or "").upper() or s.dest[0]
    dest = (transport, target.host.strip("[]"), target.port or 5060)
    if on_this_host(dest[1]) and not on_this_host(s.dest[1]):
        dest = s.dest  # as SessionCore.next_hop: a peer elsewhere naming this host
    out = s.host.send_ack(fork.new_request("ACK", seq=resp.cseq.seq), dest)
    return out + s.host.send_request(fork.new_request("BYE"), dest, ctx.now, lambda _r, _t: [])


def retry_invite(s: SessionCore, ctx: Ctx) -> list[Out]:
    assert ctx.retry is not None
    assert ctx.handler is not None
    s.invite = ctx.retry
    return s.host.send_request(s.invite, s.dest, ctx.now, ctx.handler)


def fail(s: SessionCore, ctx: Ctx) -> list[Out]:
    resp = _resp(ctx)
    return [CallFailed(s, resp.status, resp.reason, resp)]


def fail_timeout(s: SessionCore, ctx: Ctx) -> list[Out]:
    return [CallFailed(s, 408, "Request Timeout", None)]


def fail_cancelled(s: SessionCore, ctx: Ctx) -> list[Out]:
    return [CallFailed(s, 487, "Request Terminated", None)]


def abandon_invite(s: SessionCore, ctx: Ctx) -> list[Out]:
    s.host.abandon(s.invite)
    return []


def arm_abandon_invite(s: SessionCore, ctx: Ctx) -> list[Out]:
    arm_abandon(s, ctx.now)
    return []


# ---- UAS --------------------------------------------------------------------------------
def send_provisional(s: SessionCore, ctx: Ctx) -> list[Out]:
    resp = s.response(s.invite, ctx.status, ctx.sdp)
    return s.host.respond(s.server_key or "", resp, ctx.now)


def send_answer(s: SessionCore, ctx: Ctx) -> list[Out]:
    resp = s.response(s.invite, 200, ctx.sdp)
    resp.add("Allow", ALLOW)
    resp.add("Supported", "timer, replaces")
    offer_session_timer(s, resp)
    for name, value in ctx.headers:
        resp.add(name, value)
    s.local_sdp = ctx.sdp
    out = s.host.respond(s.server_key or "", resp, ctx.now)
    arm_2xx(s, s.invite.cseq.seq, resp, s.dest, ctx.now)
    return out


def send_reject(s: SessionCore, ctx: Ctx) -> list[Out]:
    resp = Response.for_request(s.invite, ctx.status, ctx.reason, to_tag=s.local_tag)
    for name, value in ctx.headers:
        resp.add(name, value)
    return s.host.respond(s.server_key or "", resp, ctx.now)


def _final(s: SessionCore, ctx: Ctx, status: int) -> list[Out]:
    resp = Response.for_request(s.invite, status, to_tag=s.local_tag)
    return s.host.respond(s.server_key or "", resp, ctx.now)


def confirm(s: SessionCore, ctx: Ctx) -> list[Out]:
    ack_reoffer(s, ctx)
    if s.dialog is not None:
        s.dialog.early = False
    start_session_timer(s, ctx.now)
    return [CallConfirmed(s)]


def ack_reoffer(s: SessionCore, ctx: Ctx) -> list[Out]:
    """The ACK of a 2xx; its SDP answers the offer that 2xx made, if it made one."""
    offered = s.pending_2xx is not None and s.pending_2xx.offered
    forget_2xx(s)
    req = ctx.request
    if req is not None and (sdp := session_sdp(req)) is not None:
        s.remote_sdp = sdp
        return [AnswerInAck(s, sdp)] if offered else []
    return []


def forget_pending_2xx(s: SessionCore, ctx: Ctx) -> list[Out]:
    """No ACK for the 2xx of a re-INVITE: stop retransmitting; the call stays."""
    forget_2xx(s)
    return []


# ---- the end ----------------------------------------------------------------------------
def end(s: SessionCore, ctx: Ctx) -> list[Out]:
    """Requests still waiting for the application are answered (487 for a re-INVITE,
    481 otherwise) so that no server transaction is left open; timers stop."""
    out: list[Out] = []
    for key, req in list(s.pending_server.items()):
        status = 487 if req.method == "INVITE" else 481
        out += s.host.respond(key, Response.for_request(req, status), ctx.now)
    s.pending_server.clear()
    forget_2xx(s)
    s.host.cancel_timer(s.timer("se"))
    s.host.session_ended(s)
    return out


def send_bye(s: SessionCore, ctx: Ctx) -> list[Out]:
    return s.send_in_dialog("BYE", ctx.now)


def _ended(reason: str) -> EffectFn:
    return lambda s, ctx: [CallEnded(s, reason)]


SETUP_EFFECTS: dict[Effect, EffectFn] = {
    Effect.PROGRESS: progress,
    Effect.SEND_CANCEL: send_cancel,
    Effect.ACCEPT_2XX: accept_2xx,
    Effect.ACK_AGAIN: ack_again,
    Effect.DROP_FORK: drop_fork,
    Effect.RETRY_INVITE: retry_invite,
    Effect.FAIL: fail,
    Effect.FAIL_TIMEOUT: fail_timeout,
    Effect.FAIL_CANCELLED: fail_cancelled,
    Effect.ABANDON_INVITE: abandon_invite,
    Effect.ARM_ABANDON: arm_abandon_invite,
    Effect.SEND_PROVISIONAL: send_provisional,
    Effect.SEND_ANSWER: send_answer,
    Effect.SEND_REJECT: send_reject,
    Effect.REJECT_480: lambda s, ctx: _final(s, ctx, 480),
    Effect.REJECT_487: lambda s, ctx: _final(s, ctx, 487),
    Effect.CANCELLED: lambda s, ctx: [CallCancelled(s)],
    Effect.CONFIRM: confirm,
    Effect.ACK_REOFFER: ack_reoffer,
    Effect.RETRANSMIT_2XX: retransmit_2xx,
    Effect.FORGET_2XX: forget_pending_2xx,
    Effect.SEND_BYE: send_bye,
    Effect.END: end,
    Effect.ENDED_BYE_RECEIVED: _ended("bye-received"),
    Effect.ENDED_BYE_SENT: _ended("bye-sent"),
    Effect.ENDED_NO_ACK: _ended("ack-timeout"),
    Effect.ENDED_EXPIRED: _ended("session-expired"),
}
