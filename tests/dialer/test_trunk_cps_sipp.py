"""Issue 11 item 8: a trunk's calls-per-second limit applies to its inbound INVITEs.

SIPp places INVITEs from the trunk's network at 30 calls/s against a trunk limit of 10;
before the fix the gateway's inbound policy never got the trunk's limit (300/300 calls
admitted). Now the excess is answered 503 (rule ``calls-per-second``) and about ten a
second (plus one second's burst) get through.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Mapping
from typing import Any

import pytest

from carrier.gateway import Gateway
from carrier.settings import Settings, SipSettings, TrunkSettings

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) not installed"),
]

CALLS, RATE, LIMIT = 150, 30, 10


async def test_trunk_cps_limit_answers_the_excess_with_503() -> None:
    trunk = TrunkSettings(name="carrier", host="127.0.0.1", port=5999, region="local",
                          acl=("127.0.0.0/8",), calls_per_second=LIMIT,
                          max_concurrent_calls=1000)
    settings = Settings(sip=SipSettings(bind_host="127.0.0.1", udp_port=0, tcp_port=0,
                                        tls_port=0, max_calls_per_second=1000,
                                        max_concurrent_calls=1000),
                        trunks=(trunk,))
    refused: list[str] = []

    async def audit(actor: str, action: str, record: tuple[str, object], reason: str,
                    details: Mapping[str, Any]) -> None:
        if action == "sip.refused" and details.get("status") == 503:
            refused.extend([reason] * details["count"])  # one row per source and window

    async with Gateway(settings, audit=audit) as gw:
        port = gw.endpoint.port("UDP")
        # Bounded wait on the outside SIPp process (10 s of calls at most).
        proc = await asyncio.create_subprocess_exec(
            "sipp", f"127.0.0.1:{port}", "-sn", "uac", "-nostdin", "-timeout", "40s",
            "-m", str(CALLS), "-r", str(RATE), "-d", "100", "-t", "u1", "-s", "+15550100100",
            "-i", "127.0.0.1", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        admitted = gw.stats.inbound
    text = out.decode(errors="replace")[-1500:]
    seconds = CALLS / RATE
    assert set(refused) == {"calls-per-second"}, text
    # One second's burst plus LIMIT a second over the run, with a little slack for timing.
    assert admitted <= LIMIT * (seconds + 1) + 5, (admitted, text)
    assert len(refused) >= CALLS - LIMIT * (seconds + 1) - 5, (len(refused), text)
    assert admitted + len(refused) == CALLS, text
