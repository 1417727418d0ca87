"""Self-test of the pjsua2 test peer: two (or three) peer processes on 127.0.0.1.

If these fail, the peer is wrong, not the gateway: run them before blaming a gateway test.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .client import PeerError, PeerExited, PjsuaPeer, needs_pjsua2
from .digest_server import start_challenging_server
from .peer_audio import measure, read_wav, tone, write_wav

pytestmark = [pytest.mark.pjsua2, needs_pjsua2]

FREQ_TOLERANCE_HZ = 5.0


async def assert_tone(
    sender: PjsuaPeer, receiver: PjsuaPeer, freq: float, *, tx_call: int, rx_call: int
) -> None:
    """`sender` plays `freq`; `receiver` measures it over 25 non-silent frames (0.5 s)."""
    await sender.play_tone(freq, 4.0, call=tx_call)
    m = await receiver.measure(call=rx_call, frames=25, min_rms=500.0, timeout=8.0)
    assert abs(m["freq"] - freq) < FREQ_TOLERANCE_HZ, m
    assert m["rms"] > 2000.0, m  # amplitude 0.3 of full scale is ~6950 rms; G.711 keeps it
    await sender.stop_play(call=tx_call)


async def connected_pair(a: PjsuaPeer, b: PjsuaPeer, uri: str, **call_opts: Any) -> tuple[int, int]:
    """a calls b (which auto-answers); returns (a's call handle, b's call handle)."""
    ca = await a.call(uri, **call_opts)
    incoming = await b.wait_incoming()
    cb = incoming["call"]
    await a.wait_state("CONFIRMED", call=ca)
    await b.wait_state("CONFIRMED", call=cb)
    await a.wait_media_active(call=ca)
    await b.wait_media_active(call=cb)
    return ca, cb


async def hang_up(a: PjsuaPeer, ca: int, b: PjsuaPeer, cb: int) -> None:
    await a.hangup(ca)
    ea = await a.wait_state("DISCONNECTED", call=ca)
    eb = await b.wait_state("DISCONNECTED", call=cb)
    assert eb["msg"].startswith("BYE "), eb["msg"][:40]
    assert ea["code"] == eb["code"] == 200


async def test_udp_call_audio_dtmf_hold_transfer(tmp_path: Path) -> None:
    async with (
        PjsuaPeer.start("udp", name="alice", user="alice", log_dir=tmp_path) as a,
        PjsuaPeer.start(
            "udp", name="bob", user="bob", auto_answer=[180, 200], log_dir=tmp_path
        ) as b,
        PjsuaPeer.start("udp", name="carol", user="carol", auto_answer=200, log_dir=tmp_path) as c,
    ):
        identity = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln;info=<https://127.0.0.1/cert.pem>;ppt=shaken"
        div = "eyJhbGciOiJFUzI1NiJ9.e30.ZGl2;info=<https://127.0.0.1/cert.pem>;ppt=div"
        ca = await a.call(b.uri(), headers=[("Identity", identity), ("Identity", div)])
        incoming = await b.wait_incoming()
        cb = incoming["call"]
        assert f"Identity: {identity}\r\n" in incoming["msg"]
        assert f"Identity: {div}\r\n" in incoming["msg"]
        assert incoming["msg"].startswith(f"INVITE {b.uri()} SIP/2.0")
        assert "alice" in incoming["from"]
        ringing = await a.wait_state("EARLY", call=ca)
        assert ringing["code"] == 180
        await a.wait_state("CONFIRMED", call=ca)
        await b.wait_state("CONFIRMED", call=cb)
        await a.wait_media_active(call=ca)
        await b.wait_media_active(call=cb)

        # audio both ways, each side measuring what the other sent
        await assert_tone(a, b, 1000.0, tx_call=ca, rx_call=cb)
        await assert_tone(b, a, 700.0, tx_call=cb, rx_call=ca)

        # RFC 4733 DTMF both ways
        await a.dtmf("123*#", call=ca)
        assert await b.wait_dtmf(5, call=cb) == "123*#"
        assert b.events("dtmf")[0]["method"] == "rfc4733"
        await b.dtmf("90", call=cb)
        assert await a.wait_dtmf(2, call=ca) == "90"

        stats = await a.stats(call=ca)
        assert stats["codec"] == "PCMU/8000"
        assert stats["rx_packets"] > 50
        assert stats["tx_packets"] > 50
        assert stats["rx_loss"] == 0

        # hold and resume (re-INVITEs); audio flows again after resuming
        await a.hold(call=ca)
        await a.wait_event("media_state", lambda e: e["status"] == "local_hold", call=ca)
        await b.wait_event("media_state", lambda e: e["status"] == "remote_hold", call=cb)
        await a.unhold(call=ca)
        await a.wait_media_active(call=ca)
        await b.wait_media_active(call=cb)
        await assert_tone(b, a, 1300.0, tx_call=cb, rx_call=ca)

        # blind transfer: bob (transferor) REFERs alice (transferee) to carol
        await b.xfer(c.uri(), call=cb)
        request = await a.wait_event("transfer_request", call=ca)
        assert request["accepted"]
        assert c.uri() in request["to"]
        new_call = request["new_call"]
        incoming_c = await c.wait_incoming()
        assert "alice" in incoming_c["from"]
        cc = incoming_c["call"]
        await a.wait_state("CONFIRMED", call=new_call)
        final = await b.wait_transfer_final(call=cb)
        assert final["code"] == 200, final
        await hang_up(b, cb, a, ca)
        await a.wait_media_active(call=new_call)
        await c.wait_media_active(call=cc)
        await assert_tone(c, a, 1000.0, tx_call=cc, rx_call=new_call)
        await hang_up(a, new_call, c, cc)


async def test_reject_with_code() -> None:
    async with (
        PjsuaPeer.start("udp", name="caller") as a,
        PjsuaPeer.start("udp", name="callee", user="busy") as b,
    ):
        ca = await a.call(b.uri())
        await b.wait_incoming()
        await b.answer(code=486, reason="Busy Here")
        ended = await a.wait_state("DISCONNECTED", call=ca)
        assert ended["code"] == 486
        assert ended["msg"].startswith("SIP/2.0 486 Busy Here")
        with pytest.raises(PeerError, match="no live call"):
            await a.hangup()


async def test_play_wav_and_record(tmp_path: Path) -> None:
    wav_in = tmp_path / "in.wav"
    write_wav(wav_in, tone(440.0, 3.0, amplitude=0.3, rate=8000), rate=8000)
    async with (
        PjsuaPeer.start("udp", name="player") as a,
        # The recorder waits as bench/concurrent_calls.py's phones do (loop_ms=20): its
        # waits and stamps must hold with the longer main-loop wait too.
        PjsuaPeer.start("udp", name="recorder", user="rec", auto_answer=200, loop_ms=20) as b,
    ):
        ca, cb = await connected_pair(a, b, b.uri())
        await a.play_wav(wav_in, call=ca)
        onset = await b.wait_audio(call=cb, min_rms=500.0)
        rec = await b.record(tmp_path / "out.wav", call=cb, frames=50, min_rms=500.0)
        assert rec["first_t"] >= onset
        samples = read_wav(tmp_path / "out.wav")
        assert samples.size == 50 * 320
        assert abs(measure(samples).freq - 440.0) < FREQ_TOLERANCE_HZ
        # the 3 s prompt ends: silence is found about 3 s after the onset
        end = await b.wait_silence(call=cb, since_t=onset, frames=10)
        assert 2.7 < end - onset < 3.3, end - onset
        saved = await b.save_audio(tmp_path / "all.wav", call=cb, since_t=onset, until_t=end)
        assert abs(saved["frames"] - 150) <= 3, saved
        assert abs(saved["freq"] - 440.0) < FREQ_TOLERANCE_HZ
        done = await a.wait_event("play_done", call=ca, timeout=10)
        assert done["play_id"] >= 1
        await hang_up(a, ca, b, cb)


def make_tls_material(directory: Path) -> dict[str, str]:
    """A throwaway CA and a server/client certificate for 127.0.0.1 (P-256)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "peer self-test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = {
        "ca": directory / "ca.pem",
        "cert": directory / "cert.pem",
        "key": directory / "key.pem",
    }
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {name: str(path) for name, path in paths.items()}


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_stream_transport_call(transport: str, tmp_path: Path) -> None:
    opts: dict[str, Any] = {}
    if transport == "tls":
        opts["tls"] = {**make_tls_material(tmp_path), "verify_server": True}
    async with (
        PjsuaPeer.start(transport, name="a", log_dir=tmp_path, **opts) as a,
        PjsuaPeer.start(
            transport, name="b", user="b", auto_answer=200, log_dir=tmp_path, **opts
        ) as b,
    ):
        assert set(a.ports) == {transport}
        ca, cb = await connected_pair(a, b, b.uri(transport=transport))
        incoming = b.events("incoming")[-1]["msg"]
        assert f"Via: SIP/2.0/{transport.upper()} " in incoming
        await assert_tone(a, b, 1000.0, tx_call=ca, rx_call=cb)
        await hang_up(a, ca, b, cb)


