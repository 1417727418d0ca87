"""Every call leaves exactly one call detail record, however it ends (issue 15, "Call
records"), with real SIP peers on 127.0.0.1 and the embedded Postgres:

* pjsua2 answers an outbound call (we hang up), is busy (486), lets it ring past our
  ring timeout (we CANCEL: 487), and calls in and hangs up (its BYE);
* SIPp calls in and never ACKs our 200 (Timer H: we send BYE), calls in offering only
  G.729 (488), and calls from outside every trunk's ACL (403, a refusal summary);
* a dial without the gate's clearance is refused before anything is sent (403).
Before this change none of these wrote a row (only the agent's handled calls had one).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import pathlib
import shutil
import uuid
from collections.abc import AsyncIterator

import pytest

from carrier.call import Call, Clearance, DialFailure, DialRequest
from carrier.gateway import Gateway
from carrier.plugin import CallContext, CallOutcome, OutcomeKind
from carrier.records.cdr import CallDetail, CdrQuery
from carrier.records.store import Records
from carrier.settings import Settings, SipSettings, TrunkSettings
from carrier.sip.endpoint import EndpointConfig
from carrier.sip.transaction import Timers
from tests.peers.client import PjsuaPeer, needs_pjsua2

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(180)]
HERE = pathlib.Path(__file__).parent
NO_ACK = HERE.parent / "sip" / "sipp" / "uac_no_ack.xml"
REFUSED = HERE / "sipp" / "uac_refused.xml"
needs_sipp = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp not installed")


def settings_for(port: int, acl: tuple[str, ...] = ("127.0.0.0/8",)) -> Settings:
    trunk = TrunkSettings(name="t1", host="127.0.0.1", port=port, region="local", acl=acl)
    return Settings(sip=SipSettings(bind_host="127.0.0.1", udp_port=0, tcp_port=0),
                    trunks=(trunk,))


class CdrWritten:
    """The records' CDR sink, telling when the gateway has handed one over: the row is
    durable then (in Postgres, or in the outbox's spool until ``drain_spool``), so a test
    awaits it instead of polling the table."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self.details: asyncio.Queue[CallDetail] = asyncio.Queue()

    async def __call__(self, detail: CallDetail) -> None:
        await self.records.record_cdr(detail)
        self.details.put_nowait(detail)

    async def next(self, *, within_s: float) -> CallDetail:
        return await asyncio.wait_for(self.details.get(), within_s)


@contextlib.asynccontextmanager
async def gateway(records: Records, settings: Settings, *, timers: Timers | None = None,
                  cdr: CdrWritten | None = None) -> AsyncIterator[Gateway]:
    cfg = EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None,
                         **({"timers": timers} if timers else {}))
    gw = Gateway(settings, handler=None, endpoint_config=cfg,
                 cdr=cdr or records.record_cdr)
    await gw.start()
    try:
        yield gw
    finally:
        await gw.close()


async def only_cdr(records: Records, call_id: str) -> CallDetail:
    await records.drain_spool()
    rows = [d for d in await records.search_calls(CdrQuery(limit=1000)) if d.call_id == call_id]
    assert len(rows) == 1, rows
    return rows[0]


def request(trunk: str = "t1", **kw: object) -> DialRequest:
    base: dict[str, object] = {
        "to": "+15550100123", "from_number": "+15550100100", "trunk": trunk,
        "origid": str(uuid.uuid4()), "clearance": Clearance("allowed"),
        "gate_ref": "gate-entry-1", "purpose": "appointment_reminder"}
    base.update(kw)
    return DialRequest(**base)  # type: ignore[arg-type]


@pytest.mark.pjsua2
@needs_pjsua2
async def test_outbound_answered_busy_and_unanswered_each_leave_one_cdr(
        records: Records, tmp_path: pathlib.Path) -> None:
    async with (PjsuaPeer.start("udp", user="patient", auto_answer=200,
                                log_dir=tmp_path) as phone,
                gateway(records, settings_for(phone.ports["udp"])) as gw):
        call = await gw.dial(request())
        assert isinstance(call, Call)
        running = asyncio.create_task(gw.run_outbound(call, {}))
        await phone.wait_media_active(timeout=10)
        await phone.play_tone(800, 1.0)
        await call.hangup("done")
        await phone.wait_state("DISCONNECTED", timeout=10)
        await asyncio.wait_for(running, timeout=10)

        await phone.set_auto_answer(486)
        busy = await gw.dial(request())
        assert isinstance(busy, DialFailure)
        busy_id = phone.events("incoming")[-1]["sip_call_id"]

        await phone.set_auto_answer(180)  # rings, nobody answers
        unanswered = await gw.dial(request(ring_timeout_s=1.0))
        assert isinstance(unanswered, DialFailure)
        ring_id = phone.events("incoming")[-1]["sip_call_id"]

    answered = await only_cdr(records, call.call_id)
    assert (answered.direction, answered.sip_status, answered.hangup_cause) == (
        "outbound", 200, "local_bye")
    assert answered.answered_at is not None
    assert answered.ended_at >= answered.answered_at
    assert (answered.to_number, answered.from_number, answered.trunk) == (
        "***0123", "***0100", "t1")
    assert answered.codec in ("PCMU", "PCMA")
    assert answered.packets_lost is not None
    assert answered.jitter_ms is not None
    assert answered.gate_ref == "gate-entry-1"
    busy_cdr = await only_cdr(records, busy_id)
    assert (busy_cdr.sip_status, busy_cdr.hangup_cause, busy_cdr.answered_at) == (
        486, "busy", None)
    ring_cdr = await only_cdr(records, ring_id)
    assert (ring_cdr.sip_status, ring_cdr.hangup_cause) == (487, "no_answer")


