"""A SIP phone on our own endpoint whose RTP and RTCP land on raw probe sockets, and a
gateway on ephemeral loopback ports: the pieces of the gateway tests that need exact
control of every RTP packet (pjsua2 keeps its media to itself)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from carrier.gateway import Gateway
from carrier.plugin import CallHandler
from carrier.settings import Settings, SipSettings, TrunkSettings
from carrier.sip.endpoint import EndpointConfig, SipCall, SipEndpoint
from carrier.sip.events import CallEnded
from carrier.sip.sdp import (
    LocalMedia,
    Negotiated,
    accept_answer,
    build_answer,
    build_offer,
    parse_sdp,
)
from tests.gateway.rtp_probe import Probe, open_rtp_pair


def loop_settings(*, peer_port: int = 5060, trunk: dict[str, Any] | None = None,
                  **sip: Any) -> Settings:
    base: dict[str, Any] = {"bind_host": "127.0.0.1", "udp_port": 0, "tcp_port": 0,
                            "tls_port": None}
    trunk_settings = TrunkSettings(name="t1", host="127.0.0.1", port=peer_port, region="local",
                                   acl=("127.0.0.0/8",), **(trunk or {}))
    return Settings(sip=SipSettings(**{**base, **sip}), trunks=(trunk_settings,))


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings, handler: CallHandler | None
                          ) -> AsyncIterator[Gateway]:
    gw = Gateway(settings, handler=handler,
                 endpoint_config=EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None))
    await gw.start()
    try:
        yield gw
    finally:
        await gw.close()


class Phone:
    """Calls in (``call_in``) or answers (the gateway dials its port); its SDP names
    ``rtp`` (RTCP on ``rtcp``), two raw sockets that record what arrives."""

    def __init__(self, rtp: Probe, rtcp: Probe) -> None:
        self.rtp, self.rtcp = rtp, rtcp
        self.endpoint = SipEndpoint(EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None,
                                                   user="phone"), on_call=self._answer)
        self.negotiated: Negotiated | None = None
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @property
    def port(self) -> int:
        return self.endpoint.port("UDP")

    def _local(self) -> LocalMedia:
        return LocalMedia("127.0.0.1", self.rtp.addr[1], srtp="off")

    async def _answer(self, sipcall: SipCall) -> None:
        answer, self.negotiated = build_answer(parse_sdp(sipcall.remote_sdp or b""),
                                               self._local(), session_id=5, version=1)
        sipcall.answer(answer.serialize())
        await self._until_ended(sipcall)

    async def _until_ended(self, sipcall: SipCall) -> None:
        ended = await sipcall.wait_for(CallEnded, timeout=60)
        if not self.ended.done():
            self.ended.set_result(ended.reason)

    async def call_in(self, gateway: Gateway, *, user: str = "+15550100100") -> SipCall:
        offer = build_offer(self._local(), session_id=6, version=1)
        sipcall = self.endpoint.invite(
            f"sip:{user}@127.0.0.1:{gateway.endpoint.port('UDP')}", sdp=offer.serialize(),
            from_user="+15550100123")
        answered = await sipcall.wait_answer(timeout=10)
        self.negotiated = accept_answer(offer, parse_sdp(answered.response.body))
        return sipcall

    @property
    def gateway_rtp(self) -> tuple[str, int]:
        assert self.negotiated is not None
        return self.negotiated.remote_address, self.negotiated.remote_port


@contextlib.asynccontextmanager
async def phone() -> AsyncIterator[Phone]:
    rtp, rtcp = await open_rtp_pair()
    p = Phone(rtp, rtcp)
    await p.endpoint.start()
    try:
        yield p
    finally:
        await p.endpoint.close()
        rtp.close()
        rtcp.close()
