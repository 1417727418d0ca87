"""Faults with live SIP calls: a real gateway, pjsua2 as the caller, the real Postgres.

* Issue 11 item 1: an INVITE whose Call-ID holds a byte that is not UTF-8, sent from an
  address the ACL refuses, used to kill the audit writer (its refusal is audited); from then
  on nothing was audited and every call failed. Now the next call is answered and audited.
* Issue 11 item 4 / the fault test: Postgres stops for 20 s while calls come in and a dialer
  pass is dialling. Every call is answered and runs (the caller lookup degrades to an unknown
  caller); the records each call produces, the gateway's audit entries, a consent change and
  dial decisions made during the outage all land once the server is back, and both chains
  verify. The real dialer loop (its store, gate and decision recorder on the same records)
  has a call up when the server stops: that call ends during the outage, the loop's passes
  fail and back off without ending it, and after the restart it gates and dials new outreach;
  every gate decision it made is in the audit chain, no outreach is dialled twice, and the
  call that ended in the outage has its outcome (through the records outbox).
"""

from __future__ import annotations

import asyncio
import collections
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import numpy as np
import pytest

from agent import MIGRATIONS as AGENT_MIGRATIONS
from agent.call_setup import patient_for as _patient_for
from agent.scheduling.outreach import CalendarAppointments
from carrier.call import Call
from carrier.dialer.gate import Decision, GateRequest
from carrier.dialer.ports import DialResult, Outcome
from carrier.dialer.records_adapter import RecordsDecisionRecorder
from carrier.dialer.service import Backoff, DialerService
from carrier.dialer.store import OutreachStore
from carrier.gateway import Gateway
from carrier.health import Liveness
from carrier.records.migrate import migrate, plan
from carrier.records.store import CallRecord, Channel, Records, verify_chain
from carrier.settings import Settings, SipSettings, TrunkSettings
from carrier.sip.endpoint import EndpointConfig
from tests.dialer.conftest import START, FakeClock, make_runner
from tests.dialer.test_integration_records import add_appointment
from tests.peers.client import PjsuaPeer, needs_pjsua2

pytestmark = [pytest.mark.pjsua2, needs_pjsua2, pytest.mark.postgres, pytest.mark.slow,
              pytest.mark.timeout(240)]

PHONE = "+15550100123"


def _tone(seconds: float) -> list[np.ndarray]:
    t = np.arange(int(seconds * 16000)) / 16000
    pcm = (8000 * np.sin(2 * np.pi * 600 * t)).astype(np.int16)
    return [pcm[i:i + 320] for i in range(0, len(pcm) - 319, 320)]


def _settings(acl: tuple[str, ...]) -> Settings:
    return Settings(sip=SipSettings(bind_host="127.0.0.1", udp_port=0, tcp_port=0),
                    trunks=(TrunkSettings(name="loop", host="127.0.0.1", region="local",
                                          acl=acl),))


