"""The campaign's attacks on the real gateway with the real audit log (embedded Postgres):
the non-UTF-8 Call-ID INVITE that stopped the audit writer, from a refused source and
from the trunk, then 2,000 refused INVITEs; the audit writer keeps working, a legitimate
call still connects, and the refusals are a handful of counted rows in a chain that
verifies (issue 11 items 1 and 6).

Before the fixes: the Call-ID reached the audit row undecoded and the writer died; each
refused INVITE wrote its own six-year row (2,000 rows here).
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from carrier.gateway import Gateway
from carrier.records.store import Records
from carrier.settings import Settings, SipSettings, TrunkSettings
from carrier.sip.endpoint import EndpointConfig, SipEndpoint
from carrier.sip.events import CallEnded
from carrier.sip.sdp import LocalMedia, build_offer
from tests.sip.test_sip_refusal import Flooder, invite

pytestmark = pytest.mark.postgres
HOSTILE = Path(__file__).parents[1] / "vectors" / "sip" / "hostile"
OFFER = build_offer(LocalMedia("127.0.0.2", 20000, srtp="off"), session_id=1, version=1)


async def send_and_probe(transport: asyncio.DatagramTransport, flood: Flooder, port: int,
                         datagrams: list[bytes], probe: int) -> None:  # fmt: skip
    for data in datagrams:
        transport.sendto(data, ("127.0.0.1", port))
    # handled in order on one socket: the probe's 200 follows everything before it
    transport.sendto(invite(probe, method="OPTIONS").replace(b"flood-", b"probe-"),
                     ("127.0.0.1", port))  # fmt: skip
    async with asyncio.timeout(10):
        await flood.probes.get()


async def test_hostile_call_id_and_refusal_flood_leave_the_audit_log_whole(
    records: Records, tmp_path: Path
) -> None:
    trunk = TrunkSettings(name="t1", host="127.0.0.2", region="local", acl=("127.0.0.2/32",))
    settings = Settings(data_dir=str(tmp_path / "var"),
                        sip=SipSettings(bind_host="127.0.0.1", udp_port=0, tcp_port=0),
                        trunks=(trunk,))  # fmt: skip
    gw = Gateway(settings, audit=records.audit,
                 endpoint_config=EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None))
    hostile = (HOSTILE / "callid_latin1.dat").read_bytes()
    loop = asyncio.get_running_loop()
    await gw.start()
    try:
        port = gw.endpoint.port("UDP")
        stranger, strange = await loop.create_datagram_endpoint(
            Flooder, local_addr=("127.0.0.1", 0), family=socket.AF_INET)
        insider, inside = await loop.create_datagram_endpoint(
            Flooder, local_addr=("127.0.0.2", 0), family=socket.AF_INET)
        try:
            await send_and_probe(stranger, strange, port, [hostile], 0)
            await send_and_probe(insider, inside, port, [hostile], 1000)
            for chunk in range(20):
                batch = [invite(n) for n in range(chunk * 100, chunk * 100 + 100)]
                await send_and_probe(stranger, strange, port, batch, chunk + 1)
        finally:
            stranger.close()
            insider.close()
        assert inside.statuses == [400]  # from the trunk: refused at the parser
        assert strange.statuses[0] == 400  # from a stranger: the same, rate-limited
        assert 1 <= strange.statuses.count(403) <= 10
        async with SipEndpoint(EndpointConfig(udp=("127.0.0.2", 0), tcp=None, tls=None)) as ep:
            call = ep.invite(f"sip:+15550100200@127.0.0.1:{port}", sdp=OFFER.serialize())
            assert (await call.wait_answer(timeout=10)).response.status == 200
            call.hangup()
            await call.wait_for(CallEnded, timeout=10)
    finally:
        await gw.close()
    # The writer is alive: a new entry lands after all of that.
    await records.audit("test", "probe.after", ("test", 1), "still writing", {})
    assert await records.drain_spool()
    async with records.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT record_type, record_id, reason, details FROM audit_log"
            " WHERE action = 'sip.refused' ORDER BY seq")
        after = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'probe.after'")
        stored = await conn.fetch("SELECT record_id, details FROM audit_log")
    assert after == 1
    acl = [r for r in rows if r["reason"] == "acl"]
    assert 1 <= len(acl) <= 3
    assert {(r["record_type"], r["record_id"]) for r in rows} == {("source", "127.0.0.1")}
    assert sum(json.loads(r["details"])["count"] for r in acl) == 2000
    # the undecodable datagram from the stranger: counted, nothing of it stored
    (malformed,) = [json.loads(r["details"]) for r in rows if r["reason"] == "malformed"]
    assert (malformed["status"], malformed["count"]) == (400, 1)
    assert not any("caf" in r["record_id"] or "caf" in r["details"] for r in stored)
    assert await records.verify_chain("audit") == []
