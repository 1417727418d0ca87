"""Session timers (RFC 4028) and the 2xx retransmission (RFC 3261 13.3.1.4) of a session.

Helpers over `SessionCore`; the timers they arm feed `Input.TIMER_*` back through the
session's table when they fire.
"""

from __future__ import annotations

from carrier.sip.dialog import SessionExpires
from carrier.sip.events import Out
from carrier.sip.message import Request, Response
from carrier.sip.session_api import SessionState
from carrier.sip.session_core import Ctx, Pending2xx, SessionCore
from carrier.sip.session_host import TimerFired
from carrier.sip.session_table import Input
from carrier.sip.transaction import Address, SendData


def offer_session_timer(s: SessionCore, resp: Response, *, refresh: Request | None = None) -> None:
    """Put Session-Expires in our 2xx. In RFC 4028 terms the peer is the UAC of the
    request being answered and we are its UAS."""
    source = refresh or s.invite
    value = source.get("Session-Expires")
    peer_supports = "timer" in [t.lower() for t in source.tokens("Supported")]
    if value is None and not peer_supports:
        return
    asked = SessionExpires.parse(value) if value else None
    seconds = asked.seconds if asked else s.host.session_expires
    refresher = asked.refresher if asked and asked.refresher else None
    if refresher is None:
        refresher = "uac" if peer_supports else "uas"
    s.session = SessionExpires(seconds, refresher)
    s.refresher_is_us = refresher == "uas"
    resp.set("Session-Expires", str(s.session))
    if peer_supports:
        resp.set("Require", "timer")


def read_session_timer(s: SessionCore, resp: Response, now: float) -> None:
    """The Session-Expires of a 2xx to a request we sent (we are its UAC)."""
    value = resp.get("Session-Expires")
    if value is None:
        return
    se = SessionExpires.parse(value)
    s.session = se
    s.refresher_is_us = (se.refresher or "uac") == "uac"
    start_session_timer(s, now)


def start_session_timer(s: SessionCore, now: float) -> None:
    """RFC 4028 sec 10: the refresher refreshes at half the interval; the other side
    gives up shortly before its end."""
    if s.session is None or s.state is SessionState.TERMINATED:
        return
    se = s.session.seconds
    if s.refresher_is_us:
        s.host.set_timer(s.timer("se"), now + se / 2, _fire(s, Input.TIMER_REFRESH))
    else:
        s.host.set_timer(s.timer("se"), now + se - min(32, se / 3), _fire(s, Input.TIMER_EXPIRES))


def retry_refresh(s: SessionCore, now: float) -> None:
    """Our refresh met a 491 (glare, RFC 3261 14.1): again after 3 s when we own the
    Call-ID (2.1-4 s), else after 1 s (0-2 s); fixed values in those ranges keep the two
    sides apart without randomness in the core."""
    delay = 3.0 if s.role == "uac" else 1.0
    s.host.set_timer(s.timer("se"), now + delay, _fire(s, Input.TIMER_REFRESH))


def arm_2xx(s: SessionCore, seq: int, resp: Response, dest: Address, now: float, *,
            offered: bool = False) -> None:  # fmt: skip
    """Retransmit our 2xx to INVITE until the ACK: from T1 doubling up to T2 over UDP
    (the 2xx analogue of Timer G), and give up after 64*T1 (of Timer H). `offered`: the
    2xx carried our offer (the INVITE had none), so the ACK carries the answer."""
    t1 = s.host.timers.t1
    s.pending_2xx = Pending2xx(seq, resp.serialize(), dest, t1, offered)
    if dest[0] == "UDP":
        s.host.set_timer(s.timer("2xx"), now + t1, _fire(s, Input.TIMER_2XX))
    s.host.set_timer(s.timer("ack"), now + 64 * t1, _fire(s, Input.TIMER_ACK))


def retransmit_2xx(s: SessionCore, ctx: Ctx) -> list[Out]:
    pending = s.pending_2xx
    if pending is None:
        return []
    pending.interval = min(pending.interval * 2, s.host.timers.t2)
    s.host.set_timer(s.timer("2xx"), ctx.now + pending.interval, _fire(s, Input.TIMER_2XX))
    return [SendData(pending.wire, pending.dest)]


def forget_2xx(s: SessionCore) -> None:
    s.pending_2xx = None
    s.host.cancel_timer(s.timer("2xx"))
    s.host.cancel_timer(s.timer("ack"))


def arm_abandon(s: SessionCore, now: float) -> None:
    """RFC 3261 9.1: an INVITE with no final answer 64*T1 after CANCEL is given up."""
    s.host.set_timer(s.timer("cancel"), now + 64 * s.host.timers.t1,
                     _fire(s, Input.TIMER_CANCEL))  # fmt: skip


def _fire(s: SessionCore, event: Input) -> TimerFired:
    def fire(now: float) -> list[Out]:
        return s.step(event, Ctx(now))

    return fire

