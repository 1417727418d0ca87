"""Offers that cross (RFC 3261 14.2, RFC 3311 5.2), sans-IO on the uanet:

* a re-INVITE while one of ours is in progress: 491 (14.2; the glare case);
* a second re-INVITE while the peer's first is not answered yet (the application has
  it): 500 with Retry-After 0-10 s (14.2), never a second ReInviteReceived;
* a re-INVITE before the ACK of our 2xx: our INVITE is not finished at our side (the
  2xx is retransmitted until its ACK, 13.3.1.4): 500 + Retry-After; when that 2xx
  carried our offer (the answer comes in the ACK) an offer is outstanding: 491;
* an UPDATE with an offer while our offer is out: 491; while the peer's offer is not
  answered: 500 + Retry-After (RFC 3311 5.2).

Before: a re-INVITE before the ACK always got 491 (with no Retry-After), a second
re-INVITE reached the application as a second offer, and an UPDATE with an offer was
passed on whatever was pending.
"""

from __future__ import annotations

from carrier.sip.events import ReInviteReceived, UpdateReceived
from carrier.sip.message import Response, parse_message
from carrier.sip.sdp import LocalMedia, build_offer
from tests.sip.sip_uanet import Net, make_ua
from tests.sip.test_sip_ua import setup_call

SDP = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=2).serialize()


def answers(net: Net, status: int) -> list[Response]:
    found = [parse_message(w) for w in net.wire if w.startswith(f"SIP/2.0 {status} ".encode())]
    return [r for r in found if isinstance(r, Response)]


def retry_after_ok(resp: Response) -> bool:
    value = resp.get("Retry-After") or ""
    return value.isdigit() and 0 <= int(value) <= 10


def test_a_second_reinvite_before_the_first_is_answered_gets_500_with_retry_after() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    net.events[b].clear()
    net.send(a, call.reinvite(SDP, net.now))
    net.pump()
    (first,) = net.take(b, ReInviteReceived)  # the application has not answered yet
    call.reinvite_out = False  # a peer that sends its next offer anyway
    net.send(a, call.reinvite(SDP, net.now))
    net.pump()
    assert not net.take(b, ReInviteReceived)
    (refused,) = answers(net, 500)
    assert refused.cseq.seq > first.request.cseq.seq
    assert retry_after_ok(refused)
    # the first one is still answered normally
    net.send(b, inbound.respond(first.key, 200, net.now, sdp=SDP))
    net.pump()
    assert answers(net, 200)


def test_a_reinvite_before_the_ack_of_our_answering_2xx_gets_500_with_retry_after() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    net.drop = lambda data, dest: data.startswith(b"ACK")  # the ACK is late
    call, inbound = setup_call(net, a, b)
    assert inbound.pending_2xx is not None
    assert not inbound.pending_2xx.offered
    net.events[b].clear()
    net.send(a, call.reinvite(SDP, net.now))
    net.pump()
    assert not net.take(b, ReInviteReceived)
    (refused,) = answers(net, 500)
    assert retry_after_ok(refused)
    assert not answers(net, 491)


def test_a_reinvite_before_the_ack_that_brings_the_answer_to_our_offer_gets_491() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    net.send(a, call.reinvite(SDP, net.now))
    data, dest, sender = net.queue.pop()  # sent without the offer: ours goes in the 2xx
    head = data.partition(b"\r\n\r\n")[0].replace(b"Content-Type: application/sdp\r\n", b"")
    head = head.split(b"\r\nContent-Length:")[0] + b"\r\nContent-Length: 0"
    net.queue.append((head + b"\r\n\r\n", dest, sender))
    net.pump()
    (asked,) = net.take(b, ReInviteReceived)
    net.drop = lambda data, dest: data.startswith(b"ACK")
    net.send(b, inbound.respond(asked.key, 200, net.now, sdp=SDP))
    net.pump()
    assert inbound.pending_2xx is not None
    assert inbound.pending_2xx.offered
    call.reinvite_out = False
    net.send(a, call.reinvite(SDP, net.now))
    net.pump()
    assert not net.take(b, ReInviteReceived)
    assert len(answers(net, 491)) == 1


def test_an_update_offer_while_ours_is_out_gets_491_and_while_theirs_waits_500() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    net.advance(net.now + 5)  # the ACK is in
    net.events[b].clear()
    # b offers by re-INVITE; before it is answered a's UPDATE offer arrives at b
    hold = inbound.reinvite(SDP, net.now)
    net.send(a, call.update(net.now, sdp=SDP))
    net.pump()  # a's UPDATE reaches b first
    net.send(b, hold)
    net.pump()
    assert len(answers(net, 491)) >= 1  # b's offer was out when a's UPDATE came
    assert not net.take(b, UpdateReceived)
    # the peer's offer waiting for our answer: an UPDATE offer then gets 500
    a2, b2 = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net2 = Net(a2, b2)
    call2, _ = setup_call(net2, a2, b2)
    net2.advance(net2.now + 5)
    net2.events[b2].clear()
    net2.send(a2, call2.reinvite(SDP, net2.now))
    net2.pump()
    assert net2.take(b2, ReInviteReceived)
    net2.send(a2, call2.update(net2.now, sdp=SDP))
    net2.pump()
    assert not net2.take(b2, UpdateReceived)
    (refused,) = answers(net2, 500)
    assert refused.cseq.method == "UPDATE"
    assert retry_after_ok(refused)


def test_an_update_without_offer_refreshes_whatever_is_pending() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, _ = setup_call(net, a, b)
    net.advance(net.now + 5)
    net.events[b].clear()
    net.send(a, call.reinvite(SDP, net.now))
    net.pump()
    assert net.take(b, ReInviteReceived)
    net.send(a, call.update(net.now))  # a session refresh (RFC 4028), no offer
    net.pump()
    assert [r.cseq.method for r in answers(net, 200)][-1:] == ["UPDATE"]
