"""STIR/SHAKEN through the gateway, end to end with pjsua2 on 127.0.0.1.

Outbound: the INVITE the pjsua2 phone receives carries a ``shaken`` Identity that
our verifier (fetching the certificate over HTTPS from the dev repository) and,
when installed, Debian's independent ``secsipidx`` both accept. Inbound: a call
from pjsua2 with a valid Identity reaches the handler as passed; a stale one is
rejected with 403 on a trunk whose policy is ``reject``, and continues with
``No``-passed verstat on a ``continue`` trunk. Every outcome is audited.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from carrier.call import Call, Clearance, DialRequest
from carrier.gateway import Gateway
from carrier.settings import Settings, SipSettings, StirSettings, TrunkSettings
from carrier.sip.endpoint import EndpointConfig
from carrier.stir_setup import StirRuntime, build_stir
from tests.gateway.notes import Notes
from tests.peers.client import PjsuaPeer, needs_pjsua2

pytestmark = [pytest.mark.pjsua2, needs_pjsua2, pytest.mark.slow]
SECSIPIDX = shutil.which("secsipidx")


def identity_headers(msg: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^Identity:\s*(.+)$", msg, re.MULTILINE)]


class Audit:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, dict[str, Any]]] = []

    async def __call__(self, actor: str, action: str, record: tuple[str, object], reason: str,
                       details: Any) -> None:
        self.rows.append((action, reason, dict(details)))


def settings_for(tmp: Path, trunk: TrunkSettings) -> Settings:
    return Settings(data_dir=str(tmp / "var"),
                    sip=SipSettings(bind_host="127.0.0.1", udp_port=0, tcp_port=0),
                    trunks=(trunk,), stir=StirSettings(own_numbers=("+15550100100",)))


async def start_gateway(settings: Settings, audit: Audit, handler: Any = None
                        ) -> tuple[Gateway, StirRuntime]:
    stir = await build_stir(settings)
    assert stir is not None
    gw = Gateway(settings, handler=handler, audit=audit, stir=stir.context,
                 endpoint_config=EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None))
    await gw.start()
    return gw, stir


async def test_outbound_invite_carries_verifiable_identity(tmp_path: Path) -> None:
    audit = Audit()
    async with PjsuaPeer.start("udp", user="patient", auto_answer=200,
                               log_dir=tmp_path) as phone:
        trunk = TrunkSettings(name="t1", host="127.0.0.1", port=phone.ports["udp"],
                              region="local", acl=("127.0.0.0/8",))
        settings = settings_for(tmp_path, trunk)
        gw, stir = await start_gateway(settings, audit)
        try:
            origid = str(uuid.uuid4())
            call = await gw.dial(DialRequest(to="+15550100123", from_number="+15550100100",
                                             trunk="t1", origid=origid,
                                             clearance=Clearance("allowed")))
            assert isinstance(call, Call)
            msg = phone.events("incoming")[-1]["msg"]
            headers = identity_headers(msg)
            # shaken plus rcd is not configured here: exactly one Identity.
            assert len(headers) == 1
            assert "ppt=shaken" in headers[0]
            ctx = stir.context
            result = await _verify(ctx, headers)
            assert result.ok, result
            assert result.attest == "A"
            assert result.origid == origid
            if SECSIPIDX:
                path = tmp_path / "identity.txt"
                path.write_text(headers[0])
                sp = Path(settings.data_dir) / "stir" / "sp.pem"
                done = await asyncio.to_thread(
                    subprocess.run,
                    [SECSIPIDX, "-check", "-fidentity", str(path), "-fpubkey", str(sp),
                     "-expire", "60"], capture_output=True, text=True, timeout=30, check=False)
                assert done.returncode == 0, done.stdout + done.stderr
            await call.hangup("done")
        finally:
            await gw.close()
            await stir.close()
    assert any(a == "stir.sign" and r == "A" for a, r, _ in audit.rows)


async def _verify(ctx: Any, headers: list[str]) -> Any:
    from stir_shaken.aio import verify_fetching  # noqa: PLC0415

    return await verify_fetching(ctx.verifier, ctx.fetcher, headers, "+15550100100",
                                 "+15550100123", now=time.time())


@pytest.mark.parametrize(("policy", "age_s", "expect"),
                         [("continue", 0, "passed"), ("reject", 3600, 403),
                          ("continue", 3600, "failed")])
async def test_inbound_identity_verified_and_policy_applied(
        tmp_path: Path, policy: str, age_s: int, expect: Any) -> None:
    audit = Audit()
    seen = Notes()

    async def handler(call: Call, ctx: dict[str, Any]) -> None:
        seen["caller"] = call.caller
        await asyncio.wait_for(call.ended.wait(), timeout=10)

    trunk = TrunkSettings(name="t1", host="127.0.0.1", region="local", acl=("127.0.0.0/8",),
                          stir_inbound_policy=policy)  # type: ignore[arg-type]
    settings = settings_for(tmp_path, trunk)
    gw, stir = await start_gateway(settings, audit, handler)
    try:
        ident = stir.context.signer.sign("+15550100124", "+15550100100", "A",
                                         str(uuid.uuid4()), time.time() - age_s)
        async with PjsuaPeer.start("udp", user="+15550100124", log_dir=tmp_path) as phone:
            handle = await phone.call(f"sip:+15550100100@127.0.0.1:{gw.endpoint.port('UDP')}",
                                      headers={"Identity": ident.format()})
            if isinstance(expect, int):
                ev = await phone.wait_state("DISCONNECTED", call=handle, timeout=10)
                assert ev["code"] == expect
            else:
                await phone.wait_state("CONFIRMED", call=handle, timeout=10)
                await phone.hangup(handle)
                await seen.wait("caller", timeout=10)
                assert seen["caller"].stir_status == expect
                verstat = ("TN-Validation-Passed" if expect == "passed"
                           else "TN-Validation-Failed")
                assert seen["caller"].verstat == verstat
    finally:
        await gw.close()
        await stir.close()
    verifies = [r for r in audit.rows if r[0] == "stir.verify"]
    assert verifies
    if age_s:
        assert verifies[0][2]["sip_code"] == 403
