"""The gateway: SIP endpoint + media sessions + STIR/SHAKEN, offering the ``Call`` API.

Inbound: the SIP endpoint has already applied the trunk ACL and overload limits (403 /
503). Here the INVITE's Identity headers are verified; the trunk's policy rejects a failed
verification with its code or lets the call continue with ``Reason: STIR``; the SDP offer
is answered by a :class:`carrier.media_leg.MediaLeg` (SDP + RTP + SRTP), and the call is
handed to the application (``carrier.plugin.CallHandler``) as a :class:`carrier.call.Call`
with a typed ``CallContext``; each answered call is a :class:`carrier.live_call.LiveCall`
whose TaskGroup owns the call's work. Outbound: :meth:`Gateway.dial` signs a ``shaken``
PASSporT (and ``rcd`` when branded), sends the INVITE through the trunk (digest when the
trunk uses it) and returns a ``Call`` or a typed :class:`DialFailure`;
:meth:`Gateway.run_outbound` runs the handler on it within the request's length limit.
Each signing and verification lands in the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from carrier import logs, metrics, outbound
from carrier.call import (
    Call,
    CallerInfo,
    Clearance,
    DialFailure,
    DialRequest,
    Direction,
)
from carrier.cdr_points import (
    CallFacts,
    CdrSink,
    CdrWriter,
    dial_failure_detail,
    live_detail,
    refused_detail,
    utcnow,
)
from carrier.gateway_dial import dial_on
from carrier.gateway_parts import (
    GatewayStats,
    StirContext,
    as_context,
    mask,
    tn_of,
    trunk_for,
)
from carrier.gateway_parts import endpoint_config as endpoint_config_of
from carrier.gateway_refusals import RefusalReports
from carrier.live_call import LiveCall
from carrier.media_leg import MediaLeg, PortWatch
from carrier.plugin import CallContext, CallHandler, CallOutcome
from carrier.settings import Settings, TrunkSettings
from carrier.sip.endpoint import EndpointConfig, SipCall, SipEndpoint
from carrier.sip.errors import LocalProtocolError
from carrier.sip.events import (
    CallConfirmed,
    CallEnded,
)
from carrier.sip.policy import InboundPolicy, TrunkRule
from carrier.sip.sdp import SdpError
from carrier.trunk_address import TrunkAddresses, system_resolver
from carrier.trunk_service import Placed, TrunkSlots
from carrier.trunks import TrunkPool

__all__ = ["Gateway", "GatewayStats", "StirContext", "mask", "tn_of"]

log = logging.getLogger("carrier.gateway")

Audit = Callable[[str, str, tuple[str, object], str, Mapping[str, Any]], Awaitable[object]]
TRANSFER_RING_S = 15.0  # how long a warm transfer lets the human's phone ring
LIMIT_GRACE_S = 5.0  # a handler's time to finish on its own after the length limit ended the call


class Gateway:
    def __init__(
        self,
        settings: Settings,
        *,
        handler: CallHandler | None = None,
        context: Mapping[str, Any] | None = None,
        audit: Audit | None = None,
        stir: StirContext | None = None,
        endpoint_config: EndpointConfig | None = None,
        cdr: CdrSink | None = None,
    ) -> None:
        self.settings = settings
        self.cdr = CdrWriter(cdr)  # every call's CDR, however it ends (carrier.cdr_points)
        self.handler = handler
        self.context: Mapping[str, Any] = dict(context or {})
        """Application values handed to every call as ``CallContext.extra``."""
        self.limit_grace_s = LIMIT_GRACE_S
        self._audit = audit
        self.stir = stir
        self.stats = GatewayStats()
        self.ports = PortWatch.of_range(settings.sip.rtp_port_range)  # health: sip.rtp_ports
        sip = settings.sip
        cfg = endpoint_config or endpoint_config_of(settings)
        # Toll-fraud protection: an INVITE must come from one trunk's networks (403 and
        # an audit entry otherwise); the gateway-wide and per-trunk limits give 503.
        acl = sorted({net for t in settings.trunks for net in t.acl}) if settings.trunks else None
        policy = InboundPolicy.from_strings(
            acl, max_concurrent=sip.max_concurrent_calls, max_cps=sip.max_calls_per_second)
        policy.trunks = tuple(
            TrunkRule.from_strings(t.name, t.acl, max_concurrent=t.max_concurrent_calls,
                                   max_cps=t.calls_per_second)
            for t in settings.trunks if t.acl)
        self._refusals = RefusalReports(self.cdr, audit)  # awaited at close, not cancelled
        self.endpoint = SipEndpoint(cfg, on_call=self._on_invite, policy=policy,
                                    audit=self._refusals)
        self._tasks: set[asyncio.Task[Any]] = set()
        # The process's one trunk pool: CPS, concurrency, failover and recovery of every
        # outbound call (carrier.trunks); `carrier.app` runs its OPTIONS probes.
        self.trunks = TrunkSlots(TrunkPool.from_settings(settings), clock=time.monotonic)
        self._calls: dict[str, LiveCall] = {}
        self.stopping = outbound.Stopping()  # the drain sets it: nothing more is dialled
        family = socket.AF_INET6 if ":" in sip.bind_host else socket.AF_INET
        self.trunk_addresses = TrunkAddresses(system_resolver(family))
        """Trunk host names -> addresses, resolved at start and cached (dial_on)."""

    def live_calls(self) -> list[tuple[Call, float]]:
        """The calls up now, each with its monotonic answer time (the console reads it)."""
        return [(live.call, live.answered_at) for live in self._calls.values()]

    async def start(self) -> None:
        await self.endpoint.start()
        found = await self.trunk_addresses.warm(t.host for t in self.settings.trunks)
        for host in (h for h, address in found.items() if address is None):
            log.warning("trunk host %s does not resolve; dials to it fail until it does", host)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for live in list(self._calls.values()):  # dialled and never run, or still running
            await live.end("gateway-closed")
            if not live.started:  # a running call's CDR is written as its run ends
                await self.cdr.write(live_detail(live, None, utcnow()))
        self._calls.clear()
        await self.endpoint.close()  # reports the refusals still counted
        await self._refusals.drain()

    async def end_calls(self, reason: str) -> None:
        """Hang up every call still up (the drain's time ran out); each run then ends."""
        for live in list(self._calls.values()):
            await live.end(reason)

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- audit ------------------------------------------------------------------------

    async def audit(self, action: str, call_id: str, reason: str,
                    details: Mapping[str, Any]) -> None:
        if self._audit is not None:
            clean = {k: v for k, v in details.items() if v not in (None, "")}
            await self._audit("gateway", action, ("call", call_id), reason, clean)

    # ---- inbound ----------------------------------------------------------------------

    async def _verify(self, sipcall: SipCall, from_tn: str, to_tn: str) -> Any:
        if self.stir is None or self.stir.verifier is None:
            return None
        from stir_shaken.aio import verify_fetching  # noqa: PLC0415

        identities = sipcall.request.get_all("Identity")
        if self.stir.fetcher is not None:
            result = await verify_fetching(self.stir.verifier, self.stir.fetcher, identities,
                                           from_tn, to_tn, now=time.time())
        else:
            result = self.stir.verifier.verify(identities, from_tn, to_tn, time.time())
        await self.audit("stir.verify", sipcall.call_id, str(result.status),
                         {"sip_code": result.sip_code, "verstat": result.verstat,
                          "attest": result.attest, "origid": result.origid})
        return result

    async def _on_invite(self, sipcall: SipCall) -> None:
        started, begun = time.monotonic(), utcnow()
        logs.CALL_ID.set(sipcall.call_id)  # this task and the call's tasks log it
        metrics.call_attempt("inbound")
        req = sipcall.request
        from_tn = tn_of(req.from_.uri.user)
        to_tn = tn_of(req.uri.user or req.to.uri.user)
        source_ip = sipcall.session.dest[1]
        trunk = trunk_for(self.settings, source_ip)
        verification = await self._verify(sipcall, from_tn, to_tn)
        extra: tuple[tuple[str, str], ...] = ()
        if verification is not None and verification.sip_code is not None:
            self.stats.stir_failed += 1
            policy = trunk.stir_inbound_policy if trunk else "continue"
            if policy == "reject":
                metrics.call_failed("inbound", verification.sip_code)
                sipcall.reject(verification.sip_code, reason=verification.reason,
                               headers=(("Reason", verification.reason_header or ""),))
                await self.cdr.write(refused_detail(
                    sipcall.call_id, started=begun, status=verification.sip_code,
                    cause="refused", from_number=from_tn, to_number=to_tn,
                    trunk=trunk.name if trunk else None, attestation=verification.attest,
                    verstat=verification.verstat, outcome="refused.stir"))
                return
            if verification.reason_header:
                extra = (("Reason", verification.reason_header),)
        caller = CallerInfo(
            # withheld or non-numeric (anonymous, sip:name@host): an unknown caller
            number=from_tn if from_tn.startswith("+") else "", display_name=req.from_.display,
            stir_status=str(verification.status) if verification else "none",
            stir_code=verification.sip_code if verification else None,
            verstat=verification.verstat if verification else "No-TN-Validation",
            attestation=verification.attest if verification else None,
        )
        try:
            leg = await self._open_leg(trunk.srtp if trunk else "optional", source_ip)
        except OSError:  # no free RTP port pair: busy, not broken (RFC 3261 21.5.4)
            metrics.call_failed("inbound", 503)
            sipcall.reject(503, reason="No Media Port", headers=(("Retry-After", "5"),))
            await self.cdr.write(refused_detail(
                sipcall.call_id, started=begun, status=503, cause="refused", from_number=from_tn,
                to_number=to_tn, trunk=trunk.name if trunk else None, outcome="refused.ports"))
            return
        facts = CallFacts(started_at=begun, from_number=from_tn, to_number=to_tn,
                          trunk=trunk.name if trunk else None, attestation=caller.attestation,
                          verstat=caller.verstat)
        try:
            live = await self._answer(sipcall, leg, caller, to_tn, headers=extra, facts=facts)
        except BaseException:  # cancelled while waiting for the ACK: the ports are freed
            await leg.close()
            raise
        if not isinstance(live, LiveCall):
            metrics.call_failed("inbound", None)
            await leg.close()
            status, cause = live
            await self.cdr.write(refused_detail(
                sipcall.call_id, started=begun, status=status, cause=cause,
                from_number=from_tn, to_number=to_tn, trunk=facts.trunk,
                attestation=caller.attestation, verstat=caller.verstat, outcome=cause))
            return
        metrics.call_up("inbound", time.monotonic() - started)
        self.stats.inbound += 1
        await self._run(live)

    async def _answer(self, sipcall: SipCall, leg: MediaLeg, caller: CallerInfo, called: str, *,
                      headers: tuple[tuple[str, str], ...], facts: CallFacts
                      ) -> LiveCall | tuple[int, str]:
        """200 OK with the leg's answer (our offer to an INVITE without one), then the ACK
        (with the answer, then); when refused or never ACKed, the final status and the
        CDR's hangup cause instead."""
        late = not sipcall.remote_sdp  # no offer (RFC 3264 5): ours in the 200, answer in ACK
        try:
            answer = leg.offer() if late else leg.answer(sipcall.remote_sdp)
        except SdpError as exc:
            with contextlib.suppress(LocalProtocolError):  # cancelled meanwhile
                sipcall.reject(exc.status_code, reason=str(exc))
            return exc.status_code, "refused"
        try:
            sipcall.answer(answer, headers=headers)
        except LocalProtocolError:  # CANCEL or BYE came while the media was set up
            return 487, "cancelled"
        # Without an ACK the session ends itself 64*T1 after the 2xx (BYE sent,
        # CallEnded "ack-timeout", RFC 3261 13.3.1.4); a BYE may end it first. Only a
        # confirmed call runs a conversation.
        ack_wait = 64 * self.endpoint.config.timers.t1 + 2.0
        settled: CallConfirmed | CallEnded | None = None
        with contextlib.suppress(TimeoutError):
            settled = await sipcall.wait_for((CallConfirmed, CallEnded), timeout=ack_wait)
        if settled is None:
            sipcall.hangup()
        if not isinstance(settled, CallConfirmed):
            ended = settled.reason if isinstance(settled, CallEnded) else "ack-timeout"
            return 200, "ack_timeout" if ended == "ack-timeout" else "cancelled"
        try:
            if late:
                leg.accept(sipcall.remote_sdp)  # the ACK's answer
        except SdpError:  # none, or unusable: nothing to talk over (RFC 3261 13.3.1.4)
            sipcall.hangup()
            return 200, "refused"
        facts.answered_at = utcnow()
        context = CallContext(direction=Direction.INBOUND, trunk=facts.trunk,
                              max_duration_s=self.settings.sip.max_inbound_call_s,
                              extra=self.context)
        return self._live(sipcall, leg, caller, called, context, facts=facts)

    async def _open_leg(self, srtp: str, peer: str) -> MediaLeg:
        """``peer``: where the call's signalling comes from (``carrier.media_address``)."""
        sip = self.settings.sip
        return await MediaLeg.open(sip.bind_host, srtp=srtp, port_range=sip.rtp_port_range,
                                   peer=peer, watch=self.ports)

    def _live(self, sipcall: SipCall, leg: MediaLeg, caller: CallerInfo, called: str,
              context: CallContext, *, facts: CallFacts) -> LiveCall:
        def refer(target: str) -> None:
            self.endpoint.act(lambda now: sipcall.session.refer(target, now))

        async def finished(ended: LiveCall, outcome: CallOutcome | None) -> None:
            await self.cdr.write(live_detail(ended, outcome, utcnow()))

        live = LiveCall(sipcall, leg, direction=context.direction, caller=caller,
                        called=called, context=context, audit=self.audit, refer=refer,
                        consult=self._consult, facts=facts)
        live.finished = finished
        self._calls[live.call.call_id] = live
        return live

    async def _run(self, live: LiveCall) -> CallOutcome | None:
        self.stats.active += 1
        direction = str(live.call.direction.value).lower()
        try:
            return await live.run(self.handler, grace_s=self.limit_grace_s)
        finally:
            metrics.call_down(direction)
            self.stats.active -= 1
            self._calls.pop(live.call.call_id, None)

    async def _consult(self, origin: LiveCall, target: str, headers: Mapping[str, str]
                       ) -> LiveCall | DialFailure:
        """The consult leg of a warm transfer: ``target`` (``tel:+1...`` or a number) is
        dialled over the call's trunk, so it leaves our network: it carries the patient's
        number as caller and a ``div`` PASSporT naming the number the call first reached
        (RFC 8946). The leg keeps its trunk slot until it ends."""
        call = origin.call
        number = target.removeprefix("tel:").split("@")[0].removeprefix("sip:")
        trunk = call.context.trunk or (self.settings.trunks[0].name if self.settings.trunks
                                       else "")
        first_dest = call.called if call.direction is Direction.INBOUND else call.caller.number
        req = DialRequest(to=number, from_number=call.caller.number, trunk=trunk,
                          origid=str(uuid.uuid4()), headers=headers,
                          ring_timeout_s=TRANSFER_RING_S,
                          diverted_from=first_dest if first_dest != number else None,
                          clearance=Clearance("transfer"))
        placed = await self.dial(req)
        if isinstance(placed, DialFailure):
            return placed
        live = self._calls[placed.call_id]
        slot = placed.context.trunk

        def released() -> None:
            self._calls.pop(placed.call_id, None)
            if slot is not None:
                self.trunks.release(slot)

        live.released = released
        return live

    # ---- outbound ---------------------------------------------------------------------

    def attestation(self, from_number: str) -> str:
        """A: our number, our caller; B: a known customer's call from another number;
        C: traffic we only pass through."""
        if self.stir is None:
            return "C"
        if from_number in self.stir.own_numbers:
            return "A"
        if from_number in self.stir.customer_numbers:
            return "B"
        return "C"

    async def dial(self, req: DialRequest) -> Call | DialFailure:
        """Place ``req`` through ``req.trunk`` or its failover chain (see :meth:`place`)."""
        return outbound.result_of(await self.place(req), req)

    async def place(self, req: DialRequest) -> Placed[Call | DialFailure]:
        """Every outbound call, through :func:`carrier.outbound.place` (clearance, trunk
        slot, failover); an answered call keeps its slot until ``run_outbound`` ends.
        A request nothing was sent for (refused, no trunk up) has its CDR under its origid."""
        begun = utcnow()
        placed = await outbound.place(req, self.trunks, lambda r, name: self._dial_on(
            r, self.settings.trunk(name)), self.audit, self.settings.dialer.operator_test_numbers,
            stopping=self.stopping)
        result = outbound.result_of(placed, req)
        if isinstance(result, DialFailure) and placed.trunk is None and not placed.down:
            await self.cdr.write(dial_failure_detail(req, result, call_id=req.origid,
                                                     started=begun, attestation=None))
        return placed

    async def _dial_on(self, req: DialRequest, trunk: TrunkSettings) -> Call | DialFailure:
        return await dial_on(self, req, trunk)

    async def run_outbound(self, call: Call,
                           context: CallContext | Mapping[str, Any] | None = None
                           ) -> CallOutcome | None:
        """Run the handler on an answered outbound call (``dial``'s result) to its end,
        within the call's length limit (``DialRequest.max_duration_s``). ``context``
        replaces ``call.context`` when given; a plain mapping is read into it (known keys
        to the typed fields, the rest to ``extra``)."""
        live = self._calls.get(call.call_id)
        if live is None or live.call is not call or live.started:
            raise ValueError("run_outbound() takes a call this gateway dialled, once")
        trunk = call.context.trunk
        token = logs.CALL_ID.set(call.call_id)  # reset below: the dialer's task goes on
        try:
            if context is not None:
                call.context = as_context(call.context, context)
            return await self._run(live)
        finally:
            logs.CALL_ID.reset(token)
            if trunk is not None:
                self.trunks.release(trunk)  # the slot `place` kept for the call