async def test_srtp_sdes_mandatory() -> None:
    async with (
        PjsuaPeer.start("udp", name="a", srtp="mandatory") as a,
        PjsuaPeer.start(
            "udp",
            name="b",
            user="b",
            srtp="mandatory",
            auto_answer=200,
            srtp_cryptos=["AES_CM_128_HMAC_SHA1_80"],
        ) as b,
    ):
        ca, cb = await connected_pair(a, b, b.uri())
        offer = b.events("incoming")[-1]["msg"]
        assert "AES_256_CM_HMAC_SHA1_80" in offer  # a offers everything it has
        ok = [
            e["msg"] for e in a.events("call_state") if (e["msg"] or "").startswith("SIP/2.0 200")
        ]
        assert " AES_CM_128_HMAC_SHA1_80 inline:" in ok[0]  # b accepts its one suite
        assert "AES_256" not in ok[0]
        assert "m=audio" in offer
        assert "RTP/SAVP" in offer
        assert "a=crypto:" in offer
        await assert_tone(a, b, 1000.0, tx_call=ca, rx_call=cb)
        await assert_tone(b, a, 700.0, tx_call=cb, rx_call=ca)
        await hang_up(a, ca, b, cb)


async def test_srtp_mandatory_refused_by_plain_peer() -> None:
    async with (
        PjsuaPeer.start("udp", name="a", srtp="mandatory") as a,
        PjsuaPeer.start("udp", name="b", user="b", srtp="disabled", auto_answer=200) as b,
    ):
        ca = await a.call(b.uri())
        ended = await a.wait_state("DISCONNECTED", call=ca)
        assert ended["code"] in (488, 406), ended


