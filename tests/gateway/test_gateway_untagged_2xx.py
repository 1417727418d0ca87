"""A trunk that answers our INVITE with a 200 OK whose To has no tag (a dialog cannot be
made from it, RFC 3261 12.1.2) - a broken SBC.

Before: the session moved to CONFIRMED before it found the tag missing, so no
CallAnswered came and the call was neither up nor failed; at the ring timeout the
gateway's CANCEL did nothing in that state, the trunk kept ringing and the session stayed
in the user agent for good (one of ``max_concurrent_calls`` gone). Now the response is
dropped as malformed, the session stays where it was, and the ring timeout cancels it."""

from __future__ import annotations

import uuid

from carrier.call import Clearance, DialFailure, DialOutcome, DialRequest
from carrier.sip.message import Request, Response, parse_message
from carrier.sip.session_api import SessionState
from carrier.sip.transaction import SendData
from tests.gateway.phone import loop_settings, running_gateway
from tests.gateway.rtp_probe import open_probe
from tests.sip.sip_uanet import make_ua
from tests.sip.test_sip_ua import OFFER


def untagged_ok(invite: Request) -> bytes:
    resp = Response.for_request(invite, 200)
    resp.set("To", invite.get("To") or "")  # no tag
    resp.add("Contact", "<sip:trunk@127.0.0.1>")
    return resp.serialize()


def test_the_session_stays_where_it_was() -> None:
    ua = make_ua("127.0.0.1", 5060)
    call, outs = ua.invite("sip:bob@127.0.0.2:5070", now=0.0, sdp=OFFER.serialize())
    invite = parse_message(next(o for o in outs if isinstance(o, SendData)).data)
    assert isinstance(invite, Request)
    ua.receive(untagged_ok(invite), ("UDP", "127.0.0.2", 5070), now=0.1)
    assert call.state is SessionState.INITIAL
    assert call.dialog is None
    call.cancel(0.2)  # still cancellable


async def test_a_dial_answered_without_a_to_tag_is_a_no_answer_failure() -> None:
    trunk = await open_probe()
    try:
        settings = loop_settings(peer_port=trunk.addr[1])
        async with running_gateway(settings, None) as gw:
            def answer(count: int) -> None:
                msg = parse_message(trunk.got[count - 1][2])
                if isinstance(msg, Request) and msg.method == "INVITE":
                    trying = Response.for_request(msg, 100).serialize()
                    trunk.send(trying, trunk.got[count - 1][1])
                    trunk.send(untagged_ok(msg), trunk.got[count - 1][1])

            trunk.on_packet = answer
            failed = await gw.dial(DialRequest(
                to="+15550100123", from_number="+15550100100", trunk="t1",
                origid=str(uuid.uuid4()), clearance=Clearance("allowed"), ring_timeout_s=1.0))
            assert isinstance(failed, DialFailure)
            assert failed.outcome is DialOutcome.NO_ANSWER
            ua = gw.endpoint.ua
            assert ua is not None
            await trunk.wait(lambda: any(d.startswith(b"CANCEL") for _, _, d in trunk.got),
                             timeout=5)  # the INVITE is cancelled, not left confirmed
            assert [c.state for c in ua.calls.values()] in ([], [SessionState.CANCELLING])
    finally:
        trunk.close()
