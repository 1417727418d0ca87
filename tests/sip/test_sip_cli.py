"""`carrier call` against a local endpoint acting as the trunk."""

from __future__ import annotations

from carrier.settings import TrunkSettings
from carrier.sip.cli import place_call
from carrier.sip.endpoint import EndpointConfig, SipCall, SipEndpoint
from carrier.sip.events import CallConfirmed
from carrier.sip.sdp import LocalMedia, build_answer, parse_sdp

LOCAL = EndpointConfig(udp=("127.0.0.1", 0), tcp=("127.0.0.1", 0), tls=None)


async def answer(call: SipCall) -> None:
    media = LocalMedia("127.0.0.1", 39998, srtp="off")
    sdp, _ = build_answer(parse_sdp(call.request.body), media, session_id=3, version=1)
    call.answer(sdp.serialize())
    await call.wait_for(CallConfirmed, timeout=5)


async def refuse(call: SipCall) -> None:
    call.reject(486)


def trunk(port: int, transport: str = "udp") -> TrunkSettings:
    return TrunkSettings(name="t", host="127.0.0.1", region="local", port=port,
                         transport=transport)  # type: ignore[arg-type]  # fmt: skip


async def test_call_command_connects_and_reports(capsys) -> None:  # type: ignore[no-untyped-def]
    async with SipEndpoint(LOCAL, on_call=answer) as trunk_ep:
        code = await place_call(trunk(trunk_ep.port("TCP"), "tcp"), "+15550001111", "+15550002222",
                                "127.0.0.1", timeout=5)  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "answered: 200 PCMU" in out
    assert "media: sent" in out


async def test_call_command_fails_nonzero_on_busy(capsys) -> None:  # type: ignore[no-untyped-def]
    async with SipEndpoint(LOCAL, on_call=refuse) as trunk_ep:
        code = await place_call(trunk(trunk_ep.port("UDP")), "+15550001111", None, "127.0.0.1",
                                timeout=5)  # fmt: skip
    assert code == 1
    assert "call failed: 486" in capsys.readouterr().out
