"""Requests inside a confirmed dialog get the RFC 3261 8.2 checks the first INVITE gets
(sans-IO, uanet; found by sending a live call every method and odd header):

* a method we do not serve (MESSAGE, PRACK, SUBSCRIBE, REGISTER, PUBLISH) -> 405 with
  Allow (8.2.1); before: 200 OK, claiming work that was never done;
* an option tag we do not support in Require -> 420 with Unsupported (8.2.2.3);
  before: the re-INVITE / UPDATE reached the application, a BYE ended the call;
* Session-Expires below our Min-SE in a re-INVITE or UPDATE -> 422 with Min-SE
  (RFC 4028 8); before: taken;
* a CANCEL carrying the dialog's To tag matches no INVITE transaction -> 481 (9.2);
  before: 200 OK for a CANCEL that cancelled nothing.
Each time the call stays up and the next request is served.
"""

from __future__ import annotations

import pytest

from carrier.sip.events import CallEnded, ReInviteReceived, UpdateReceived
from carrier.sip.message import Response, parse_message
from carrier.sip.sdp import LocalMedia, build_offer
from carrier.sip.session_api import SessionState
from carrier.sip.session_core import ALLOW
from tests.sip.sip_uanet import Net, make_ua
from tests.sip.test_sip_ua import setup_call

SDP = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=2).serialize()


def confirmed():  # type: ignore[no-untyped-def]
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    net.advance(net.now + 5)  # the ACK is in, the 2xx timers are done
    net.events[b].clear()
    return a, b, net, call, inbound


def send(b, net, call, method: str, *, body: bytes = b"", extra=(), seq: int | None = None
         ) -> tuple[list[Response], list[object]]:  # type: ignore[no-untyped-def]
    req = call.dialog.new_request(method, seq=seq)
    for name, value in extra:
        req.add(name, value)
    if body:
        req.add("Content-Type", "application/sdp")
        req.body = body
    req.prepend("Via", f"SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-chk-{method}-{req.cseq.seq}")
    req.add("Max-Forwards", "70")
    outs = b.receive(req.serialize(), ("UDP", "127.0.0.1", 5060), now=net.now)
    replies = [parse_message(o.data) for o in outs if hasattr(o, "data")]
    return ([r for r in replies if isinstance(r, Response)],
            [o for o in outs if not hasattr(o, "data")])


def still_up(b, net, call, inbound) -> None:  # type: ignore[no-untyped-def]
    assert inbound.state is SessionState.CONFIRMED
    replies, _ = send(b, net, call, "OPTIONS")
    assert [r.status for r in replies] == [200]


@pytest.mark.parametrize("method", ["MESSAGE", "PRACK", "SUBSCRIBE", "REGISTER", "PUBLISH"])
def test_a_method_we_do_not_serve_in_a_dialog_gets_405_with_allow(method: str) -> None:
    _, b, net, call, inbound = confirmed()
    replies, events = send(b, net, call, method)
    assert [r.status for r in replies] == [405]
    assert replies[0].get("Allow") == ALLOW
    assert not events
    still_up(b, net, call, inbound)


@pytest.mark.parametrize(("method", "body"), [("INVITE", SDP), ("UPDATE", SDP), ("BYE", b""),
                                              ("INFO", b"")])
def test_an_unsupported_require_in_a_dialog_gets_420(method: str, body: bytes) -> None:
    _, b, net, call, inbound = confirmed()
    replies, events = send(b, net, call, method, body=body, extra=(("Require", "x-odd"),))
    assert [r.status for r in replies] == [420]
    assert replies[0].get("Unsupported") == "x-odd"
    assert not [e for e in events if isinstance(e, ReInviteReceived | UpdateReceived | CallEnded)]
    still_up(b, net, call, inbound)


@pytest.mark.parametrize(("method", "body"), [("INVITE", SDP), ("UPDATE", SDP), ("UPDATE", b"")])
def test_a_session_expires_below_min_se_in_a_dialog_gets_422(method: str, body: bytes) -> None:
    _, b, net, call, inbound = confirmed()
    replies, events = send(b, net, call, method, body=body,
                           extra=(("Session-Expires", "30"), ("Supported", "timer")))
    assert [r.status for r in replies] == [422]
    assert replies[0].get("Min-SE") == str(b.config.min_se)
    assert not events
    still_up(b, net, call, inbound)


def test_a_cancel_with_the_dialogs_to_tag_cancels_nothing_and_gets_481() -> None:
    _, b, net, call, inbound = confirmed()
    replies, events = send(b, net, call, "CANCEL", seq=call.invite.cseq.seq)
    assert [r.status for r in replies] == [481]
    assert not events
    still_up(b, net, call, inbound)


def test_the_supported_in_dialog_requests_are_still_served() -> None:
    _, b, net, call, _inbound = confirmed()
    replies, events = send(b, net, call, "INVITE", body=SDP, extra=(("Require", "timer"),
                                                                   ("Session-Expires", "120")))
    assert not replies  # the application answers it
    assert [type(e) for e in events] == [ReInviteReceived]


@pytest.mark.parametrize("method", ["BYE", "INVITE", "UPDATE", "INFO"])
def test_a_request_with_the_right_to_tag_but_another_from_tag_is_not_in_the_dialog(
        method: str) -> None:
    """A dialog is Call-ID + both tags (RFC 3261 12, 12.2.2: no match -> 481). Before: the
    Call-ID and our To tag were enough, so a BYE with any From tag (a forger who saw one
    response, a confused B2BUA) ended the call with 200 OK."""
    _, b, net, call, inbound = confirmed()
    req = call.dialog.new_request(method)
    req.prepend("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-wrongfrom")
    req.add("Max-Forwards", "70")
    data = req.serialize().replace(f";tag={call.local_tag}".encode(), b";tag=not-this-call")
    outs = b.receive(data, ("UDP", "127.0.0.1", 5060), now=net.now)
    replies = [parse_message(o.data) for o in outs if hasattr(o, "data")]
    assert [r.status for r in replies if isinstance(r, Response)] == [481]
    assert not [o for o in outs if not hasattr(o, "data")]
    still_up(b, net, call, inbound)


def test_an_options_in_the_dialog_says_what_we_take() -> None:
    """RFC 3261 11.2: the 200 to OPTIONS names Allow, Accept and Supported (out of a
    dialog it did; inside one, before: a bare 200)."""
    _, b, net, call, _inbound = confirmed()
    (resp,), _ = send(b, net, call, "OPTIONS")
    assert resp.status == 200
    assert resp.get("Allow") == ALLOW
    assert "application/sdp" in (resp.get("Accept") or "")
    assert "timer" in (resp.get("Supported") or "")
