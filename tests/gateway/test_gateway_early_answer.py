"""An outbound call whose trunk puts its SDP answer in a 183 Session Progress and sends
the 200 OK without a body (common with carriers that play early media: RFC 3264 wants
the answer in the 2xx again when the 183 was unreliable, many do not repeat it).

Before: the gateway read the answer from the 200 OK only, found none, hung up with BYE
and reported the call REJECTED ("bad answer") though the patient had picked up. Now the
answer of the early dialog stands when the 200 brings none; a 200 with an SDP of its own
still wins."""

from __future__ import annotations

import uuid

import pytest

from carrier.call import Call, Clearance, DialRequest
from carrier.sip.endpoint import SipCall
from carrier.sip.sdp import LocalMedia, build_answer, parse_sdp
from tests.gateway.phone import Phone, loop_settings, phone, running_gateway


async def answer_early(ph: Phone, sipcall: SipCall, *, again: bool) -> None:
    offer = parse_sdp(sipcall.remote_sdp or b"")
    early, _ = build_answer(offer, LocalMedia("127.0.0.1", ph.rtcp.addr[1] if again
                                              else ph.rtp.addr[1], srtp="off"),
                            session_id=5, version=1)
    sipcall.ring(status=183, sdp=early.serialize())
    final, _ = build_answer(offer, ph._local(), session_id=5, version=2)
    sipcall.answer(final.serialize() if again else b"")  # the 200 OK, with or without SDP
    await ph._until_ended(sipcall)


@pytest.mark.parametrize("again", [False, True], ids=["200-without-sdp", "200-with-its-own"])
async def test_an_answer_in_the_183_stands_when_the_200_has_none(again: bool) -> None:
    async with phone() as ph, running_gateway(loop_settings(peer_port=ph.port), None) as gw:
        ph.endpoint.on_call = lambda sipcall: answer_early(ph, sipcall, again=again)
        placed = await gw.dial(DialRequest(to="+15550100123", from_number="+15550100100",
                                           trunk="t1", origid=str(uuid.uuid4()),
                                           clearance=Clearance("allowed")))
        assert isinstance(placed, Call), placed
        leg = gw._calls[placed.call_id].leg
        assert leg.media.stream.remote_addr == ph.rtp.addr
        await gw._calls[placed.call_id].end("done")
