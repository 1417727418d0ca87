"""The gateway: SIP endpoint + media sessions + STIR/SHAKEN, offering the ``Call`` API.

Inbound: the SIP endpoint has already applied the trunk ACL and overload limits
(403 / 503). Here the INVITE's Identity headers are verified; the trunk's policy
rejects a failed verification with its code or lets the call continue with
``Reason: STIR``; the SDP offer is answered, an RTP session opened, and the call
handed to the application as a :class:`carrier.call.Call`.

Outbound: :meth:`Gateway.dial` signs a ``shaken`` PASSporT (attestation from
policy), adds ``rcd`` when a branded name is configured, sends the INVITE through
the trunk (digest credentials when the trunk uses them) and returns a ``Call`` or a
typed :class:`DialFailure`. Each signing and verification lands in the audit log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from carrier import outbound
from carrier.call import (
    Call,
    CallerInfo,
    CallEvent,
    DialFailure,
    DialOutcome,
    DialRequest,
    Direction,
)
from carrier.settings import Settings, TrunkSettings
from carrier.sip.digest import Credentials
from carrier.sip.endpoint import EndpointConfig, SipCall, SipEndpoint
from carrier.sip.errors import LocalProtocolError
from carrier.sip.events import (
    CallAnswered,
    CallConfirmed,
    CallEnded,
    CallFailed,
    DtmfReceived,
    ReferProgress,
    ReInviteReceived,
    RequestResult,
    UpdateReceived,
)
from carrier.sip.policy import InboundPolicy, TrunkRule
from carrier.sip.refusal import RefusalSummary
from carrier.sip.sdp import (
    LocalMedia,
    Negotiated,
    SdpError,
    accept_answer,
    build_answer,
    build_offer,
    parse_sdp,
)
from carrier.trunk_service import Placed, TrunkSlots
from carrier.trunks import TrunkPool
from media.session import MediaSession
from media.srtp import SrtpKey

log = logging.getLogger("carrier.gateway")

Audit = Callable[[str, str, tuple[str, object], str, Mapping[str, Any]], Awaitable[object]]
Handler = Callable[[Call, dict[str, Any]], Awaitable[Any]]
_TN = re.compile(r"^\+?(\d{4,15})$")


def tn_of(uri_user: str | None) -> str:
    """E.164 (with +) from a URI user part, or the user part as it is."""
    if not uri_user:
        return ""
    m = _TN.match(uri_user.split(";")[0])
    return f"+{m.group(1)}" if m else uri_user


def mask(number: str) -> str:
    """Numbers in logs keep only their last two digits (STYLE.md practice 11)."""
    return f"***{number[-2:]}" if len(number) > 2 else "***"


@dataclass
class StirContext:
    """What the gateway needs to sign and verify; built by the app from settings."""

    signer: Any | None
    verifier: Any | None
    fetcher: Any | None
    own_numbers: frozenset[str] = frozenset()
    customer_numbers: frozenset[str] = frozenset()
    rcd_names: Mapping[str, str] = field(default_factory=dict)


@dataclass
class GatewayStats:
    inbound: int = 0
    outbound: int = 0
    active: int = 0
    stir_failed: int = 0


class Gateway:
    def __init__(
        self,
        settings: Settings,
        *,
        handler: Handler | None = None,
        context: dict[str, Any] | None = None,
        audit: Audit | None = None,
        stir: StirContext | None = None,
        endpoint_config: EndpointConfig | None = None,
    ) -> None:
        self.settings = settings
        self.handler = handler
        self.context = dict(context or {})
        self._audit = audit
        self.stir = stir
        self.stats = GatewayStats()
        sip = settings.sip
        cfg = endpoint_config or EndpointConfig(
            udp=(sip.bind_host, sip.udp_port), tcp=(sip.bind_host, sip.tcp_port),
            tls=(sip.bind_host, sip.tls_port), tls_cert=sip.tls_cert, tls_key=sip.tls_key,
            session_expires=sip.session_expires_s,
        )
        # Toll-fraud protection: an INVITE must come from one trunk's networks (403 and
        # an audit entry otherwise); the gateway-wide and per-trunk limits give 503.
        acl = sorted({net for t in settings.trunks for net in t.acl}) if settings.trunks else None
        policy = InboundPolicy.from_strings(
            acl, max_concurrent=sip.max_concurrent_calls, max_cps=sip.max_calls_per_second)
        policy.trunks = tuple(
            TrunkRule.from_strings(t.name, t.acl, max_concurrent=t.max_concurrent_calls,
                                   max_cps=t.calls_per_second)
            for t in settings.trunks if t.acl)
        self.endpoint = SipEndpoint(cfg, on_call=self._on_invite, policy=policy,
                                    audit=self._on_refused)
        self._tasks: set[asyncio.Task[Any]] = set()
        # The process's one trunk pool: CPS, concurrency, failover and recovery of every
        # outbound call (carrier.trunks); `carrier.app` runs its OPTIONS probes.
        self.trunks = TrunkSlots(TrunkPool.from_settings(settings), clock=time.monotonic)
        self._refusal_audits: set[asyncio.Task[Any]] = set()  # awaited at close, not cancelled
        self._control: dict[str, asyncio.Queue[Any]] = {}

    async def start(self) -> None:
        await self.endpoint.start()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.endpoint.close()  # reports the refusals still counted
        await asyncio.gather(*self._refusal_audits, return_exceptions=True)

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

    def _on_refused(self, summary: RefusalSummary) -> None:
        """One audit row per source, rule and window, carrying the count (issue 11 item 6).
        The source address is the record, not a detail: nothing from the refused
        packet itself (Call-ID, headers) is stored."""
        audit = self._audit
        if audit is None:
            return
        details = {"status": summary.status, "count": summary.count,
                   "answered": summary.answered, "transport": summary.transport,
                   "window_s": round(summary.until - summary.since)}

        async def write() -> None:
            await audit("gateway", "sip.refused", ("source", summary.source), summary.rule,
                        details)

        task = asyncio.get_running_loop().create_task(write())
        self._refusal_audits.add(task)
        task.add_done_callback(self._refusal_audits.discard)

    # ---- inbound ----------------------------------------------------------------------

    def _trunk_for(self, source_ip: str) -> TrunkSettings | None:
        import ipaddress  # noqa: PLC0415 - only on new calls

        addr = ipaddress.ip_address(source_ip)
        for trunk in self.settings.trunks:
            if any(addr in ipaddress.ip_network(n, strict=False) for n in trunk.acl):
                return trunk
        return None

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
        req = sipcall.request
        from_tn = tn_of(req.from_.uri.user)
        to_tn = tn_of(req.uri.user or req.to.uri.user)
        source_ip = sipcall.session.dest[1]
        trunk = self._trunk_for(source_ip)
        verification = await self._verify(sipcall, from_tn, to_tn)
        extra: tuple[tuple[str, str], ...] = ()
        if verification is not None and verification.sip_code is not None:
            self.stats.stir_failed += 1
            policy = trunk.stir_inbound_policy if trunk else "continue"
            if policy == "reject":
                sipcall.reject(verification.sip_code, reason=verification.reason,
                               headers=(("Reason", verification.reason_header or ""),))
                return
            if verification.reason_header:
                extra = (("Reason", verification.reason_header),)
        caller = CallerInfo(
            number=from_tn, display_name=req.from_.display,
            stir_status=str(verification.status) if verification else "none",
            stir_code=verification.sip_code if verification else None,
            verstat=verification.verstat if verification else "No-TN-Validation",
            attestation=verification.attest if verification else None,
        )
        srtp_mode = trunk.srtp if trunk else "optional"
        media, _negotiated, answer = await self._answer_media(sipcall, srtp_mode)
        if media is None:
            return
        try:
            sipcall.answer(answer, headers=extra)
        except LocalProtocolError:  # CANCEL or BYE came while the media was set up
            await media.close()
            return
        # Without an ACK the session ends itself 64*T1 after the 2xx (BYE sent,
        # CallEnded "ack-timeout", RFC 3261 13.3.1.4); a BYE may end it first. Only a
        # confirmed call runs a conversation.
        ack_wait = 64 * self.endpoint.config.timers.t1 + 2.0
        settled: CallConfirmed | CallEnded | None
        try:
            settled = await sipcall.wait_for((CallConfirmed, CallEnded), timeout=ack_wait)
        except TimeoutError:
            settled = None
        if not isinstance(settled, CallConfirmed):
            if settled is None:
                sipcall.hangup()
            await media.close()
            return
        self.stats.inbound += 1
        call = self._make_call(sipcall, media, Direction.INBOUND, caller, to_tn)
        await self._run_call(call, sipcall, media, {"direction": "inbound",
                                                    "trunk": trunk.name if trunk else None})

    async def _answer_media(self, sipcall: SipCall, srtp_mode: str
                            ) -> tuple[MediaSession | None, Negotiated | None, bytes]:
        host = self.settings.sip.bind_host
        media = MediaSession(local_addr=(host, 0))
        await media.start()
        key = SrtpKey.generate()
        try:
            offer = parse_sdp(sipcall.remote_sdp or b"")
            answer, neg = build_answer(
                offer, LocalMedia(host, media.local_addr[1], srtp=srtp_mode),
                session_id=secrets.randbelow(1 << 31), version=1, srtp_key=key.master)
        except SdpError as exc:
            await media.close()
            sipcall.reject(exc.status_code, reason=str(exc))
            return None, None, b""
        self._apply(media, neg)
        return media, neg, answer.serialize()

    @staticmethod
    def _apply(media: MediaSession, neg: Negotiated) -> None:
        media.update_remote((neg.remote_address, neg.remote_port))
        media.set_codec(neg.payload_type, neg.dtmf_payload_type)
        media.set_direction(neg.direction)
        if neg.local_crypto is not None and neg.remote_crypto is not None:
            media.set_srtp(SrtpKey(neg.local_crypto.suite, neg.local_crypto.key),
                           SrtpKey(neg.remote_crypto.suite, neg.remote_crypto.key))

    def _make_call(self, sipcall: SipCall, media: MediaSession, direction: Direction,
                   caller: CallerInfo, called: str) -> Call:
        # The event pump is the only reader of the SIP events; in-dialog request
        # outcomes and REFER progress reach transfer() through this queue.
        control: asyncio.Queue[Any] = asyncio.Queue(maxsize=64)

        async def transfer(target: str, context: Mapping[str, Any]) -> bool:
            self.endpoint.act(lambda now: sipcall.session.refer(target, now))
            ok = False
            status = 0
            try:
                async with asyncio.timeout(20):
                    while True:
                        event = await control.get()
                        if isinstance(event, RequestResult) and event.method == "REFER":
                            status = event.status
                            if not 200 <= status < 300:
                                break
                        elif isinstance(event, ReferProgress) and event.final:
                            status = event.status
                            ok = 200 <= status < 300
                            break
            except TimeoutError:
                status = 408
            await self.audit("call.transfer", sipcall.call_id, "refer",
                             {"status": status, "ok": ok,
                              "summary_chars": len(str(context.get("summary", "")))})
            return ok

        async def hangup(reason: str) -> None:
            sipcall.hangup()

        call = Call(call_id=sipcall.call_id, direction=direction, caller=caller, called=called,
                    media=media, transfer=transfer, hangup=hangup)
        self._control[call.call_id] = control
        return call

    async def _run_call(self, call: Call, sipcall: SipCall, media: MediaSession,
                        context: dict[str, Any]) -> Any:
        self.stats.active += 1
        pump = asyncio.create_task(self._pump(call, sipcall, media))
        try:
            if self.handler is None:
                await call.ended.wait()
                return None
            ctx = {**self.context, **context}
            return await self.handler(call, ctx)
        finally:
            self.stats.active -= 1
            if not call.ended.is_set():
                sipcall.hangup()
                call.mark_ended("handler-finished")
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
            self._control.pop(call.call_id, None)
            await media.close()

    async def _pump(self, call: Call, sipcall: SipCall, media: MediaSession) -> None:
        """Signalling events during the call: BYE, hold/resume, INFO DTMF."""
        while True:
            event = await sipcall.events.get()
            if isinstance(event, CallEnded):
                call.mark_ended(event.reason)
                return
            if isinstance(event, (ReInviteReceived, UpdateReceived)):
                self._on_reoffer(sipcall, media, call, event)
            elif isinstance(event, DtmfReceived):
                call.push_event(CallEvent("dtmf", event.digit))
                media.inject_dtmf(event.digit)
            elif isinstance(event, (RequestResult, ReferProgress)):
                control = self._control.get(call.call_id)
                if control is not None and not control.full():
                    control.put_nowait(event)

    def _on_reoffer(self, sipcall: SipCall, media: MediaSession, call: Call,
                    event: ReInviteReceived | UpdateReceived) -> None:
        host = self.settings.sip.bind_host
        if not event.request.body:
            sipcall.respond(event.key, 200, sdp=sipcall.session.local_sdp)
            return
        try:
            offer = parse_sdp(event.request.body)
            answer, neg = build_answer(offer, LocalMedia(host, media.local_addr[1],
                                                         srtp="optional"),
                                       session_id=1, version=2,
                                       srtp_key=SrtpKey.generate().master)
        except SdpError as exc:
            sipcall.respond(event.key, exc.status_code)
            return
        self._apply(media, neg)
        call.push_event(CallEvent("hold" if neg.on_hold else "resume"))
        sipcall.respond(event.key, 200, sdp=answer.serialize())

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

    def _identity_headers(self, req: DialRequest) -> list[tuple[str, str]]:
        if self.stir is None or self.stir.signer is None:
            return []
        now = time.time()
        attest = self.attestation(req.from_number)
        headers = [("Identity", self.stir.signer.sign(
            req.from_number, req.to, attest, req.origid, now).format())]
        name = self.stir.rcd_names.get(req.from_number)
        if name:
            headers.append(("Identity", self.stir.signer.sign_rcd(
                req.from_number, req.to, now, nam=name).format()))
        diverted = req.context.get("diverted_from")
        if diverted:
            headers.append(("Identity", self.stir.signer.sign_div(
                req.from_number, req.to, str(diverted), now).format()))
        return headers

    async def dial(self, req: DialRequest) -> Call | DialFailure:
        """Place ``req`` through ``req.trunk`` or its failover chain (see :meth:`place`)."""
        return outbound.result_of(await self.place(req), req)

    async def place(self, req: DialRequest) -> Placed[Call | DialFailure]:
        """Every outbound call, through :func:`carrier.outbound.place` (clearance, trunk
        slot, failover); an answered call keeps its slot until ``run_outbound`` ends."""
        return await outbound.place(req, self.trunks, lambda r, name: self._dial_on(
            r, self.settings.trunk(name)), self.audit, self.settings.dialer.operator_test_numbers)

    async def _dial_on(self, req: DialRequest, trunk: TrunkSettings) -> Call | DialFailure:
        host = self.settings.sip.bind_host
        media = MediaSession(local_addr=(host, 0))
        await media.start()
        key = SrtpKey.generate()
        offer = build_offer(LocalMedia(host, media.local_addr[1], srtp=trunk.srtp),
                            session_id=secrets.randbelow(1 << 31), version=1,
                            srtp_key=key.master if trunk.srtp != "off" else None)
        headers = self._identity_headers(req)
        for name, value in req.headers.items():
            headers.append((name, value))
        creds = None
        if trunk.auth in ("digest", "register") and trunk.username:
            password = os.environ.get(trunk.password_env or "", "")
            creds = Credentials(trunk.username, password)
        target = f"sip:{req.to}@{trunk.host}:{trunk.port};transport={trunk.transport}"
        sipcall = self.endpoint.invite(target, sdp=offer.serialize(),
                                       from_user=req.from_number, headers=tuple(headers),
                                       credentials=creds)
        await self.audit("stir.sign", sipcall.call_id, self.attestation(req.from_number),
                         {"origid": req.origid, "identities": sum(
                             1 for h in headers if h[0] == "Identity"), "trunk": trunk.name})
        try:
            answered: CallAnswered | CallFailed = await sipcall.wait_for(
                (CallAnswered, CallFailed), timeout=req.ring_timeout_s)
        except TimeoutError:
            sipcall.cancel()
            await media.close()
            return DialFailure(DialOutcome.NO_ANSWER, None, "ring timeout", trunk.name)
        if isinstance(answered, CallFailed):
            await media.close()
            return outbound.failure_of(answered, trunk.name)
        try:
            neg = accept_answer(offer, parse_sdp(answered.response.body))
        except SdpError as exc:
            sipcall.hangup()
            await media.close()
            return DialFailure(DialOutcome.REJECTED, exc.status_code, "bad answer", trunk.name)
        self._apply(media, neg)
        self.stats.outbound += 1
        caller = CallerInfo(number=req.to)
        call = self._make_call(sipcall, media, Direction.OUTBOUND, caller, req.to)
        call.context.update(req.context)
        call.context["origid"] = req.origid
        call.context["trunk"] = trunk.name
        call.context["_sipcall"] = sipcall
        return call

    async def run_outbound(self, call: Call, context: dict[str, Any]) -> Any:
        """Run the handler on an answered outbound call (with a call-length limit)."""
        sipcall: SipCall = call.context.pop("_sipcall")
        try:
            return await self._run_limited(call, sipcall, context)
        finally:
            self.trunks.release(call.context["trunk"])  # the slot `place` kept for the call

    async def _run_limited(self, call: Call, sipcall: SipCall, context: dict[str, Any]) -> Any:
        limit = context.get("max_duration_s")
        media = call.media
        assert isinstance(media, MediaSession)
        coro = self._run_call(call, sipcall, media, {"direction": "outbound", **context})
        if limit:
            try:
                return await asyncio.wait_for(coro, timeout=float(limit))
            except TimeoutError:
                await self.audit("call.length_limit", call.call_id, "exempt call limit",
                                 {"seconds": int(limit)})
                return None
        return await coro
