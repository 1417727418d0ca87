"""No free RTP port pair: the INVITE is answered 503 with Retry-After (busy, not broken,
RFC 3261 21.5.4), counted as a refused call with its CDR, and the gateway takes the next
call as soon as a pair is free again.

Before: the OSError from binding left the call handler, the endpoint answered 500
Server Internal Error, no CDR was written and the log said the handler failed.
"""

from __future__ import annotations

import dataclasses

from carrier.call import Call, Clearance, DialFailure, DialOutcome, DialRequest
from carrier.cdr_points import CallDetail
from carrier.gateway import Gateway
from carrier.health import ComponentHealth
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


async def test_an_outbound_dial_with_no_free_rtp_port_pair_is_a_recorded_failure() -> None:
    """Before: the OSError from binding left ``Gateway.dial`` (the dialer's pass took it for
    a database outage and stopped); no CDR, no audit entry. Now the dial comes back as
    ``no_media_port`` with nothing sent, its CDR and audit entry written, the trunk slot
    freed; once a pair is free the next dial goes out."""
    held_rtp, held_rtcp = await open_rtp_pair()
    low = held_rtp.addr[1]
    cdrs: list[CallDetail] = []
    audits: list[tuple[str, str, str]] = []

    async def sink(detail: CallDetail) -> None:
        cdrs.append(detail)

    async def audit(actor: str, action: str, subject: tuple[str, str], reason: str,
                    details: object) -> None:
        audits.append((action, subject[1], reason))

    try:
        async with phone() as ph:
            settings = loop_settings(peer_port=ph.port, rtp_port_min=low, rtp_port_max=low + 1)
            gw = Gateway(settings, endpoint_config=EndpointConfig(
                udp=("127.0.0.1", 0), tcp=None, tls=None), cdr=sink, audit=audit)
            await gw.start()
            try:
                req = DialRequest(to="+15550100123", from_number="+15550100100", trunk="t1",
                                  origid="origid-ports-1", clearance=Clearance("allowed"))
                failed = await gw.dial(req)
                assert isinstance(failed, DialFailure)
                assert failed.outcome is DialOutcome.NO_MEDIA_PORT
                assert gw.endpoint.ua is not None
                assert gw.endpoint.ua.active_calls == 0
                (cdr,) = [c for c in cdrs if c.call_id == "origid-ports-1"]
                assert (cdr.hangup_cause, cdr.outcome, cdr.direction) == (
                    "no_media_port", "no_media_port", "outbound")
                assert ("dial.no_media_port", "origid-ports-1",
                        "no free RTP port pair") in audits
                # the slot is back and a pair is free: the next dial reaches the phone
                held_rtp.close()
                held_rtcp.close()
                call = await gw.dial(dataclasses.replace(req, origid="origid-ports-2"))
                assert isinstance(call, Call)
                await call.hangup("done")
            finally:
                await gw.close()
    finally:
        held_rtp.close()
        held_rtcp.close()


async def test_health_shows_rtp_port_exhaustion_until_a_pair_is_free() -> None:
    """Before: /health and ``carrier health`` said "ok" while every call failed
    ``no_media_port``. Now ``sip.rtp_ports`` fails once a leg could not get a pair, naming
    the pairs in use and the refusals, and is ok again once a pair was opened or freed."""
    held_rtp, held_rtcp = await open_rtp_pair()
    low = held_rtp.addr[1]
    try:
        async with phone() as ph:
            settings = loop_settings(peer_port=ph.port, rtp_port_min=low, rtp_port_max=low + 1)
            gw = Gateway(settings, endpoint_config=EndpointConfig(
                udp=("127.0.0.1", 0), tcp=None, tls=None))
            await gw.start()
            try:
                assert gw.ports.health() == ComponentHealth(
                    "sip.rtp_ports", True, "0 of 1 RTP port pairs in use by calls")
                req = DialRequest(to="+15550100123", from_number="+15550100100", trunk="t1",
                                  origid="origid-ports-3", clearance=Clearance("allowed"))
                for _ in range(2):
                    assert isinstance(await gw.dial(req), DialFailure)
                assert gw.ports.health() == ComponentHealth(
                    "sip.rtp_ports", False, "0 of 1 RTP port pairs in use by calls; "
                    "2 refused for want of a free pair since one was last opened or freed")
                held_rtp.close()
                held_rtcp.close()
                call = await gw.dial(dataclasses.replace(req, origid="origid-ports-4"))
                assert isinstance(call, Call)
                assert gw.ports.health() == ComponentHealth(
                    "sip.rtp_ports", False, "1 of 1 RTP port pairs in use by calls")
                await call.hangup("done")
                await gw._calls[call.call_id].end("done")
                assert gw.ports.health().ok
            finally:
                await gw.close()
    finally:
        held_rtp.close()
        held_rtcp.close()

