"""A gateway behind a record-routing proxy (Kamailio) keeps the proxy in the dialog.

RFC 3261 12.1.1: the UAS copies the request's Record-Route values, in order, into every
dialog-creating response, so the caller sends its ACK and BYE through the proxy. Before,
the gateway's 200 OK had none: the caller's ACK reached Kamailio without a Route, the
gateway never saw it, and the BYE got 404 from the proxy (the two-node test saw this).
"""

from __future__ import annotations

from carrier.sip.events import IncomingCall
from carrier.sip.message import Response, parse_message
from carrier.sip.sdp import LocalMedia, build_answer, build_offer, parse_sdp
from carrier.sip.transaction import SendData
from tests.sip.sip_uanet import make_ua

PROXY = ("UDP", "127.0.0.9", 5060)
ROUTES = ["<sip:127.0.0.9;lr;r2=on;ftag=abc>", "<sip:127.0.0.8;lr;ftag=abc>"]


def _invite() -> bytes:
    sdp = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=1)
    body = sdp.serialize()
    head = (
        "INVITE sip:+15550100100@127.0.0.2:5070 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKproxy1\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKcaller1;received=127.0.0.1\r\n"
        f"Record-Route: {ROUTES[0]}\r\n"
        f"Record-Route: {ROUTES[1]}\r\n"
        "From: <sip:+12125550199@127.0.0.1:5062>;tag=abc\r\n"
        "To: <sip:+15550100100@127.0.0.2:5070>\r\n"
        "Call-ID: rr-test-1@127.0.0.1\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:caller@127.0.0.1:5062>\r\n"
        "Max-Forwards: 69\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _responses(outs: list[object]) -> list[Response]:
    sent = [parse_message(o.data) for o in outs if isinstance(o, SendData)]
    return [m for m in sent if isinstance(m, Response)]


def test_dialog_creating_responses_carry_the_record_route_set() -> None:
    uas = make_ua("127.0.0.2", 5070)
    outs = uas.receive(_invite(), PROXY, now=0.0)
    (incoming,) = [o for o in outs if isinstance(o, IncomingCall)]
    ringing = _responses(incoming.call.ring(0.0))
    answer, _ = build_answer(parse_sdp(incoming.request.body),
                             LocalMedia("127.0.0.2", 30000, srtp="off"), session_id=2,
                             version=1)
    ok = _responses(incoming.call.answer(answer.serialize(), 0.0))
    for resp in (*ringing, *ok):
        assert resp.status in (180, 200)
        assert resp.get_all("Record-Route") == ROUTES, resp.status
    assert [r.status for r in ok] == [200]