async def test_registers_and_answers_digest_challenges() -> None:
    transport, server = await start_challenging_server("selftest", {"alice": "s3cret"})
    try:
        registrar = f"sip:127.0.0.1:{server.port}"
        async with PjsuaPeer.start(
            "udp",
            name="reg",
            user="alice",
            registrar=registrar,
            password="s3cret",
            realm="selftest",
            reg_expires=120,
        ) as peer:
            reg = await peer.wait_event("reg_state", lambda e: e["code"] >= 200)
            assert reg["code"] == 200, reg
            assert reg["active"], reg
            # a call through the challenging "proxy": 407, then the credentials, then 486
            call = await peer.call(f"sip:bob@127.0.0.1:{server.port}")
            ended = await peer.wait_state("DISCONNECTED", call=call)
            assert ended["code"] == 486, ended
        assert ("REGISTER", "challenged") in server.seen
        assert ("REGISTER", "authorized") in server.seen
        assert server.seen.count(("INVITE", "challenged")) == 1
        assert ("INVITE", "authorized") in server.seen
    finally:
        transport.close()


async def test_wrong_password_is_refused() -> None:
    transport, server = await start_challenging_server("selftest", {"alice": "s3cret"})
    try:
        async with PjsuaPeer.start(
            "udp",
            name="badreg",
            user="alice",
            registrar=f"sip:127.0.0.1:{server.port}",
            password="wrong",
            realm="selftest",
        ) as peer:
            reg = await peer.wait_event("reg_state", lambda e: e["code"] >= 200)
            assert reg["code"] == 403, reg
            assert not reg["active"], reg
        assert ("REGISTER", "bad credentials") in server.seen
    finally:
        transport.close()


@pytest.mark.parametrize(("algorithm", "code"), [("MD5", 407), ("SHA-256", 401)])
async def test_peer_as_challenging_trunk(algorithm: str, code: int) -> None:
    challenge = {"realm": "trunk", "users": {"gw": "pw1"}, "code": code, "algorithm": algorithm}
    async with (
        PjsuaPeer.start("udp", name="gw", user="gw", password="pw1", realm="trunk") as a,
        PjsuaPeer.start("udp", name="bad", user="gw", password="nope", realm="trunk") as bad,
        PjsuaPeer.start("udp", name="trunk", challenge=challenge, auto_answer=200) as t,
    ):
        ca = await a.call(t.uri("+15551230000"))
        first = await t.wait_event("challenged")
        assert first["outcome"] == "challenged"
        incoming = await t.wait_incoming()
        header = "Proxy-Authorization" if code == 407 else "Authorization"
        assert f"{header}: Digest " in incoming["msg"]
        assert f"algorithm={algorithm}" in incoming["msg"]
        await a.wait_state("CONFIRMED", call=ca)
        await a.hangup(ca)
        await t.wait_state("DISCONNECTED", call=incoming["call"])

        cb = await bad.call(t.uri("+15551230000"))
        ended = await bad.wait_state("DISCONNECTED", call=cb)
        assert ended["code"] == code
        outcomes = [e["outcome"] for e in t.events("challenged")]
        assert "bad credentials" in outcomes


