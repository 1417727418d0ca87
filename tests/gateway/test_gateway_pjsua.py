"""The gateway against pjsua2, an independent SIP user agent, on 127.0.0.1.

Each test starts a gateway (our SIP stack + RTP media) on ephemeral ports and a
pjsua2 peer in its own process; the gateway's call handler is a small script
(play a tone, measure what arrives, send keys) so the checks are about signalling
and media, not about the agent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from carrier.call import Call, Clearance, DialFailure, DialOutcome, DialRequest
from carrier.gateway import Gateway
from carrier.settings import Settings, SipSettings, TrunkSettings
from carrier.sip.endpoint import EndpointConfig
from media.framing import frames
from tests.gateway.notes import Notes
from tests.peers.client import PjsuaPeer, needs_pjsua2

pytestmark = [pytest.mark.pjsua2, needs_pjsua2, pytest.mark.slow]

RATE = 16000


def tone(freq: float, seconds: float, amp: int = 8000) -> list[np.ndarray]:
    t = np.arange(int(seconds * RATE)) / RATE
    pcm = (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    return frames(pcm, pad=False)


def dominant(frames: list[np.ndarray]) -> float:
    pcm = np.concatenate(frames).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / RATE)[int(np.argmax(spectrum))])


async def collect_voiced(call: Call, count: int, min_rms: float = 500) -> list[np.ndarray]:
    got: list[np.ndarray] = []
    async for frame in call.media.inbound():
        if np.sqrt(np.mean(frame.astype(np.float64) ** 2)) >= min_rms:
            got.append(frame)
            if len(got) >= count:
                return got
    return got


def self_signed(tmp: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress  # noqa: PLC0415

    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "tls.pem", tmp / "tls-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def gateway_settings(trunks: tuple[TrunkSettings, ...] = ()) -> Settings:
    sip = SipSettings(bind_host="127.0.0.1", udp_port=0, tcp_port=0, tls_port=0)
    default = (TrunkSettings(name="loop", host="127.0.0.1", region="local",
                             acl=("127.0.0.0/8",)),)
    return Settings(sip=sip, trunks=trunks or default)


Handler = Callable[[Call, dict[str, Any]], Awaitable[Any]]


@pytest.fixture
def started(tmp_path: Path) -> Callable[..., Any]:
    @contextlib_asynccontextmanager
    async def run(handler: Handler | None, settings: Settings | None = None,
                  tls: bool = False) -> AsyncIterator[Gateway]:
        cert = key = None
        if tls:
            cert, key = self_signed(tmp_path)
        cfg = EndpointConfig(udp=("127.0.0.1", 0), tcp=("127.0.0.1", 0),
                             tls=("127.0.0.1", 0) if tls else None, tls_cert=cert, tls_key=key,
                             tls_ca=cert)
        gw = Gateway(settings or gateway_settings(), handler=handler, endpoint_config=cfg)
        await gw.start()
        try:
            yield gw
        finally:
            await gw.close()

    return run


def contextlib_asynccontextmanager(fn):  # type: ignore[no-untyped-def]
    import contextlib  # noqa: PLC0415

    return contextlib.asynccontextmanager(fn)


async def test_inbound_call_audio_both_ways_dtmf_and_bye(started, tmp_path: Path) -> None:
    heard = Notes()

    async def handler(call: Call, ctx: dict[str, Any]) -> None:
        heard["caller"] = call.caller.number
        play = asyncio.create_task(call.media.play(tone(1000, 3.0)))
        frames = await asyncio.wait_for(collect_voiced(call, 40), timeout=15)
        heard["freq"] = dominant(frames)
        await play
        call.media.send_dtmf("42#")
        digits = ""
        async for event in call.media.dtmf_events():
            digits += event.digit
            if len(digits) == 3:
                break
        heard["digits"] = digits
        await asyncio.wait_for(call.ended.wait(), timeout=15)
        heard["ended"] = call.end_reason

    async with started(handler) as gw, PjsuaPeer.start(
            "udp", user="+15550100123", log_dir=tmp_path) as phone:
        handle = await phone.call(f"sip:+15550100100@127.0.0.1:{gw.endpoint.port('UDP')}")
        await phone.wait_state("CONFIRMED", call=handle, timeout=10)
        await phone.play_tone(700, 3.0, call=handle)
        measured = await phone.measure(call=handle, frames=50, min_rms=500, timeout=10)
        assert abs(measured["freq"] - 1000) < 15
        got = await phone.wait_dtmf(3, call=handle, timeout=10)
        assert got == "42#"
        await phone.dtmf("7*9", call=handle)
        await heard.wait("digits", timeout=10)
        await phone.hangup(handle)
        await heard.wait("ended", timeout=10)
    assert heard["caller"] == "+15550100123"
    assert abs(heard["freq"] - 700) < 15
    assert heard["digits"] == "7*9"
    assert heard["ended"] == "bye-received"


async def test_outbound_dial_answered_and_busy(started, tmp_path: Path) -> None:
    async with PjsuaPeer.start("udp", user="patient", auto_answer=200,
                               log_dir=tmp_path) as phone:
        trunk = TrunkSettings(name="t1", host="127.0.0.1", port=phone.ports["udp"],
                              region="local", acl=("127.0.0.0/8",))
        async with started(None, gateway_settings((trunk,))) as gw:
            req = DialRequest(to="+15550100123", from_number="+15550100100", trunk="t1",
                              origid=str(uuid.uuid4()), headers={"X-Campaign": "demo"},
                              clearance=Clearance("allowed"))
            call = await gw.dial(req)
            assert isinstance(call, Call)
            incoming = phone.events("incoming")[-1]
            assert "X-Campaign: demo" in incoming["msg"]
            runner = asyncio.create_task(gw.run_outbound(call, {}))
            await phone.wait_media_active(timeout=10)
            await phone.play_tone(1200, 2.0)
            frames = await asyncio.wait_for(collect_voiced(call, 30), timeout=10)
            assert abs(dominant(frames) - 1200) < 15
            await call.hangup("done")
            await phone.wait_state("DISCONNECTED", timeout=10)
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

            await phone.set_auto_answer(486)
            busy = await gw.dial(dataclasses.replace(req, origid=str(uuid.uuid4())))
            assert isinstance(busy, DialFailure)
            assert busy.outcome is DialOutcome.BUSY
            assert busy.code == 486


async def test_hold_resume_and_blind_transfer(started, tmp_path: Path) -> None:
    events: list[str] = []
    transferred = Notes()

    async with PjsuaPeer.start("udp", user="frontdesk", auto_answer=200,
                               log_dir=tmp_path, name="desk") as desk:
        target = desk.uri("frontdesk")

        async def handler(call: Call, ctx: dict[str, Any]) -> None:
            while len(events) < 2:
                ev = await asyncio.wait_for(call.events.get(), timeout=15)
                events.append(ev.kind)
            transferred["ok"] = await call.transfer(target, {"summary": "reminder: [NAME]"})
            await asyncio.wait_for(call.ended.wait(), timeout=15)

        async with started(handler) as gw, PjsuaPeer.start(
                "udp", user="+15550100124", log_dir=tmp_path, name="caller") as phone:
            handle = await phone.call(f"sip:+15550100100@127.0.0.1:{gw.endpoint.port('UDP')}")
            await phone.wait_state("CONFIRMED", call=handle, timeout=10)
            await phone.wait_media_active(call=handle, timeout=10)
            await phone.hold(handle)
            await phone.wait_event("media_state", lambda e: e.get("status") == "local_hold",
                                   call=handle, timeout=10)
            await phone.unhold(handle)
            await phone.wait_event("media_state", lambda e: e.get("status") == "active",
                                   call=handle, timeout=10)
            incoming = await desk.wait_incoming(timeout=15)
            assert incoming["from"]
            await desk.wait_state("CONFIRMED", timeout=10)
            await transferred.wait("ok", timeout=10)
    assert events == ["hold", "resume"]
    assert transferred["ok"] is True


async def test_srtp_both_ways(started, tmp_path: Path) -> None:
    trunk = TrunkSettings(name="loop", host="127.0.0.1", region="local",
                          acl=("127.0.0.0/8",), srtp="required")
    heard = Notes()

    async def handler(call: Call, ctx: dict[str, Any]) -> None:
        play = asyncio.create_task(call.media.play(tone(900, 3.0)))
        frames = await asyncio.wait_for(collect_voiced(call, 40), timeout=15)
        heard["freq"] = dominant(frames)
        await play
        await asyncio.wait_for(call.ended.wait(), timeout=15)

    async with started(handler, gateway_settings((trunk,))) as gw, PjsuaPeer.start(
            "udp", user="+15550100125", srtp="mandatory", srtp_secure_signaling=0,
            log_dir=tmp_path) as phone:
        handle = await phone.call(f"sip:+15550100100@127.0.0.1:{gw.endpoint.port('UDP')}")
        state = await phone.wait_state("CONFIRMED", call=handle, timeout=10)
        assert "RTP/SAVP" in (phone.events("call_state")[-1].get("msg") or "RTP/SAVP")
        await phone.play_tone(600, 3.0, call=handle)
        measured = await phone.measure(call=handle, frames=50, min_rms=500, timeout=10)
        assert abs(measured["freq"] - 900) < 15
        await heard.wait("freq", timeout=10)
        await phone.hangup(handle)
        assert state
    assert abs(heard["freq"] - 600) < 15


async def test_tls_signalling(started, tmp_path: Path) -> None:
    connected: dict[str, bool] = {}

    async def handler(call: Call, ctx: dict[str, Any]) -> None:
        connected["yes"] = True
        await asyncio.wait_for(call.ended.wait(), timeout=15)

    async with started(handler, tls=True) as gw:
        cert = str(tmp_path / "tls.pem")
        async with PjsuaPeer.start("tls", user="+15550100126", tls={"ca": cert},
                                   log_dir=tmp_path) as phone:
            uri = f"sip:+15550100100@127.0.0.1:{gw.endpoint.port('TLS')};transport=tls"
            handle = await phone.call(uri)
            await phone.wait_state("CONFIRMED", call=handle, timeout=10)
            await phone.hangup(handle)
            await phone.wait_state("DISCONNECTED", call=handle, timeout=10)
    assert connected["yes"]


async def test_trunk_with_digest_challenge(started, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TRUNK_PW", "synthetic-secret")
    async with PjsuaPeer.start("udp", user="carrier", auto_answer=200, log_dir=tmp_path,
                               challenge={"realm": "carrier.test", "code": 407,
                                          "algorithm": "SHA-256",
                                          "users": {"clinic": "synthetic-secret"}}) as trunk_peer:
        trunk = TrunkSettings(name="t1", host="127.0.0.1", port=trunk_peer.ports["udp"],
                              region="local", acl=("127.0.0.0/8",), auth="digest",
                              username="clinic", password_env="TRUNK_PW")
        async with started(None, gateway_settings((trunk,))) as gw:
            call = await gw.dial(DialRequest(to="+15550100123", from_number="+15550100100",
                                             trunk="t1", origid=str(uuid.uuid4()),
                                             clearance=Clearance("allowed")))
            assert isinstance(call, Call), call
            assert trunk_peer.events("challenged")
            incoming = trunk_peer.events("incoming")[-1]
            assert "Proxy-Authorization: Digest" in incoming["msg"]
            assert 'algorithm=SHA-256' in incoming["msg"]
            await call.hangup("done")


async def test_transfer_after_the_caller_hung_up_is_a_failed_transfer(started,
                                                                       tmp_path: Path) -> None:
    """A hang-up racing the agent's transfer (found by bench/soak.py): the REFER is not
    sent on a terminated dialog; transfer() says False instead of raising, so the handler
    goes on to store its record (before: LocalProtocolError out of the handler)."""
    result = Notes()

    async def handler(call: Call, ctx: dict[str, Any]) -> None:
        await asyncio.wait_for(call.ended.wait(), timeout=15)
        result["ok"] = await call.transfer("sip:frontdesk@127.0.0.1:9", {"summary": "x"})

    async with started(handler) as gw, PjsuaPeer.start(
            "udp", user="+15550100125", log_dir=tmp_path) as phone:
        handle = await phone.call(f"sip:+15550100100@127.0.0.1:{gw.endpoint.port('UDP')}")
        await phone.wait_state("CONFIRMED", call=handle, timeout=10)
        await phone.hangup(handle)
        await result.wait("ok", timeout=10)
    assert result["ok"] is False
