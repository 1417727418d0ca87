"""One outbound INVITE on one trunk for the :class:`carrier.gateway.Gateway`: the media
leg is opened (ports, SRTP as the trunk says), the INVITE is signed (``shaken``/``rcd``
PASSporTs) and sent with the trunk's digest credentials, and the answer's SDP is
accepted into the leg; an answered call becomes the gateway's ``LiveCall``, a failure a
typed :class:`carrier.call.DialFailure` with its CDR. The gateway's ``place`` (trunk
slots, failover) calls :func:`dial_on`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from typing import TYPE_CHECKING

from carrier import metrics, outbound
from carrier.call import Call, CallerInfo, DialFailure, DialOutcome, DialRequest, Direction
from carrier.cdr_points import CallFacts, dial_failure_detail, utcnow
from carrier.gateway_parts import identity_headers
from carrier.media_leg import MediaLeg
from carrier.plugin import CallContext
from carrier.settings import TrunkSettings
from carrier.sip.body import session_sdp
from carrier.sip.digest import Credentials
from carrier.sip.events import CallAnswered, CallFailed
from carrier.sip.sdp import SdpError
from carrier.trunk_address import uri_host

if TYPE_CHECKING:
    from carrier.gateway import Gateway


async def dial_on(gw: Gateway, req: DialRequest, trunk: TrunkSettings) -> Call | DialFailure:
    address = await gw.trunk_addresses.address(trunk.host)  # cached: no lookup per call
    if address is None:  # a name that never resolved: nothing is sent
        metrics.call_failed("outbound", None)
        failure = DialFailure(DialOutcome.TRUNK_DOWN, None, "trunk host does not resolve",
                              trunk.name)
        await gw.cdr.write(dial_failure_detail(req, failure, call_id=req.origid,
                                               started=utcnow(), attestation=None))
        return failure
    try:
        leg = await gw._open_leg(trunk.srtp, address)
    except OSError:  # no free RTP port pair: nothing is sent, the dialer goes on
        metrics.call_failed("outbound", None)
        failure = outbound.no_media_port(trunk.name)
        await gw.cdr.write(dial_failure_detail(req, failure, call_id=req.origid,
                                               started=utcnow(), attestation=None))
        return failure
    placed = False
    try:
        result = await _place(gw, req, trunk, leg, address)
        placed = True
        return result
    finally:
        if not placed:  # cancelled or failed mid-dial: the ports are freed (it propagates)
            await leg.close()


async def _place(gw: Gateway, req: DialRequest, trunk: TrunkSettings, leg: MediaLeg,
                 address: str) -> Call | DialFailure:
    """One INVITE on one trunk; its CDR when it fails (an answered call's at its end)."""
    started, begun = time.monotonic(), utcnow()
    sent: list[str] = []  # the INVITE's Call-ID, once sent
    result = await _invite(gw, req, trunk, leg, address, started=started, begun=begun,
                           sent=sent)
    if isinstance(result, DialFailure):
        await gw.cdr.write(dial_failure_detail(
            req, result, call_id=sent[0] if sent else req.origid, started=begun,
            attestation=gw.attestation(req.from_number) if gw.stir else None))
    return result


async def _invite(gw: Gateway, req: DialRequest, trunk: TrunkSettings, leg: MediaLeg,
                  address: str, *, started: float, begun: dt.datetime, sent: list[str]
                  ) -> Call | DialFailure:
    metrics.call_attempt("outbound")
    offer = leg.offer()
    headers = identity_headers(gw.stir, req, gw.attestation(req.from_number), time.time())
    for name, value in req.headers.items():
        headers.append((name, value))
    creds = None
    if trunk.auth in ("digest", "register") and trunk.username:
        password = os.environ.get(trunk.password_env or "", "")
        creds = Credentials(trunk.username, password)
    # The trunk's name stays in the Request-URI; the INVITE goes to its address (TLS
    # connects by name: the trunk's certificate names the host, not the address).
    host = uri_host(trunk.host)  # an IPv6 address in brackets (RFC 3261 25.1)
    target = f"sip:{req.to}@{host}:{trunk.port};transport={trunk.transport}"
    hop = host if trunk.transport.upper() == "TLS" else uri_host(address)
    proxy = f"sip:{hop}:{trunk.port};transport={trunk.transport}"
    sipcall = gw.endpoint.invite(target, sdp=offer,
                                 from_user=req.from_number, headers=tuple(headers),
                                 credentials=creds, proxy=proxy)
    sent.append(sipcall.call_id)
    await gw.audit("stir.sign", sipcall.call_id, gw.attestation(req.from_number),
                   {"origid": req.origid, "identities": sum(
                       1 for h in headers if h[0] == "Identity"), "trunk": trunk.name})
    try:
        with gw.stopping.ringing(sipcall):
            answered: CallAnswered | CallFailed = await sipcall.wait_for(
                (CallAnswered, CallFailed), timeout=req.ring_timeout_s)
    except TimeoutError:
        metrics.call_failed("outbound", 487)  # we cancelled it: 487 Request Terminated
        sipcall.cancel()
        await leg.close()
        return DialFailure(DialOutcome.NO_ANSWER, None, "ring timeout", trunk.name)
    except asyncio.CancelledError:
        sipcall.cancel()
        raise
    if isinstance(answered, CallFailed):
        metrics.call_failed("outbound", answered.status)
        await leg.close()
        return outbound.failure_of(answered, trunk.name)
    try:
        # the 2xx's SDP (alone or a multipart's part), else the 183's answer
        leg.accept(session_sdp(answered.response) or sipcall.remote_sdp)
    except SdpError as exc:
        sipcall.hangup()
        await leg.close()
        return DialFailure(DialOutcome.REJECTED, exc.status_code, "bad answer", trunk.name)
    metrics.call_up("outbound", time.monotonic() - started)
    gw.stats.outbound += 1
    context = CallContext(
        direction=Direction.OUTBOUND, trunk=trunk.name, patient_id=req.patient_id,
        purpose=req.purpose, appointment_id=req.appointment_id,
        max_duration_s=req.max_duration_s, origid=req.origid, extra=gw.context)
    facts = CallFacts(started_at=begun, from_number=req.from_number, to_number=req.to,
                      trunk=trunk.name, answered_at=utcnow(),
                      attestation=gw.attestation(req.from_number) if gw.stir else None,
                      gate_ref=req.gate_ref, consent_ref=req.consent_ref)
    live = gw._live(sipcall, leg, CallerInfo(number=req.to), req.to, context, facts=facts)
    return live.call