async def test_info_dtmf_and_attended_transfer() -> None:
    async with (
        PjsuaPeer.start("udp", name="a", user="a") as a,
        PjsuaPeer.start("udp", name="b", user="b", auto_answer=200) as b,
        PjsuaPeer.start("udp", name="c", user="c", auto_answer=200) as c,
    ):
        a_b, b_a = await connected_pair(a, b, b.uri())
        await a.dtmf("5#", call=a_b, method="info")
        assert await b.wait_dtmf(2, call=b_a) == "5#"
        dtmf = b.events("dtmf")[-1]
        assert dtmf["method"] == "info"

        a_c, c_a = await connected_pair(a, c, c.uri())
        await a.xfer_replaces(call=a_b, target=a_c)
        request = await b.wait_event("transfer_request", call=b_a)
        replaced = await c.wait_event("call_replaced", call=c_a)
        c_b = replaced["new_call"]
        b_c = request["new_call"]
        await b.wait_state("CONFIRMED", call=b_c)
        assert (await a.wait_transfer_final(call=a_b))["code"] == 200
        await c.wait_state("DISCONNECTED", call=c_a)
        await a.wait_state("DISCONNECTED", call=a_c)
        await hang_up(a, a_b, b, b_a)
        await b.wait_media_active(call=b_c)
        await assert_tone(b, c, 1000.0, tx_call=b_c, rx_call=c_b)
        await hang_up(c, c_b, b, b_c)


async def test_early_media_then_answer() -> None:
    async with (
        PjsuaPeer.start("udp", name="a") as a,
        PjsuaPeer.start("udp", name="b", user="b") as b,
    ):
        ca = await a.call(b.uri())
        cb = (await b.wait_incoming())["call"]
        await b.play_tone(600.0, 3.0, call=cb)  # queued before any media exists
        await b.answer(cb, code=183)
        early = await a.wait_state("EARLY", call=ca)
        assert early["code"] == 183
        assert "m=audio" in early["msg"]
        m = await a.measure(call=ca, min_rms=500.0)
        assert abs(m["freq"] - 600.0) < FREQ_TOLERANCE_HZ
        assert (await a.stats(call=ca))["state"] == "EARLY"
        await b.answer(cb, code=200)
        await a.wait_state("CONFIRMED", call=ca)
        await hang_up(b, cb, a, ca)


async def test_tls_client_verifies_the_server_certificate(tmp_path: Path) -> None:
    good = make_tls_material(tmp_path)
    (tmp_path / "other").mkdir()
    other = make_tls_material(tmp_path / "other")
    async with (
        PjsuaPeer.start("tls", name="srv", user="srv", auto_answer=200, tls=good) as srv,
        PjsuaPeer.start("tls", name="ok", tls={"ca": good["ca"], "verify_server": True}) as ok,
        PjsuaPeer.start("tls", name="bad", tls={"ca": other["ca"], "verify_server": True}) as bad,
    ):
        # a client needs no certificate of its own, only the CA to check the server with
        call = await ok.call(srv.uri())
        await ok.wait_state("CONFIRMED", call=call)
        refused = await bad.call(srv.uri())
        ended = await bad.wait_state("DISCONNECTED", call=refused)
        assert ended["code"] == 503
        assert "certificate" in ended["reason"].lower()


async def test_a_crash_before_the_library_is_destroyed_fails_the_test() -> None:
    with pytest.raises(PeerExited, match="exit status -11"):
        async with PjsuaPeer.start("udp", name="crash", crash_at="before_destroy") as peer:
            pass
    # The peer's Python stacks are in its log (faulthandler), so the crash site is known.
    assert "in _selftest_crash" in peer.log_path.read_text(errors="replace")


async def test_a_signal_after_the_library_is_destroyed_is_logged_not_failed(
        caplog: pytest.LogCaptureFixture) -> None:
    async with PjsuaPeer.start("udp", name="late", crash_at="after_destroy") as peer:
        pass
    assert peer.proc.returncode == -11
    assert peer.saw("destroyed")
    assert "signal 11 after libDestroy" in caplog.text
