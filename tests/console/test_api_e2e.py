"""The API as an operator's script uses it: real HTTPS on 127.0.0.1 (uvicorn, the loopback
certificate made at first start), signed in per role with password and TOTP, against a
real database. The exported audit bundle is accepted by ``carrier audit verify``."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from carrier.console.app import ConsoleContext
from carrier.console.server import client_context, console_tls_files, serve_console
from carrier.records.anchor import Anchor
from carrier.records.cdr import CallDetail
from carrier.records.operators import Operators
from carrier.records.store import CallRecord
from tests.console.conftest import Clock, code_at

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def base(console: ConsoleContext) -> AsyncIterator[str]:
    tls = console_tls_files(console.settings)
    assert tls is not None
    assert tls[0].parent == Path(console.settings.data_dir) / "console" / "tls"
    async with serve_console(console, "127.0.0.1", 0, tls=tls) as port:
        yield f"https://127.0.0.1:{port}"


@pytest.fixture
async def operator(console: ConsoleContext, clock: Clock, base: str
                   ) -> AsyncIterator[Callable[[str], Awaitable[httpx.AsyncClient]]]:
    """A client signed in with a new account of that role (closed at the end)."""
    clients: list[httpx.AsyncClient] = []

    async def make(role: str) -> httpx.AsyncClient:
        issued = await Operators(console.records.pool, console.records.keys).add(
            f"e2e-{role}", role, now=clock())
        client = httpx.AsyncClient(base_url=base, verify=client_context(console.settings))
        clients.append(client)
        r = await client.post("/api/v1/session", json={
            "name": issued.name, "password": issued.password,
            "totp": code_at(issued, clock())})
        assert r.status_code == 200, r.text
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return client

    yield make
    for c in clients:
        await c.aclose()


async def test_records_work_through_the_api(console: ConsoleContext, operator) -> None:  # type: ignore[no-untyped-def]
    sched = await operator("scheduler")
    comp = await operator("compliance")
    r = await sched.post("/api/v1/patients", json={
        "name": "Testa Apison", "phone": "(555) 555-0177", "dob": "1970-01-01",
        "state": "CA", "time_zone": "America/Los_Angeles"})
    assert r.status_code == 201
    pid = r.json()["id"]
    got = await sched.get(f"/api/v1/patients/{pid}", params={"reason": "reschedule"})
    assert got.json()["name"] == "Testa Apison"
    assert got.json()["phone"] == "+15555550177"
    found = await sched.post("/api/v1/patients/search",
                             json={"phone": "+15555550177", "reason": "caller"})
    assert [p["id"] for p in found.json()] == [pid]
    # a number never travels in a URL (proxies' access logs, browser history): no GET
    # search by phone is served
    old = await sched.get("/api/v1/patients", params={"phone": "+15555550177",
                                                      "reason": "caller"})
    assert old.status_code == 405
    assert (await comp.get("/api/v1/dnc", params={"phone": "+12025550101"})).status_code == 405
    grant = await comp.post(f"/api/v1/patients/{pid}/consent/grant", json={
        "channel": "voice", "kind": "tcpa_express_written", "source": "web_form",
        "evidence": "form-7"})
    assert grant.status_code == 201
    revoke = await comp.post(f"/api/v1/patients/{pid}/consent/revoke", json={
        "channel": "voice", "source": "call", "evidence": "call-9"})
    assert revoke.status_code == 201
    shown = (await comp.get(f"/api/v1/patients/{pid}/consent",
                            params={"reason": "complaint"})).json()
    assert [e["event"] for e in shown["history"]] == ["grant", "revoke"]
    assert shown["history"][0]["actor"] == "console:e2e-compliance"
    assert not any(n["granted"] for n in shown["now"])
    dnc = await comp.post("/api/v1/dnc", json={"phone": "+15555550177", "source": "call"})
    assert dnc.json()["org"] is True
    imported = await comp.post("/api/v1/dnc/national", content=b"2025550101\nbad\n",
                               headers={"content-type": "text/plain"},
                               params={"copy_date": "2026-03-01"})
    assert imported.json() == {"imported": 1, "bad_lines": 1, "first_bad_lines": [2]}
    assert (await comp.post("/api/v1/dnc/status", json={"phone": "+12025550101"})
            ).json()["national"] is True
    policy = (await comp.get("/api/v1/retention")).json()
    assert policy["audit_days"] >= 2190
    # Every PHI view is an audit entry naming who, what and why.
    rows = await console.records.pool.fetch(
        "SELECT actor, action, record_id, reason FROM audit_log"
        " WHERE action IN ('patient.read', 'patient.lookup', 'consent.read') ORDER BY seq")
    assert [(r["actor"], r["action"], r["record_id"], r["reason"]) for r in rows] == [
        ("console:e2e-scheduler", "patient.read", pid, "reschedule"),
        ("console:e2e-scheduler", "patient.lookup", pid, "caller"),
        ("console:e2e-compliance", "consent.read", pid, "complaint")]


async def test_audit_export_is_accepted_by_carrier_audit_verify(
        console: ConsoleContext, operator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    aud = await operator("auditor")
    span = {"start": "2020-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}
    r = await aud.post("/api/v1/audit/export", json=span)
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    bundle = tmp_path / "export.bundle"
    bundle.write_bytes(r.content)
    ok = (await aud.post("/api/v1/audit/verify", content=r.content)).json()
    assert ok["ok"] is True
    assert ok["rows"] >= 1
    bad = (await aud.post("/api/v1/audit/verify",
                          content=r.content.replace(b"console", b"consolE", 1))).json()
    assert bad["ok"] is False
    assert (await aud.get("/api/v1/audit/chain")).json() == {"ok": True, "problems": []}
    key = Anchor.from_settings(console.settings).public_key
    pub = tmp_path / "audit.pub.pem"
    pub.write_bytes(key.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "carrier.cli", "audit", "verify", str(bundle),
                         "--public-key", str(pub)],
        capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout


async def test_campaigns_live_calls_and_call_records(
        console: ConsoleContext, operator) -> None:  # type: ignore[no-untyped-def]
    await console.campaigns.ensure_campaign("reminders", "appointment_reminder")
    started = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    await console.records.record_call(  # the transcript is kept with the call's record
        CallRecord("c-100", "outbound", started, started + dt.timedelta(seconds=42),
                   workflow="appointment_reminder", outcome="confirmed", verstat="=x"),
        [("agent", "Hello [NAME]"), ("caller", "yes")])
    for call_id, minute, status, cause, outcome in (
            ("c-100", 0, 200, "local_bye", "confirmed"),
            ("c-101", 1, 486, "busy", "no_answer"),
            ("c-102", 2, 200, "remote_bye", "=HYPERLINK(1)")):
        at = started + dt.timedelta(minutes=minute)
        await console.records.record_cdr(CallDetail(  # the gateway's CDR of each call
            call_id, "outbound", at, at + dt.timedelta(seconds=45), cause,
            from_number="+15550100100", to_number=f"+1555010012{minute}",
            answered_at=at + dt.timedelta(seconds=3) if status == 200 else None,
            sip_status=status, workflow="appointment_reminder", outcome=outcome,
            verstat="=x"))
    await console.records.drain_spool()
    sched = await operator("scheduler")
    sup = await operator("supervisor")
    paused = await sched.post("/api/v1/campaigns/reminders/pause")
    assert paused.json()["paused"] is True
    assert (await sched.get("/api/v1/campaigns")).json()[0]["campaign"] == "reminders"
    assert (await sched.post("/api/v1/campaigns/reminders/start")).json()["paused"] is False
    live = (await sup.get("/api/v1/live-calls")).json()
    assert [c["caller"] for c in live] == ["+1******0101"]
    moved = await sup.post("/api/v1/live-calls/call-1/transfer",
                           json={"target": "sip:desk@127.0.0.1"})
    assert moved.json() == {"ok": True}
    assert (await sup.post("/api/v1/live-calls/call-1/hangup")).json() == {"ok": True}
    assert (await sup.get("/api/v1/live-calls")).json() == []
    rows = (await sup.get("/api/v1/calls", params={
        "since": "2026-03-01T00:00:00Z", "outcome": "confirmed"})).json()
    assert [(r["call_id"], r["duration_s"], r["sip_status"], r["hangup_cause"],
             r["from_number"], r["to_number"]) for r in rows] == [
        ("c-100", 42.0, 200, "local_bye", "***0100", "***0120")]
    assert (await sup.get("/api/v1/calls", params={"outcome": "failed"})).json() == []

    async def ids(**params: str) -> list[str]:
        return [r["call_id"] for r in (await sup.get("/api/v1/calls", params=params)).json()]

    assert await ids() == ["c-102", "c-101", "c-100"]  # newest first
    assert await ids(sip_status="486") == ["c-101"]
    assert await ids(hangup_cause="remote_bye") == ["c-102"]
    assert await ids(number="+1 555 010 0121") == ["c-101"]  # the last four digits
    assert await ids(direction="inbound") == []
    assert await ids(since="2026-03-01T09:01:00Z", until="2026-03-01T09:02:00Z") == ["c-101"]
    assert await ids(limit="1", offset="1") == ["c-101"]
    assert (await sup.get("/api/v1/calls", params={"hangup_cause": "nope"})).status_code == 422
    text = (await sup.get("/api/v1/calls.csv")).text
    table = list(csv.DictReader(io.StringIO(text)))
    assert [row["call_id"] for row in table] == ["c-102", "c-101", "c-100"]
    assert table[2]["verstat"] == "'=x"  # never a spreadsheet formula
    assert table[0]["outcome"] == "'=HYPERLINK(1)"
    assert {row["from_number"] for row in table} == {"***0100"}  # numbers masked
    assert "5550100" not in text
    turns = (await sup.get("/api/v1/calls/c-100/transcript",
                           params={"reason": "quality review"})).json()
    assert turns[0] == {"speaker": "agent", "text": "Hello [NAME]"}
    actions = [r["action"] for r in await console.records.pool.fetch(
        "SELECT action FROM audit_log WHERE actor LIKE 'console:%' ORDER BY seq")]
    for action in ("campaign.pause", "campaign.start", "call.transfer", "call.hangup",
                   "calls.search", "calls.export", "call.transcript.read"):
        assert action in actions
    # every search is a view of call records (the console page audits each list), not
    # only a search by number
    targets = [(r["record_id"], r["reason"]) for r in await console.records.pool.fetch(
        "SELECT record_id, reason FROM audit_log WHERE action = 'calls.search' ORDER BY seq")]
    assert ("search", "call search") in targets


async def test_a_patient_address_with_an_unknown_time_zone_is_refused(
        console: ConsoleContext, operator) -> None:  # type: ignore[no-untyped-def]
    """A misspelt time zone was stored as given; every later dial to the patient was then
    refused (``window.zone_unknown``) and retried for ever, and no one was told. Now the
    registration is refused with 422 naming the field, and nothing is stored."""
    sched = await operator("scheduler")
    for body in ({"time_zone": "America/New_Yrok"}, {"state": "CA", "time_zone": "Mars/Olympus"}):
        r = await sched.post("/api/v1/patients", json={
            "name": "Testa Apison", "phone": "(555) 555-0178", **body})
        assert r.status_code == 422, r.text
        assert "time_zone" in r.text
    found = await sched.post("/api/v1/patients/search",
                             json={"phone": "+15555550178", "reason": "t"})
    assert found.json() == []
