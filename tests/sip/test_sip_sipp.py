"""Interop with SIPp (Debian sip-tester) against our endpoint on 127.0.0.1."""

from __future__ import annotations

import asyncio
import pathlib
import shutil
import sys

import pytest

from carrier.sip.endpoint import EndpointConfig, SipEndpoint

ROOT = pathlib.Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from sip_answer_server import make_handler  # noqa: E402

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) not installed"),
]


async def run_sipp(port: int, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "sipp", f"127.0.0.1:{port}", "-nostdin", "-timeout", "30s", "-s", "gateway", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")[-2000:]


@pytest.mark.parametrize("transport", ["u1", "t1"])
@pytest.mark.parametrize(
    "scenario",
    [
        ("-sf", str(ROOT / "bench" / "sipp" / "options.xml")),
        ("-sn", "uac"),
        ("-sf", str(ROOT / "bench" / "sipp" / "uac_hold.xml")),
    ],
    ids=["options", "uac", "uac_hold"],
)
async def test_sipp_scenarios_pass(scenario: tuple[str, str], transport: str) -> None:
    config = EndpointConfig(udp=("127.0.0.1", 0), tcp=("127.0.0.1", 0), tls=None)
    async with SipEndpoint(config, on_call=make_handler("127.0.0.1")) as ep:
        port = ep.port("UDP" if transport == "u1" else "TCP")
        code, out = await run_sipp(port, *scenario, "-m", "5", "-r", "20", "-t", transport)
    assert code == 0, out
