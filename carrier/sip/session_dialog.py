"""Effects of the session table inside the dialog: requests we receive (RFC 3261 12.2.2,
re-INVITE 14, UPDATE RFC 3311, INFO RFC 6086, REFER/NOTIFY RFC 3515), requests we send
and their results (12.2.1), and the session refresh (RFC 4028 sec 10).
"""

from __future__ import annotations

from carrier.sip.body import ACCEPT, body_refusal, session_sdp
from carrier.sip.dialog import ReferTarget, SessionExpires, parse_dtmf_info, parse_sipfrag
from carrier.sip.errors import LocalProtocolError, SipParseError
from carrier.sip.events import (
    DtmfReceived,
    Out,
    ReferProgress,
    ReferReceived,
    ReInviteReceived,
    RequestResult,
    UpdateReceived,
)
from carrier.sip.message import Request, Response
from carrier.sip.session_api import SessionState
from carrier.sip.session_core import ALLOW, Ctx, SessionCore
from carrier.sip.session_setup import EffectFn, send_ack
from carrier.sip.session_table import Effect, Input
from carrier.sip.session_timer import (
    arm_2xx,
    offer_session_timer,
    read_session_timer,
    retry_refresh,
    start_session_timer,
)
from carrier.sip.ua_config import SUPPORTED


def _req(ctx: Ctx) -> tuple[Request, str]:
    assert ctx.request is not None
    assert ctx.key is not None
    return ctx.request, ctx.key


MAX_INTERVAL = 86400  # a peer's Min-SE we take for a refresh: up to a day

# ---- requests we receive ------------------------------------------------------------------
def _crossing(s: SessionCore, ctx: Ctx) -> list[Out] | None:
    """The answer to an offer (or a re-INVITE) that crosses another exchange, or None.

    491 while we have an offer out: our re-INVITE or UPDATE in progress (RFC 3261 14.2,
    RFC 3311 5.2) or our 2xx whose ACK brings the answer. 500 with Retry-After 0-10 s
    while the peer's earlier offer waits for our answer (14.2, RFC 3311 5.2) and, for a
    re-INVITE, while our 2xx to the last INVITE is not ACKed: that INVITE is not done
    at our side (13.3.1.4) and a second one must wait (14.2)."""
    req, key = _req(ctx)
    pending = s.pending_2xx
    if s.reinvite_out or s.update_offer_out or (pending is not None and pending.offered):
        return s.reply(ctx, 491)
    if s.pending_server or (req.method == "INVITE" and pending is not None):
        resp = s.response(req, 500, None)
        resp.add("Retry-After", str(sum(s.host.new_id().encode()) % 11))
        return s.host.respond(key, resp, ctx.now)
    return None


def offer_received(s: SessionCore, ctx: Ctx) -> list[Out]:
    """A re-INVITE: 415, 491 or 500 when it cannot be taken now (`_crossing`)."""
    req, key = _req(ctx)
    if (accepted := body_refusal(req)) is not None:
        return _refuse_body(s, ctx, accepted)
    if (refused := _crossing(s, ctx)) is not None:
        return refused
    assert s.dialog is not None
    s.dialog.refresh_target(req)
    s.pending_server[key] = req
    return [ReInviteReceived(s, req, key)]


def update_received(s: SessionCore, ctx: Ctx) -> list[Out]:
    """An UPDATE with an offer goes to the application; without one it only refreshes
    the session (RFC 4028 sec 9)."""
    req, key = _req(ctx)
    if (accepted := body_refusal(req)) is not None:
        return _refuse_body(s, ctx, accepted)
    offer = session_sdp(req) is not None
    if offer and (refused := _crossing(s, ctx)) is not None:
        return refused
    assert s.dialog is not None
    s.dialog.refresh_target(req)
    if offer:
        s.pending_server[key] = req
        return [UpdateReceived(s, req, key)]
    resp = s.response(req, 200, None)
    offer_session_timer(s, resp, refresh=req)
    out = s.host.respond(key, resp, ctx.now)
    start_session_timer(s, ctx.now)
    return out


def _refuse_body(s: SessionCore, ctx: Ctx, accepted: tuple[tuple[str, str], ...]
                 ) -> list[Out]:  # fmt: skip
    """415: an offer whose body we cannot read; the session stays as it was."""
    req, key = _req(ctx)
    resp = s.response(req, 415, None)
    for name, value in accepted:
        resp.add(name, value)
    return s.host.respond(key, resp, ctx.now)