@pytest.mark.pjsua2
@needs_pjsua2
async def test_a_failed_transfer_and_the_length_limit_are_in_the_cdr(
        records: Records, tmp_path: pathlib.Path) -> None:
    async def refer_then_give_up(call: Call, context: CallContext) -> CallOutcome:
        ok = await call.transfer("sip:+15550100199@127.0.0.1:9", {"summary": "billing"})
        assert not ok  # the phone refuses the REFER
        await call.hangup("transfer_failed")
        return CallOutcome(call.call_id, OutcomeKind.TRANSFER_FAILED, workflow="escalation")

    async with (PjsuaPeer.start("udp", user="patient", auto_answer=200, accept_transfer=False,
                                log_dir=tmp_path) as phone,
                gateway(records, settings_for(phone.ports["udp"])) as gw):
        gw.handler = refer_then_give_up
        failed = await gw.dial(request())
        assert isinstance(failed, Call)
        await gw.run_outbound(failed, {})
        gw.handler = None
        limited = await gw.dial(request(max_duration_s=1.0))
        assert isinstance(limited, Call)
        await gw.run_outbound(limited, {})  # the carrier ends it at its limit
    cdr = await only_cdr(records, failed.call_id)
    assert (cdr.outcome, cdr.workflow, cdr.hangup_cause) == (
        "transfer_failed", "escalation", "local_bye")
    assert cdr.transfer_target == "sip:***0199@127.0.0.1:9"
    cdr = await only_cdr(records, limited.call_id)
    assert (cdr.hangup_cause, cdr.outcome, cdr.sip_status) == ("length_limit", "length_limit",
                                                               200)


@pytest.mark.pjsua2
@needs_pjsua2
async def test_inbound_answered_then_the_caller_hangs_up(
        records: Records, tmp_path: pathlib.Path) -> None:
    written = CdrWritten(records)
    async with (gateway(records, settings_for(9), cdr=written) as gw,
                PjsuaPeer.start("udp", user="+15550100124", log_dir=tmp_path) as phone):
        handle = await phone.call(f"sip:+15550100100@127.0.0.1:{gw.endpoint.port('UDP')}")
        await phone.wait_state("CONFIRMED", call=handle, timeout=10)
        await phone.hangup(handle)
        await phone.wait_state("DISCONNECTED", call=handle, timeout=10)
        await written.next(within_s=5)  # the gateway ends the call on the peer's BYE
        await records.drain_spool()
        rows = await records.search_calls(CdrQuery(direction="inbound"))
    assert len(rows) == 1, rows
    cdr = await only_cdr(records, rows[0].call_id)
    assert (cdr.direction, cdr.sip_status, cdr.hangup_cause) == ("inbound", 200, "remote_bye")
    assert (cdr.from_number, cdr.to_number) == ("***0124", "***0100")
    assert cdr.verstat == "No-TN-Validation"


async def sipp(port: int, scenario: pathlib.Path, tmp: pathlib.Path) -> str:
    """Run one SIPp call; returns its Call-ID (SIPp is an outside process: its own
    -timeout bounds the wait)."""
    call_id = f"sipp-{uuid.uuid4().hex[:12]}"
    proc = await asyncio.create_subprocess_exec(
        "sipp", f"127.0.0.1:{port}", "-nostdin", "-timeout", "20s", "-s", "+15550100100",
        "-sf", str(scenario), "-m", "1", "-t", "u1", "-cid_str", call_id,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    return call_id


@pytest.mark.peer
@needs_sipp
async def test_inbound_never_acked_refused_and_outside_the_acl(
        records: Records, tmp_path: pathlib.Path) -> None:
    fast = Timers(t1=0.02)  # 64*T1 = 1.28 s: the no-ACK deadline (Timer H) comes quickly
    async with gateway(records, settings_for(9), timers=fast) as gw:
        port = gw.endpoint.port("UDP")
        unacked = await sipp(port, NO_ACK, tmp_path)
        refused = await sipp(port, REFUSED, tmp_path)
    cdr = await only_cdr(records, unacked)
    assert (cdr.sip_status, cdr.hangup_cause, cdr.direction) == (200, "ack_timeout", "inbound")
    assert cdr.answered_at is None  # no dialog was ever confirmed
    cdr = await only_cdr(records, refused)
    assert (cdr.sip_status, cdr.hangup_cause) == (488, "refused")
    assert cdr.from_number == "***0177"

    outside = dataclasses.replace(settings_for(9, acl=("10.0.0.0/8",)))
    async with gateway(records, outside) as gw:
        await sipp(gw.endpoint.port("UDP"), REFUSED, tmp_path)
    await records.drain_spool()
    rows = await records.search_calls(CdrQuery(sip_status=403, hangup_cause="refused"))
    assert len(rows) == 1, rows  # the ledger's summary: source, rule, count
    assert rows[0].attempts == 1
    assert rows[0].outcome
    assert rows[0].outcome.startswith("refused.")


async def test_a_dial_without_clearance_leaves_a_cdr_and_sends_nothing(
        records: Records) -> None:
    async with gateway(records, settings_for(9)) as gw:
        req = request(clearance=None)
        refused = await gw.dial(req)
        assert isinstance(refused, DialFailure)
        assert refused.code == 403
        assert gw.endpoint.ua is not None
        assert gw.endpoint.ua.active_calls == 0
    cdr = await only_cdr(records, req.origid)
    assert (cdr.sip_status, cdr.hangup_cause, cdr.gate_ref) == (403, "gate_refused",
                                                                "gate-entry-1")
