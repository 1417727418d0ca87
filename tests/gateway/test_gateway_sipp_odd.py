"""SIPp (an independent peer) sends the real gateway a SIP-I call in compact and
lower-case headers, then odd and refused requests inside the dialog
(tests/gateway/sipp/uac_odd.xml): each gets its RFC answer, the call keeps its media
through hold (inactive) and a codec change, and it ends by the peer's BYE.

Before this session the INVITE itself got 415 (multipart body), and in the dialog
MESSAGE got 200 and the UPDATE with an unknown Require reached the application."""

from __future__ import annotations

import asyncio
import pathlib
import shutil

import pytest

from carrier.call import Call
from carrier.plugin import CallContext
from tests.gateway.notes import Notes
from tests.gateway.phone import loop_settings, running_gateway

SCENARIO = pathlib.Path(__file__).parent / "sipp" / "uac_odd.xml"

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) not installed"),
]


async def test_sipp_odd_but_legal_call_and_refused_requests_in_its_dialog() -> None:
    notes = Notes()

    async def handler(call: Call, ctx: CallContext) -> None:
        notes["ran"] = True
        await call.ended.wait()
        notes["ended"] = True

    async with running_gateway(loop_settings(), handler) as gw:
        proc = await asyncio.create_subprocess_exec(
            "sipp", f"127.0.0.1:{gw.endpoint.port('UDP')}", "-nostdin", "-timeout", "30s",
            "-sf", str(SCENARIO), "-s", "+15550100200", "-m", "1", "-i", "127.0.0.1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)  # fmt: skip
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode(errors="replace")[-3000:]
        assert await notes.wait("ended", timeout=10) is True