def info_received(s: SessionCore, ctx: Ctx) -> list[Out]:
    req, _ = _req(ctx)
    out = s.reply(ctx, 200)
    try:
        dtmf = parse_dtmf_info(req.content_type, req.body)
    except SipParseError:
        dtmf = None
    return out if dtmf is None else [*out, DtmfReceived(s, dtmf.digit, dtmf.duration_ms)]


def refer_received(s: SessionCore, ctx: Ctx) -> list[Out]:
    req, _ = _req(ctx)
    refer_to = req.get("Refer-To")
    if refer_to is None:
        return s.reply(ctx, 400)
    target = ReferTarget.parse(refer_to)
    return [*s.reply(ctx, 202), ReferReceived(s, req, target)]


def notify_received(s: SessionCore, ctx: Ctx) -> list[Out]:
    req, _ = _req(ctx)
    if (req.get("Event") or "").split(";")[0].strip().lower() != "refer":
        return s.reply(ctx, 489)
    status = parse_sipfrag(req.body)
    final = (req.get("Subscription-State") or "").lower().startswith("terminated")
    return [*s.reply(ctx, 200), ReferProgress(s, status, final)]


def answer_offer(s: SessionCore, ctx: Ctx) -> list[Out]:
    """The application's answer to a ReInviteReceived / UpdateReceived."""
    assert ctx.key is not None
    req = s.pending_server.pop(ctx.key, None)
    if req is None:
        raise LocalProtocolError("no pending request with that key")
    status = ctx.status
    resp = s.response(req, status, ctx.sdp if status < 300 else None)
    for name, value in ctx.headers:
        resp.add(name, value)
    if 200 <= status < 300:
        if ctx.sdp is not None:
            s.local_sdp = ctx.sdp
        if (sdp := session_sdp(req)) is not None:
            s.remote_sdp = sdp
        offer_session_timer(s, resp, refresh=req)
        start_session_timer(s, ctx.now)
    source = s.host.request_source(ctx.key)
    out = s.host.respond(ctx.key, resp, ctx.now)
    if req.method == "INVITE" and 200 <= status < 300 and source is not None:
        arm_2xx(s, req.cseq.seq, resp, source, ctx.now, offered=session_sdp(req) is None)
    return out


# ---- requests we send ---------------------------------------------------------------------
def send_reinvite(s: SessionCore, ctx: Ctx) -> list[Out]:
    if s.reinvite_out:
        raise LocalProtocolError("a re-INVITE is already pending")
    assert ctx.sdp is not None
    s.local_sdp = ctx.sdp
    s.reinvite_out = True
    return s.send_in_dialog("INVITE", ctx.now, body=ctx.sdp, content_type="application/sdp",
                            headers=ctx.headers)  # fmt: skip


def send_other(s: SessionCore, ctx: Ctx) -> list[Out]:
    """UPDATE, INFO, REFER or NOTIFY, as InviteSession described it in `ctx`."""
    if ctx.method == "UPDATE" and ctx.sdp is not None:
        s.local_sdp = ctx.sdp
        s.update_offer_out = True  # until its final response (`on_in_dialog_response`)
    return s.send_in_dialog(ctx.method, ctx.now, body=ctx.body, content_type=ctx.content_type,
                            headers=ctx.headers)  # fmt: skip


def reoffer_accepted(s: SessionCore, ctx: Ctx) -> list[Out]:
    resp = ctx.response
    assert resp is not None
    s.refreshing = False
    assert s.dialog is not None
    s.dialog.refresh_target(resp)
    if (sdp := session_sdp(resp)) is not None:
        s.remote_sdp = sdp
    out = send_ack(s, resp.cseq.seq)
    read_session_timer(s, resp, ctx.now)
    return out


def update_accepted(s: SessionCore, ctx: Ctx) -> list[Out]:
    resp = ctx.response
    assert resp is not None
    s.refreshing = False
    if (sdp := session_sdp(resp)) is not None:
        s.remote_sdp = sdp
    read_session_timer(s, resp, ctx.now)
    return []


