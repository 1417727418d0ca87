"""No free RTP port pair: the INVITE is answered 503 with Retry-After (busy, not broken,
RFC 3261 21.5.4), counted as a refused call with its CDR, and the gateway takes the next
call as soon as a pair is free again.

Before: the OSError from binding left the call handler, the endpoint answered 500
Server Internal Error, no CDR was written and the log said the handler failed.
"""

from __future__ import annotations

from carrier.call import Call
from carrier.cdr_points import CallDetail
from carrier.gateway import Gateway
from carrier.plugin import CallContext
from carrier.sip.endpoint import EndpointConfig
from carrier.sip.events import CallAnswered, CallFailed
from carrier.sip.sdp import LocalMedia, build_offer
from tests.gateway.phone import loop_settings, phone
from tests.gateway.rtp_probe import open_rtp_pair


async def test_no_free_rtp_port_pair_gives_503_and_a_cdr_then_calls_resume() -> None:
    held_rtp, held_rtcp = await open_rtp_pair()  # the only pair the gateway may use
    low = held_rtp.addr[1]
    cdrs: list[CallDetail] = []

    async def sink(detail: CallDetail) -> None:
        cdrs.append(detail)

    async def handler(call: Call, ctx: CallContext) -> None:
        await call.hangup("done")

    gw = Gateway(loop_settings(rtp_port_min=low, rtp_port_max=low + 1), handler=handler,
                 endpoint_config=EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None),
                 cdr=sink)  # fmt: skip
    await gw.start()
    try:
        async with phone() as ph:
            offer = build_offer(LocalMedia("127.0.0.1", ph.rtp.addr[1], srtp="off"),
                                session_id=6, version=1).serialize()  # fmt: skip
            target = f"sip:+15550100200@127.0.0.1:{gw.endpoint.port('UDP')}"
            sipcall = ph.endpoint.invite(target, sdp=offer, from_user="+15550100123")
            failed = await sipcall.wait_for((CallAnswered, CallFailed), timeout=10)
            assert isinstance(failed, CallFailed)
            assert failed.status == 503
            assert failed.response is not None
            assert (failed.response.get("Retry-After") or "").isdigit()
            (cdr,) = [c for c in cdrs if c.call_id == sipcall.call_id]
            assert (cdr.sip_status, cdr.hangup_cause) == (503, "refused")
            # a pair is free again: the next call is answered
            held_rtp.close()
            held_rtcp.close()
            again = ph.endpoint.invite(target, sdp=offer, from_user="+15550100123")
            answered = await again.wait_for((CallAnswered, CallFailed), timeout=10)
            assert isinstance(answered, CallAnswered)
    finally:
        held_rtp.close()
        held_rtcp.close()
        await gw.close()
