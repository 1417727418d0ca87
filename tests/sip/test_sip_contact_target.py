"""The Contact of a dialog-creating or target-refreshing request is the peer's address for
every later request of the dialog (RFC 3261 12.1.1, 12.2.2): it must be exactly one SIP
or SIPS URI (8.1.1.8). Before: an INVITE with Contact <tel:...>, <mailto:...>, "*" or
two URIs was answered like any other, and our BYE then went to ('UDP', '', 5060) (a tel
or mailto target has no host) or to the first of two: the peer's call stayed up. A 200
with such a Contact set the same target for our ACK and BYE.
Now such a request gets 400; a 2xx with one keeps the INVITE's target (the trunk); no
Contact at all is still taken (RFC 2543 peers, RFC 4475 3.4.1)."""

from __future__ import annotations

import pytest

from carrier.sip.events import IncomingCall, ReInviteReceived
from carrier.sip.message import Response, parse_message
from carrier.sip.sdp import LocalMedia, build_offer
from tests.sip.sip_uanet import Net, make_ua
from tests.sip.test_sip_ua import setup_call

SDP = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=1).serialize()
BAD = {
    "tel": "<tel:+15550100100>",
    "mailto": "<mailto:desk@example.com>",
    "star": "*",
    "two": "<sip:a@127.0.0.1:5999>, <sip:b@127.0.0.1:5998>",
}


def invite(contact: str | None) -> bytes:
    head = (
        "INVITE sip:+15550100@127.0.0.2:5070 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-contact\r\nMax-Forwards: 70\r\n"
        "From: <sip:+15550101@127.0.0.1>;tag=f1\r\nTo: <sip:+15550100@127.0.0.2>\r\n"
        "Call-ID: contact@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
    )
    if contact is not None:
        head += f"Contact: {contact}\r\n"
    head += f"Content-Type: application/sdp\r\nContent-Length: {len(SDP)}\r\n\r\n"
    return head.encode() + SDP


def statuses(outs: list[object]) -> list[int]:
    replies = [parse_message(o.data) for o in outs if hasattr(o, "data")]  # type: ignore[attr-defined]
    return [r.status for r in replies if isinstance(r, Response)]


@pytest.mark.parametrize("name", sorted(BAD))
def test_an_invite_whose_contact_is_not_one_sip_uri_gets_400(name: str) -> None:
    ua = make_ua("127.0.0.2", 5070)
    outs = ua.receive(invite(BAD[name]), ("UDP", "127.0.0.1", 5999), now=0.0)
    assert statuses(outs) == [400]
    assert not [o for o in outs if isinstance(o, IncomingCall)]
    assert not ua.calls


@pytest.mark.parametrize("contact", [None, "<sip:+15550101@127.0.0.1:5999>",
                                     "<sips:+15550101@127.0.0.1:5999>"])
def test_one_sip_contact_or_none_is_taken(contact: str | None) -> None:
    ua = make_ua("127.0.0.2", 5070)
    outs = ua.receive(invite(contact), ("UDP", "127.0.0.1", 5999), now=0.0)
    assert [o for o in outs if isinstance(o, IncomingCall)]


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_reinvite_whose_contact_is_not_one_sip_uri_gets_400_and_keeps_the_target(
        name: str) -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    net.advance(net.now + 5)
    net.events[b].clear()
    before = inbound.dialog.remote_target
    net.send(a, call.reinvite(SDP, net.now))
    data, dest, sender = net.queue.pop()
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"contact:")]
    lines.append(f"Contact: {BAD[name]}".encode())
    net.queue.append((b"\r\n".join(lines) + sep + body, dest, sender))
    net.pump()
    assert not net.take(b, ReInviteReceived)
    assert any(w.startswith(b"SIP/2.0 400") for w in net.wire)
    assert inbound.dialog.remote_target == before


@pytest.mark.parametrize("name", ["tel", "mailto"])
def test_a_2xx_whose_contact_is_not_a_sip_uri_leaves_our_requests_on_the_invite_target(
        name: str) -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)

    def rewrite(data: bytes) -> bytes:
        if not data.startswith(b"SIP/2.0 200"):
            return data
        head, sep, body = data.partition(b"\r\n\r\n")
        lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"contact:")]
        return b"\r\n".join([*lines, f"Contact: {BAD[name]}".encode()]) + sep + body

    original = net.send

    def send(sender, outs):  # type: ignore[no-untyped-def]
        for out in outs:
            sent = type(out)(rewrite(out.data), out.dest) if hasattr(out, "data") and (
                sender is b) else out
            original(sender, [sent])

    net.send = send  # type: ignore[method-assign]
    call, _ = setup_call(net, a, b)
    assert call.dialog is not None
    assert call.dialog.remote_target.scheme == "sip"
    assert call.dialog.remote_target.host == "127.0.0.2"  # the INVITE's target
