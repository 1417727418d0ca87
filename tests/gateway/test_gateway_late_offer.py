"""An INVITE without an offer (delayed offer, RFC 3261 13.2.1 / RFC 3264 sec 5): the
gateway puts its offer in the 200 OK and takes the answer from the ACK; with no usable
answer in the ACK the call is ended by BYE at once and the handler never runs.

Before: every INVITE without SDP (sent by trunks and PBXs configured for delayed offer)
was refused 400 "missing v=0", a legal call lost.

A raw UDP peer on 127.0.0.1 plays the trunk, since our own endpoint cannot put an answer
in an ACK; the gateway's RTP lands on a probe socket named by that answer.
"""

from __future__ import annotations

import asyncio
import pathlib
import shutil

import pytest

from carrier.call import Call
from carrier.plugin import CallContext
from carrier.sip.message import Request, Response, parse_message
from carrier.sip.sdp import LocalMedia, build_answer, parse_sdp
from tests.gateway.notes import Notes
from tests.gateway.phone import loop_settings, running_gateway
from tests.gateway.rtp_probe import Probe, open_probe, open_rtp_pair

SIPP_LATE = pathlib.Path(__file__).parent / "sipp" / "uac_late_offer.xml"


def invite(tag: str, port: int) -> bytes:
    return (
        f"INVITE sip:+15550100200@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{{me}};branch=z9hG4bK-{tag};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:+15550100100@127.0.0.1>;tag=f-{tag}\r\n"
        "To: <sip:+15550100200@127.0.0.1>\r\n"
        f"Call-ID: late-{tag}@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
        "Contact: <sip:+15550100100@127.0.0.1:{me}>\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def ack_for(ok: Response, me: int, body: bytes) -> bytes:
    req = Request(method="ACK", uri=ok.contacts[0].uri)
    req.add("Via", f"SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-ack{ok.to.tag}")
    req.add("Max-Forwards", "70")
    for name in ("From", "To", "Call-ID"):
        req.add(name, ok.get(name) or "")
    req.add("CSeq", f"{ok.cseq.seq} ACK")
    if body:
        req.add("Content-Type", "application/sdp")
    req.body = body
    return req.serialize()


def messages(sip: Probe) -> list[Request | Response]:
    return [parse_message(data) for _, _, data in sip.got]


async def final_to_invite(sip: Probe) -> Response:
    def found() -> bool:
        return any(isinstance(m, Response) and m.status >= 200 for m in messages(sip))

    await sip.wait(found, timeout=10)
    return next(m for m in messages(sip) if isinstance(m, Response) and m.status >= 200)


async def test_an_invite_without_an_offer_gets_ours_and_the_ack_answer_carries_the_audio(
) -> None:  # fmt: skip
    notes = Notes()

    async def handler(call: Call, ctx: CallContext) -> None:
        notes["ran"] = True
        await call.ended.wait()

    sip = await open_probe()
    rtp, rtcp = await open_rtp_pair()
    try:
        async with running_gateway(loop_settings(), handler) as gw:
            port, me = gw.endpoint.port("UDP"), sip.addr[1]
            sip.send(invite("ok", port).replace(b"{me}", str(me).encode()), ("127.0.0.1", port))
            ok = await final_to_invite(sip)
            assert ok.status == 200
            assert ok.content_type == "application/sdp"
            offer = parse_sdp(ok.body)  # an offer: ours, with the codecs we take
            answer, _ = build_answer(offer, LocalMedia("127.0.0.1", rtp.addr[1], srtp="off"),
                                     session_id=9, version=1)  # fmt: skip
            sip.send(ack_for(ok, me, answer.serialize()), ("127.0.0.1", port))
            assert await notes.wait("ran", timeout=10) is True
            # the gateway's audio goes where the ACK's answer said
            await rtp.wait(lambda: len(rtp.got) >= 3, timeout=10)
    finally:
        sip.close()
        rtp.close()
        rtcp.close()


async def test_an_ack_without_an_answer_ends_the_call_by_bye_before_the_handler() -> None:
    ran: list[bool] = []

    async def handler(call: Call, ctx: CallContext) -> None:
        ran.append(True)

    sip = await open_probe()
    try:
        async with running_gateway(loop_settings(), handler) as gw:
            port, me = gw.endpoint.port("UDP"), sip.addr[1]
            for tag, body in (("none", b""), ("bad", b"v=0\r\nnot sdp\r\n")):
                data = invite(tag, port).replace(b"{me}", str(me).encode())
                sip.got.clear()
                sip.send(data, ("127.0.0.1", port))
                ok = await final_to_invite(sip)
                assert ok.status == 200
                sip.send(ack_for(ok, me, body), ("127.0.0.1", port))

                def bye() -> bool:
                    return any(isinstance(m, Request) and m.method == "BYE"
                               for m in messages(sip))  # fmt: skip

                await sip.wait(bye, timeout=10)
        assert gw.stats.active == 0  # the gateway closed with no call left, as elsewhere
        assert ran == []
    finally:
        sip.close()


def in_dialog(ok: Response, me: int, method: str, seq: int, branch: str,
              body: bytes = b"") -> bytes:  # fmt: skip
    req = Request(method=method, uri=ok.contacts[0].uri)
    req.add("Via", f"SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-{branch}")
    req.add("Max-Forwards", "70")
    for name in ("From", "To", "Call-ID"):
        req.add(name, ok.get(name) or "")
    req.add("CSeq", f"{seq} {method}")
    req.add("Contact", f"<sip:+15550100100@127.0.0.1:{me}>")
    if body:
        req.add("Content-Type", "application/sdp")
    req.body = body
    return req.serialize()


async def test_a_reinvite_without_an_offer_moves_our_audio_where_the_ack_answer_says() -> None:
    """A PBX re-routing media sends a re-INVITE without SDP and answers our offer in the
    ACK (RFC 3261 14.2). Before: our old answer went back as the 'offer' and the ACK's
    answer was never read, so our audio kept going to the old address."""
    notes = Notes()

    async def handler(call: Call, ctx: CallContext) -> None:
        notes["ran"] = True
        await call.ended.wait()

    sip = await open_probe()
    old_rtp, old_rtcp = await open_rtp_pair()
    new_rtp, new_rtcp = await open_rtp_pair()
    try:
        async with running_gateway(loop_settings(), handler) as gw:
            port, me = gw.endpoint.port("UDP"), sip.addr[1]
            sip.send(invite("rr", port).replace(b"{me}", str(me).encode()), ("127.0.0.1", port))
            ok = await final_to_invite(sip)
            answer, _ = build_answer(parse_sdp(ok.body), LocalMedia("127.0.0.1", old_rtp.addr[1],
                                     srtp="off"), session_id=9, version=1)  # fmt: skip
            sip.send(ack_for(ok, me, answer.serialize()), ("127.0.0.1", port))
            await notes.wait("ran", timeout=10)
            await old_rtp.wait(lambda: len(old_rtp.got) >= 2, timeout=10)
            sip.got.clear()
            sip.send(in_dialog(ok, me, "INVITE", 2, "reinv"), ("127.0.0.1", port))
            re_ok = await final_to_invite(sip)
            assert re_ok.status == 200
            moved, _ = build_answer(parse_sdp(re_ok.body), LocalMedia(
                "127.0.0.1", new_rtp.addr[1], srtp="off"), session_id=9, version=2)
            sip.send(ack_for(re_ok, me, moved.serialize()), ("127.0.0.1", port))
            await new_rtp.wait(lambda: len(new_rtp.got) >= 3, timeout=10)
    finally:
        for probe in (sip, old_rtp, old_rtcp, new_rtp, new_rtcp):
            probe.close()


@pytest.mark.peer
@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) not installed")
async def test_sipp_delayed_offer_caller_gets_an_offer_and_its_ack_answer_is_taken() -> None:
    """The same with SIPp, an independent peer: it checks that our 200 carries m=audio."""
    notes = Notes()

    async def handler(call: Call, ctx: CallContext) -> None:
        notes["ran"] = True
        await call.ended.wait()
        notes["ended"] = True

    async with running_gateway(loop_settings(), handler) as gw:
        proc = await asyncio.create_subprocess_exec(
            "sipp", f"127.0.0.1:{gw.endpoint.port('UDP')}", "-nostdin", "-timeout", "30s",
            "-sf", str(SIPP_LATE), "-s", "+15550100200", "-m", "1", "-i", "127.0.0.1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)  # fmt: skip
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
        assert await notes.wait("ended", timeout=10) is True
