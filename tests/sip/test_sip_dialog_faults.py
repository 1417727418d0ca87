"""Dialog-level faults of issue 11 on real sockets (127.0.0.1):

* item 5: a caller (SIPp) that never ACKs our 200. The session ends itself 64*T1 after
  the answer with a BYE, and the gateway runs no conversation for it;
* item 10: a BYE forged from another source address (127.0.0.2) that knows the Call-ID
  and both tags is refused with 403 and the call stays up; the real peer's BYE ends it;
* the same class as item 5: a CANCEL right behind the INVITE ends the session while the
  gateway opens the call's media; the gateway closes that media (it used to fail to
  answer, log "call handler failed" and leave the media socket open).
"""

from __future__ import annotations

import asyncio
import pathlib
import shutil
from typing import Any

import pytest

from carrier.gateway import Gateway
from carrier.settings import Settings, SipSettings
from carrier.sip.endpoint import EndpointConfig, SipCall, SipEndpoint
from carrier.sip.events import CallConfirmed, CallEnded
from carrier.sip.message import Response, parse_message
from carrier.sip.sdp import LocalMedia, build_answer, build_offer, parse_sdp
from carrier.sip.session_api import SessionState
from carrier.sip.transaction import Timers
from media.session import MediaSession
from tests.sip.test_sip_endpoint import UdpClient

HERE = pathlib.Path(__file__).parent
FAST = Timers(t1=0.02)  # 64*T1 = 1.28 s: the no-ACK deadline (Timer H) comes quickly
OFFER = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=1)


@pytest.mark.peer
@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) not installed")
async def test_call_never_acked_ends_and_runs_no_conversation(tmp_path: pathlib.Path) -> None:
    conversations: list[str] = []

    async def handler(call: Any, context: dict[str, Any]) -> None:
        conversations.append(call.call_id)  # must never happen: the call was never set up
        await call.ended.wait()

    settings = Settings(data_dir=str(tmp_path / "var"),
                        sip=SipSettings(bind_host="127.0.0.1", udp_port=0, tcp_port=0))
    gateway = Gateway(settings, handler=handler, endpoint_config=EndpointConfig(
        udp=("127.0.0.1", 0), tcp=None, tls=None, timers=FAST))  # fmt: skip
    await gateway.start()
    try:
        port = gateway.endpoint.port("UDP")
        # SIPp is an outside process: its own -timeout bounds the wait.
        proc = await asyncio.create_subprocess_exec(
            "sipp", f"127.0.0.1:{port}", "-nostdin", "-timeout", "20s", "-s", "clinic",
            "-sf", str(HERE / "sipp" / "uac_no_ack.xml"), "-m", "1", "-t", "u1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        # SIPp passes only if the 200 was retransmitted and a BYE ended the dialog.
        assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
        ua = gateway.endpoint.ua
        assert ua is not None
        assert ua.active_calls == 0
        assert gateway.stats.inbound == 0
        assert gateway.stats.active == 0
        assert conversations == []
    finally:
        await gateway.close()


async def answering(call: SipCall, confirmed: asyncio.Event, ended: asyncio.Future[str]) -> None:
    answer, _ = build_answer(parse_sdp(call.request.body), LocalMedia("127.0.0.1", 30000,
                             srtp="off"), session_id=2, version=1)  # fmt: skip
    call.answer(answer.serialize())
    await call.wait_for(CallConfirmed, timeout=5)
    confirmed.set()
    ended.set_result((await call.wait_for(CallEnded, timeout=30)).reason)


async def test_bye_forged_from_another_address_is_refused() -> None:
    config = EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None)
    inbound: list[SipCall] = []
    ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    confirmed = asyncio.Event()

    async def on_call(call: SipCall) -> None:
        inbound.append(call)
        await answering(call, confirmed, ended)

    async with SipEndpoint(config, on_call=on_call) as callee, \
            SipEndpoint(config) as caller:  # fmt: skip
        port = callee.port("UDP")
        outgoing = caller.invite(f"sip:clinic@127.0.0.1:{port}", sdp=OFFER.serialize())
        await outgoing.wait_answer(timeout=5)
        (call,) = inbound
        await asyncio.wait_for(confirmed.wait(), timeout=5)
        dialog = outgoing.session.dialog
        assert dialog is not None
        # The forger knows the Call-ID and both tags but sends from 127.0.0.2.
        forged = dialog.new_request("BYE")
        forged.prepend("Via", "SIP/2.0/UDP 127.0.0.2:5099;branch=z9hG4bKforged1;rport")
        forged.add("Max-Forwards", "70")
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(
            UdpClient, local_addr=("127.0.0.2", 0)
        )
        try:
            transport.sendto(forged.serialize(), ("127.0.0.1", port))
            async with asyncio.timeout(5):
                reply = parse_message(await client.queue.get())
        finally:
            transport.close()
        assert isinstance(reply, Response)
        assert reply.status == 403
        assert call.state is SessionState.CONFIRMED
        assert not ended.done()  # no CallEnded
        # The real peer can still hang up.
        outgoing.hangup()
        assert await asyncio.wait_for(ended, timeout=5) == "bye-received"



