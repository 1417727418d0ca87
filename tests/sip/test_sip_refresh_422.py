"""A session refresh answered 422 (the peer's Min-SE grew mid-call, e.g. an SBC's policy
changed) is sent again with the peer's Min-SE as interval (RFC 4028 7.4 / 10).

Before: the 422 was taken as a plain failed request: no refresh was sent any more, and
the peer (not the refresher) hung the call up when the interval ran out, about a minute
later, in the middle of a conversation. Uses the in-dialog 422 of this session's
ua_inbound._in_dialog_refusal as the peer."""

from __future__ import annotations

import itertools

from carrier.sip.events import CallEnded
from carrier.sip.session_api import SessionState
from carrier.sip.ua import UaConfig, UserAgent
from tests.sip.sip_uanet import Net
from tests.sip.test_sip_ua import setup_call


def ua(host: str, port: int, min_se: int) -> UserAgent:
    ids = itertools.count(1)
    config = UaConfig(contacts={"UDP": (host, port)}, user=f"ua{port}", session_expires=90,
                      min_se=min_se)
    return UserAgent(config, new_id=lambda: f"{port}x{next(ids)}")


def test_a_refresh_refused_422_is_sent_again_with_the_peers_min_se_and_the_call_lasts() -> None:
    a, b = ua("127.0.0.1", 5060, 90), ua("127.0.0.2", 5070, 90)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    assert call.refresher_is_us
    object.__setattr__(b.config, "min_se", 600)  # the peer's policy changes mid-call
    net.advance(1000)
    assert not net.take(a, CallEnded)
    assert not net.take(b, CallEnded)
    assert call.state is SessionState.CONFIRMED
    assert inbound.state is SessionState.CONFIRMED
    refreshes = [w for w in net.wire if w.startswith((b"UPDATE", b"INVITE sip:ua5070"))]
    assert any(b"Session-Expires: 600" in w for w in refreshes)
    assert any(w.startswith(b"SIP/2.0 422") for w in net.wire)