class ScriptApp:
    """A small application on the carrier contract: identify the caller, play, listen,
    audit its steps (queued, like workflow steps), store the call at its end."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self.rt = SimpleNamespace(records=records)
        self.done: dict[str, str | None] = {}
        self.finished = asyncio.Event()

    async def __call__(self, call: Call, ctx: dict[str, Any]) -> None:
        started = datetime.now(UTC)
        patient_id, _ = await _patient_for(self.rt, call, {})
        await self.records.audit("agent", "workflow.enter", ("call", call.call_id), "script",
                                 {"known": patient_id is not None}, queued=True)
        await call.media.play(_tone(0.6))
        heard = 0
        async for frame in call.media.inbound():
            if np.sqrt(np.mean(frame.astype(np.float64) ** 2)) > 500:
                heard += 1
                if heard >= 10:
                    break
        await self.records.audit("agent", "workflow.heard", ("call", call.call_id), "script",
                                 {"frames": heard}, queued=True)
        await call.hangup("done")
        await self.records.record_call(
            CallRecord(call.call_id, "inbound", started, datetime.now(UTC),
                       workflow="script", patient_id=patient_id, outcome="completed"),
            [("agent", "a tone"), ("caller", f"{heard} voiced frames")])
        self.done[call.call_id] = patient_id
        self.finished.set()


class HeldDialer:
    """The dialer's boundary (the gateway's `Dialer`): the first call stays up until
    ``release`` (the test lets it end during the outage); later calls answer at once."""

    def __init__(self) -> None:
        self.dials: list[str] = []
        self.dialling = asyncio.Event()
        self.release = asyncio.Event()
        self.dialled: dict[str, asyncio.Event] = collections.defaultdict(asyncio.Event)

    async def dial(self, request: GateRequest, trunk: str, *, max_call_seconds: int | None,
                   context: Any = None, not_after: Any = None,
                   recheck: Any = None) -> DialResult:
        self.dials.append(request.patient_id)
        self.dialling.set()
        self.dialled[request.patient_id].set()
        if len(self.dials) == 1:
            await self.release.wait()
        return DialResult(Outcome.ANSWERED, trunk=trunk)


class CountingRecorder(RecordsDecisionRecorder):
    """The real recorder (the audit chain, spooled in an outage), counting its decisions."""

    made = 0

    async def record(self, request: GateRequest, decision: Decision, *, outreach_id: int,
                     at: datetime) -> str | None:
        self.made += 1
        return await super().record(request, decision, outreach_id=outreach_id, at=at)


@pytest.fixture
async def cluster_records(make_cluster, tmp_path: Path, test_kek) -> AsyncIterator[Any]:
    cluster = make_cluster()
    conn = await asyncpg.connect(cluster.uri())
    await migrate(conn, plan(AGENT_MIGRATIONS))  # the carrier's tables, then the agent's
    await conn.close()
    records = await Records.open(cluster.uri(), test_kek, tmp_path / "spool",
                                 retry_interval=0.5)
    try:
        yield cluster, records
    finally:
        await records.close()


async def _one_call(phone: PjsuaPeer, gw: Gateway, app: ScriptApp) -> None:
    app.finished.clear()
    handle = await phone.call(f"sip:+15550100100@127.0.0.1:{gw.endpoint.port('UDP')}")
    await phone.wait_state("CONFIRMED", call=handle, timeout=10)
    await phone.play_tone(700, 2.0, call=handle)
    await phone.wait_state("DISCONNECTED", call=handle, timeout=20)
    await asyncio.wait_for(app.finished.wait(), timeout=10)


async def test_hostile_call_id_does_not_stop_call_handling(
    cluster_records: Any, tmp_path: Path
) -> None:
    cluster, records = cluster_records
    app = ScriptApp(records)
    gw = Gateway(_settings(("127.0.0.1/32",)), handler=app, audit=records.audit,
                 endpoint_config=EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None))
    await gw.start()
    try:
        port = gw.endpoint.port("UDP")
        invite = (
            f"INVITE sip:+15550100100@127.0.0.1:{port} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.2:5099;branch=z9hG4bK-hostile\r\n"
            "From: <sip:+15550100999@127.0.0.2>;tag=a1\r\nTo: <sip:+15550100100@127.0.0.1>\r\n"
            "Call-ID: CALLID\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
            "Contact: <sip:x@127.0.0.2:5099>\r\nContent-Length: 0\r\n\r\n"
        ).encode().replace(b"CALLID", b"evil\xff\xfe-id@127.0.0.2")
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.2", 0))  # outside the trunk's ACL: refused and audited
            sock.setblocking(False)
            sock.sendto(invite, ("127.0.0.1", port))
            answer = await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout=5)
        # Refused at the parser (the header is not UTF-8), before the ACL would say 403.
        assert answer.startswith(b"SIP/2.0 400")
        async with PjsuaPeer.start("udp", user=PHONE, log_dir=tmp_path) as phone:
            await _one_call(phone, gw, app)
    finally:
        await gw.close()
    assert len(app.done) == 1
    assert records.health().ok
    assert await records.drain_spool()
    su = await asyncpg.connect(cluster.uri())
    try:
        assert await verify_chain(su, "audit") == []
        # The refusal is on record by source and rule; no byte of the packet is stored.
        refused = await su.fetchrow(
            "SELECT record_id, reason FROM audit_log WHERE action = 'sip.refused'")
        assert (refused["record_id"], refused["reason"]) == ("127.0.0.2", "malformed")
        assert not await su.fetchval(
            "SELECT count(*) FROM audit_log WHERE record_id LIKE '%evil%' OR details LIKE '%evil%'")
        actions = {r["action"] for r in await su.fetch("SELECT action FROM audit_log")}
        assert {"workflow.enter", "workflow.heard"} <= actions
    finally:
        await su.close()


async def test_calls_carry_on_through_a_20_second_database_outage(
    cluster_records: Any, tmp_path: Path
) -> None:
    cluster, records = cluster_records
    pid = await records.add_patient("Testa Patientson", PHONE, actor="t", reason="r")
    app = ScriptApp(records)
    dialer, recorder = HeldDialer(), CountingRecorder(records)
    runner = make_runner(records.pool, FakeClock(), dialer, recorder=recorder)  # type: ignore[arg-type]
    runner.store = OutreachStore(records.pool, records.outbox)  # as `DialerService.build`
    service = DialerService(runner, CalendarAppointments(records.pool),
                            liveness=Liveness("dialer", max_failures=2),
                            backoff=Backoff(base=0.05, cap=0.5))
    await add_appointment(records.pool, "a1", "p1", START + timedelta(hours=2))
    stop_dialer = asyncio.Event()
    gw = Gateway(_settings(("127.0.0.0/8",)), handler=app, audit=records.audit,
                 endpoint_config=EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None))
    await gw.start()
    try:
        async with (PjsuaPeer.start("udp", user=PHONE, log_dir=tmp_path) as phone,
                    asyncio.TaskGroup() as tasks):
            tasks.create_task(service.run(stop_dialer, interval=0.2))
            try:
                await asyncio.wait_for(dialer.dialling.wait(), timeout=30)  # a pass is dialling
                await _one_call(phone, gw, app)  # before: the caller is known
                await asyncio.to_thread(cluster.stop)
                down = time.monotonic()
                dialer.release.set()  # the dialler's call ends while the server is down
                during = 0
                while time.monotonic() - down < 20:  # the outage lasts 20 s of live calls
                    await _one_call(phone, gw, app)
                    during += 1
                    await records.record_dial_decision(f"outreach-{during}", pid, dial=False,
                                                       rule="test.outage")
                    if during == 1:
                        await records.consent_revoke(pid, Channel.VOICE, source="call_voice",
                                                     evidence_ref="outage", actor="agent")
                outage_s = time.monotonic() - down
                failed_passes = service.liveness.failures
                await asyncio.to_thread(cluster.start)
                await _one_call(phone, gw, app)  # after
                await add_appointment(records.pool, "a2", "p2", START + timedelta(hours=2))
                async with asyncio.timeout(60):  # a dial after the restart
                    await dialer.dialled["p2"].wait()
            finally:
                stop_dialer.set()
    finally:
        await gw.close()
    assert outage_s >= 20
    assert failed_passes >= 1  # the loop's passes failed during the outage, and it went on
    assert service.liveness.failures == 0
    assert dialer.dials == ["p1", "p2"]  # the call up at the outage is not dialled again
    assert during >= 3
    calls = list(app.done)
    assert app.done[calls[0]] == str(pid)
    assert all(app.done[c] is None for c in calls[1:-1])  # unknown caller during the outage
    assert await records.drain_spool()
    assert records.health().ok
    for call_id in calls:
        stored = await records.call_record(call_id)
        assert stored is not None
        assert stored.outcome == "completed"
        assert (await records.call_transcript(call_id))[0] == ("agent", "a tone")
    su = await asyncpg.connect(cluster.uri())
    try:
        assert await verify_chain(su, "audit") == []
        assert await verify_chain(su, "consent") == []
        count = "SELECT count(*) FROM audit_log WHERE action = $1"
        assert await su.fetchval(count, "workflow.enter") == len(calls)
        assert await su.fetchval(count, "workflow.heard") == len(calls)
        assert await su.fetchval(count, "patient.lookup_unavailable") == during
        assert recorder.made == 2
        assert await su.fetchval(count, "dial.decision") == during + recorder.made
        assert await su.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'dial.decision' AND actor = 'dialer'"
            " AND reason <> 'test.outage'") == recorder.made
        assert await su.fetchval(count, "consent.revoke") == 1
        assert await su.fetchval("SELECT count(*) FROM call_records") == len(calls)
        # The dialled call that ended in the outage has its outcome (through the outbox).
        dialled = await su.fetch(
            "SELECT a.outcome, o.state, o.outcome AS moved FROM dialer_attempts a JOIN"
            " dialer_outreach o ON o.id = a.outreach_id WHERE o.patient_id = 'p1' AND a.allowed")
        assert [tuple(r) for r in dialled] == [("answered", "done", "answered")]
    finally:
        await su.close()