RACE = ("{method} sip:clinic@127.0.0.1:{port} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKrace1;rport\r\nMax-Forwards: 70\r\n"
        "From: <sip:p@127.0.0.1>;tag=r1\r\nTo: <sip:clinic@127.0.0.1>\r\nCall-ID: race-1\r\n"
        "CSeq: 1 {method}\r\nContact: <sip:p@127.0.0.1:{me}>\r\n{extra}"
        "Content-Length: {length}\r\n\r\n{body}")
RACE_SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


class CountedMedia(MediaSession):
    """The gateway's MediaSession, counting how many were opened and closed."""

    opened = 0
    closed = 0

    async def start(self) -> None:
        await super().start()
        CountedMedia.opened += 1
        # Opening media may no longer wait on the loop at all (media's UdpPort binds its
        # sockets synchronously): give the loop turns here so the CANCEL, already in the
        # socket, is read while the gateway is still setting up, as on a busy machine.
        for _ in range(10):
            await asyncio.sleep(0)

    async def close(self) -> None:
        CountedMedia.closed += 1
        await super().close()


async def test_cancel_while_the_gateway_sets_up_media_leaves_nothing_open(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CANCEL right behind the INVITE ends the session while the gateway opens the
    call's media; the gateway must close that media instead of failing to answer."""
    settings = Settings(data_dir=str(tmp_path / "var"),
                        sip=SipSettings(bind_host="127.0.0.1", udp_port=0, tcp_port=0))
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        UdpClient, local_addr=("127.0.0.1", 0)
    )
    monkeypatch.setattr("carrier.media_leg.MediaSession", CountedMedia)  # the one media leg
    CountedMedia.opened = CountedMedia.closed = 0
    gateway = Gateway(settings, endpoint_config=EndpointConfig(
        udp=("127.0.0.1", 0), tcp=None, tls=None))  # fmt: skip
    await gateway.start()
    try:
        port, me = gateway.endpoint.port("UDP"), transport.get_extra_info("sockname")[1]
        invite = RACE.format(method="INVITE", port=port, me=me, length=len(RACE_SDP),
                             extra="Content-Type: application/sdp\r\n", body=RACE_SDP)
        cancel = RACE.format(method="CANCEL", port=port, me=me, length=0, extra="", body="")
        transport.sendto(invite.encode(), ("127.0.0.1", port))
        transport.sendto(cancel.encode(), ("127.0.0.1", port))
        finals: set[int] = set()
        async with asyncio.timeout(5):
            while finals != {200, 487}:  # 200 to the CANCEL, 487 to the INVITE
                reply = parse_message(await client.queue.get())
                assert isinstance(reply, Response)
                if reply.status >= 200:
                    finals.add(reply.status)
        while gateway.endpoint._tasks:  # the call handler's task ends by itself
            await asyncio.wait(set(gateway.endpoint._tasks), timeout=5)
    finally:
        await gateway.close()
        transport.close()
    assert not [r for r in caplog.records if "handler failed" in r.getMessage()]
    assert CountedMedia.opened == 1  # the CANCEL did come while the media was set up
    assert CountedMedia.closed == 1
