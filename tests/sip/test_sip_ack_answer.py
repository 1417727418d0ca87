"""The ACK of our 2xx, sans-IO: one carrying SDP after a re-INVITE without an offer is the
answer to the offer our 2xx made (RFC 3261 14.2), reported as `AnswerInAck`; an ACK
from a host that is not the dialog's peer (nor its trunk) confirms nothing and carries
no answer.

Before: the ACK's SDP was stored and never reported (the gateway kept sending audio to
the old address), and an ACK from any source confirmed the call.
"""

from __future__ import annotations

from carrier.sip.events import AnswerInAck, CallConfirmed, ReInviteReceived
from carrier.sip.message import Request, parse_message
from carrier.sip.sdp import LocalMedia, build_offer
from tests.sip.sip_uanet import Net, make_ua
from tests.sip.test_sip_ua import setup_call

SDP = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=1).serialize()
MOVED = build_offer(LocalMedia("127.0.0.1", 20100, srtp="off"), session_id=1, version=2)


def dropping_acks(net: Net) -> list[bytes]:
    """Hold every ACK back from the wire; the list fills as they are sent."""
    held: list[bytes] = []

    def drop(data: bytes, dest: tuple[str, int]) -> bool:
        if data.startswith(b"ACK "):
            held.append(data)
            return True
        return False

    net.drop = drop
    return held


def with_body(ack: bytes, body: bytes) -> bytes:
    req = parse_message(ack)
    assert isinstance(req, Request)
    req.set("Content-Type", "application/sdp")
    req.body = body
    return req.serialize()


def test_the_ack_of_an_offerless_reinvite_carries_the_answer_to_the_application() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    net.events[b].clear()
    held = dropping_acks(net)
    net.send(a, call.reinvite(b"", net.now))
    net.pump()
    (reinvite,) = net.take(b, ReInviteReceived)
    assert not reinvite.request.body
    net.send(b, inbound.respond(reinvite.key, 200, net.now, sdp=SDP))  # our offer
    net.pump()
    (ack,) = held
    outs = b.receive(with_body(ack, MOVED.serialize()), ("UDP", "127.0.0.1", 5060), now=net.now)
    (answer,) = [o for o in outs if isinstance(o, AnswerInAck)]
    assert answer.sdp == MOVED.serialize()
    assert answer.call is inbound
    # its retransmission is absorbed: the answer is reported once
    again = b.receive(with_body(ack, MOVED.serialize()), ("UDP", "127.0.0.1", 5060), now=net.now)
    assert not [o for o in again if isinstance(o, AnswerInAck)]


def test_an_ack_forged_from_another_host_neither_confirms_nor_answers() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    held = dropping_acks(net)
    setup_call(net, a, b)
    (ack,) = held
    forged = b.receive(with_body(ack, MOVED.serialize()), ("UDP", "127.0.0.9", 5060), now=0.0)
    assert not [o for o in forged if isinstance(o, CallConfirmed | AnswerInAck)]
    real = b.receive(ack, ("UDP", "127.0.0.1", 5060), now=0.0)
    assert [o for o in real if isinstance(o, CallConfirmed)]


def test_sdp_in_the_ack_of_a_reinvite_that_carried_an_offer_is_no_answer() -> None:
    """Only a 2xx that made an offer awaits an answer in the ACK; SDP in any other ACK is
    not reported (the gateway would 'accept' an answer to no offer of its own)."""
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    net.events[b].clear()
    held = dropping_acks(net)
    net.send(a, call.reinvite(SDP, net.now))  # with an offer
    net.pump()
    (reinvite,) = net.take(b, ReInviteReceived)
    net.send(b, inbound.respond(reinvite.key, 200, net.now, sdp=SDP))  # our answer
    net.pump()
    (ack,) = held
    outs = b.receive(with_body(ack, MOVED.serialize()), ("UDP", "127.0.0.1", 5060), now=net.now)
    assert not [o for o in outs if isinstance(o, AnswerInAck)]
