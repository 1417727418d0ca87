"""Signalling interop with pjsua2 (an independent UA) on 127.0.0.1: inbound and outbound
calls, hold/resume, INFO DTMF, blind transfer both ways, digest auth, TLS. Media is the
gateway's job (see the media and gateway tests); here only SDP is negotiated."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from carrier.sip.digest import Credentials
from carrier.sip.endpoint import EndpointConfig, SipCall, SipEndpoint
from carrier.sip.events import (
    CallConfirmed,
    CallEnded,
    DtmfReceived,
    ReferProgress,
    ReferReceived,
    ReInviteReceived,
)
from carrier.sip.sdp import LocalMedia, build_answer, build_offer, parse_sdp
from tests.peers.client import PjsuaPeer, needs_pjsua2
from tests.sip.test_sip_endpoint import self_signed

pytestmark = [pytest.mark.pjsua2, pytest.mark.slow, needs_pjsua2]

MEDIA = LocalMedia("127.0.0.1", 39996, srtp="off")


class Recorder:
    """An inbound handler that answers and logs what the peer does."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.calls: asyncio.Queue[SipCall] = asyncio.Queue()
        self.changed = asyncio.Event()

    def note(self, kind: str, value: str) -> None:
        self.log.append((kind, value))
        self.changed.set()

    async def __call__(self, call: SipCall) -> None:
        answer, _ = build_answer(parse_sdp(call.request.body), MEDIA, session_id=9, version=1)
        call.ring()
        call.answer(answer.serialize())
        await self.calls.put(call)
        version = 2
        while True:
            event = await call.wait_for(
                (ReInviteReceived, DtmfReceived, ReferReceived, CallEnded, CallConfirmed),
                timeout=60,
            )
            if isinstance(event, CallConfirmed):
                self.note("confirmed", "")
            elif isinstance(event, ReInviteReceived):
                offer = parse_sdp(event.request.body)
                reply, neg = build_answer(offer, MEDIA, session_id=9, version=version)
                version += 1
                self.note("reinvite", neg.direction)
                call.respond(event.key, 200, sdp=reply.serialize())
            elif isinstance(event, DtmfReceived):
                self.note("dtmf", event.digit)
            elif isinstance(event, ReferReceived):
                self.note("refer", str(event.target.uri))
                call.notify_refer(100, final=False)
                call.notify_refer(200, final=True)
            else:
                self.note("ended", event.reason)
                return

    async def until(self, entry: tuple[str, str]) -> None:
        async with asyncio.timeout(10):
            while entry not in self.log:
                self.changed.clear()
                await self.changed.wait()


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
async def test_inbound_call_from_pjsua(transport: str, tmp_path: pathlib.Path) -> None:
    cert, key = self_signed(tmp_path)
    config = EndpointConfig(udp=("127.0.0.1", 0), tcp=("127.0.0.1", 0), tls=("127.0.0.1", 0),
                            tls_cert=cert, tls_key=key, tls_ca=cert)  # fmt: skip
    recorder = Recorder()
    tls = {"ca": cert, "verify_server": False} if transport == "tls" else None
    options = {"tls": tls} if tls else {}
    async with (
        SipEndpoint(config, on_call=recorder) as ep,
        PjsuaPeer.start(transport, user="patient", log_dir=tmp_path, **options) as phone,
    ):
        port = ep.port(transport.upper())
        scheme, param = ("sips", "") if transport == "tls" else ("sip", f";transport={transport}")
        call = await phone.call(f"{scheme}:clinic@127.0.0.1:{port}{param}")
        await phone.wait_state("CONFIRMED", call=call, timeout=10)
        await recorder.until(("confirmed", ""))
        await phone.hold(call)
        await recorder.until(("reinvite", "recvonly"))
        await phone.unhold(call)
        await recorder.until(("reinvite", "sendrecv"))
        await phone.dtmf("5", call, method="info")
        await recorder.until(("dtmf", "5"))
        await phone.xfer("sip:frontdesk@127.0.0.1:9", call)
        final = await phone.wait_transfer_final(call, timeout=10)
        assert final["code"] == 200
        await recorder.until(("refer", "sip:frontdesk@127.0.0.1:9"))
        await phone.hangup(call)
        await recorder.until(("ended", "bye-received"))


async def test_outbound_call_to_a_challenging_pjsua_trunk(tmp_path: pathlib.Path) -> None:
    config = EndpointConfig(udp=("127.0.0.1", 0), tcp=("127.0.0.1", 0), tls=None)
    transferred = Recorder()
    challenge = {"realm": "trunk.test", "users": {"clinic": "s3cret"}, "code": 407}
    async with (
        SipEndpoint(config, on_call=transferred) as ep,
        PjsuaPeer.start(
            "udp", user="carrier", auto_answer=200, challenge=challenge, log_dir=tmp_path
        ) as trunk,
    ):
        offer = build_offer(MEDIA, session_id=1, version=1)
        call = ep.invite(trunk.uri("+15551230000"), sdp=offer.serialize(),
                         credentials=Credentials("clinic", "s3cret"),
                         headers=(("X-Test", "outbound"),))  # fmt: skip
        answered = await call.wait_answer(timeout=10)
        assert answered.response.status == 200
        incoming = await trunk.wait_incoming(timeout=5)
        assert "X-Test: outbound" in incoming["msg"]
        assert "Proxy-Authorization:" in incoming["msg"]
        hold = build_offer(MEDIA, session_id=1, version=2, direction="sendonly")
        assert (await call.reinvite(hold.serialize(), timeout=10)).status == 200
        resume = build_offer(MEDIA, session_id=1, version=3)
        assert (await call.reinvite(resume.serialize(), timeout=10)).status == 200
        # Blind transfer of the trunk leg back to our own endpoint.
        result = await call.refer(f"sip:transfer@127.0.0.1:{ep.port('UDP')}", timeout=10)
        assert result.status == 202
        progress = await call.wait_for(ReferProgress, timeout=10)
        while not progress.final:
            progress = await call.wait_for(ReferProgress, timeout=10)
        assert progress.status == 200
        await transferred.until(("confirmed", ""))
        call.hangup()


async def test_sdes_srtp_offer_from_pjsua_is_answered(tmp_path: pathlib.Path) -> None:
    """pjsua offers RTP/SAVP with a=crypto; our answer's crypto line is accepted by it."""
    config = EndpointConfig(udp=("127.0.0.1", 0), tcp=("127.0.0.1", 0), tls=None)
    negotiated = []

    async def answer(call: SipCall) -> None:
        media = LocalMedia("127.0.0.1", 39994, srtp="required")
        reply, neg = build_answer(parse_sdp(call.request.body), media, session_id=4, version=1,
                                  srtp_key=bytes(range(30)))  # fmt: skip
        negotiated.append(neg)
        call.answer(reply.serialize())
        await call.wait_for(CallEnded, timeout=30)

    async with (
        SipEndpoint(config, on_call=answer) as ep,
        PjsuaPeer.start(
            "udp", user="patient", srtp="mandatory", srtp_secure_signaling=0, log_dir=tmp_path
        ) as phone,
    ):
        call = await phone.call(f"sip:clinic@127.0.0.1:{ep.port('UDP')}")
        await phone.wait_state("CONFIRMED", call=call, timeout=10)
        await phone.wait_media_active(call, timeout=10)
        await phone.hangup(call)
    (neg,) = negotiated
    assert neg.remote_crypto is not None
    assert neg.remote_crypto.suite in ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
    assert neg.local_crypto is not None
    assert neg.local_crypto.key == bytes(range(30))