def retry_request(s: SessionCore, ctx: Ctx) -> list[Out]:
    """The in-dialog request again with credentials; our CSeq moves past it. Its answer
    is read against the retry itself (a further challenge to it is a refusal)."""
    retry, dest = ctx.retry, ctx.dest
    assert retry is not None
    assert dest is not None
    assert s.dialog is not None
    s.dialog.local_seq = retry.cseq.seq

    def done(resp: Response | None, when: float) -> list[Out]:
        return s.on_in_dialog_response(retry, resp, Ctx(when, dest=dest, handler=done))

    return s.host.send_request(retry, dest, ctx.now, done)


def _raise_interval(s: SessionCore, resp: Response | None) -> bool:
    """A 422 to our refresh: its Min-SE becomes our interval, to refresh with again (RFC
    4028 7.4, 10); False when it names none larger than ours (or past a day)."""
    min_se = (resp.get("Min-SE") or "").split(";")[0].strip() if resp is not None else ""
    if resp is None or resp.status != 422 or s.session is None or not min_se.isdigit():
        return False
    if not s.session.seconds < int(min_se) <= MAX_INTERVAL:
        return False
    s.session = SessionExpires(int(min_se), s.session.refresher)
    return True


def _reply_200(s: SessionCore, ctx: Ctx) -> list[Out]:
    """200; to OPTIONS with what we take (RFC 3261 11.2), as out of a dialog."""
    req, key = _req(ctx)
    if req.method != "OPTIONS":
        return s.reply(ctx, 200)
    resp = s.response(req, 200, None)
    resp.add("Allow", ALLOW)
    resp.add("Accept", ACCEPT)
    resp.add("Supported", ", ".join(SUPPORTED))
    return s.host.respond(key, resp, ctx.now)


def result(s: SessionCore, ctx: Ctx) -> list[Out]:
    req = ctx.request
    assert req is not None
    if req.method == "INVITE":
        s.reinvite_out = False
    if s.refreshing and req.method in ("INVITE", "UPDATE"):
        s.refreshing = False
        if ctx.status == 491 or _raise_interval(s, ctx.response):
            retry_refresh(s, ctx.now)
    return [RequestResult(s, req.method, ctx.status, ctx.response)]


def refresh_session(s: SessionCore, ctx: Ctx) -> list[Out]:
    """RFC 4028 sec 7.4 / 8: UPDATE when the peer allows it, else a re-INVITE. It asks for
    the interval again, with us as refresher: the peer's 2xx then carries it, and the next
    refresh is armed from it (without it the peer's 2xx has none: no further refresh)."""
    if s.session is None:  # no session timer was agreed: nothing to refresh
        return []
    timer = (("Session-Expires", f"{s.session.seconds};refresher=uac"), ("Supported", "timer"))
    if s.peer_allows_update:
        s.refreshing = True
        return s.send_in_dialog("UPDATE", ctx.now, headers=timer)
    if s.reinvite_out or s.local_sdp is None or s.state is not SessionState.CONFIRMED:
        return []
    s.refreshing = True
    return s.step(Input.SEND_REINVITE, Ctx(ctx.now, sdp=s.local_sdp, headers=timer))


DIALOG_EFFECTS: dict[Effect, EffectFn] = {
    Effect.REPLY_200: _reply_200,
    Effect.REPLY_403: lambda s, ctx: s.reply(ctx, 403),
    Effect.REPLY_481: lambda s, ctx: s.reply(ctx, 481),
    Effect.REPLY_500: lambda s, ctx: s.reply(ctx, 500),
    Effect.OFFER_RECEIVED: offer_received,
    Effect.UPDATE_RECEIVED: update_received,
    Effect.INFO_RECEIVED: info_received,
    Effect.REFER_RECEIVED: refer_received,
    Effect.NOTIFY_RECEIVED: notify_received,
    Effect.SEND_REINVITE: send_reinvite,
    Effect.SEND_IN_DIALOG: send_other,
    Effect.ANSWER_OFFER: answer_offer,
    Effect.REOFFER_ACCEPTED: reoffer_accepted,
    Effect.UPDATE_ACCEPTED: update_accepted,
    Effect.RETRY_REQUEST: retry_request,
    Effect.RESULT: result,
    Effect.REFRESH_SESSION: refresh_session,
}
