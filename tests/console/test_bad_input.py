"""What a careless operator types and a hostile client sends, against the console over real
HTTPS on 127.0.0.1 with a real database: a clear 4xx (a problem document for the API, the
page again with its error for a form), never a 500, and nothing recorded from bad input."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from carrier.console.app import ConsoleContext
from carrier.console.server import client_context
from carrier.records.calls import CallRecord
from carrier.records.operators import Operators
from tests.console.conftest import Clock, StubLive, code_at

pytestmark = pytest.mark.postgres
PHONE = "+15555550123"


@pytest.fixture
def base(served: str) -> str:
    return served


Operator = Callable[[str], Awaitable[tuple[httpx.AsyncClient, str]]]


@pytest.fixture
async def operator(console: ConsoleContext, clock: Clock, base: str
                   ) -> AsyncIterator[Operator]:
    """(client, csrf token) signed in with a new account of that role."""
    clients: list[httpx.AsyncClient] = []

    async def make(role: str) -> tuple[httpx.AsyncClient, str]:
        issued = await Operators(console.records.pool, console.records.keys).add(
            f"bad-{role}", role, now=clock())
        client = httpx.AsyncClient(base_url=base, verify=client_context(console.settings))
        clients.append(client)
        r = await client.post("/api/v1/session", json={
            "name": issued.name, "password": issued.password,
            "totp": code_at(issued, clock())})
        assert r.status_code == 200, r.text
        return client, r.json()["csrf_token"]

    yield make
    for c in clients:
        await c.aclose()


async def _head_only(base: str, path: str, length: int, tls: object) -> bytes:
    """Headers promising ``length`` bytes and no body: the answer must come from them."""
    host, port = base.removeprefix("https://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port), ssl=tls)
    try:
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json"
                     f"\r\nContent-Length: {length}\r\n\r\n".encode())
        await writer.drain()
        async with asyncio.timeout(20):  # a bound on a hang, not a measurement
            return await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()


async def test_an_unsigned_client_cannot_make_the_console_hold_a_large_body(
        console: ConsoleContext, base: str) -> None:
    async with httpx.AsyncClient(base_url=base, verify=client_context(console.settings)) as c:
        r = await c.post("/api/v1/session", json={"name": "x", "password": "p" * 2_000_000})
        assert r.status_code == 413
        assert r.text == "Content Too Large"  # Starlette's body limit answers this itself
        r = await c.post("/login", data={"name": "x", "password": "p" * 2_000_000})
        assert r.status_code == 413
    head = await _head_only(base, "/api/v1/session", 1_000_000_000,
                            client_context(console.settings))
    assert head.startswith(b"HTTP/1.1 413 ")


async def test_a_phone_number_that_does_not_parse_is_a_422_on_every_page(
        console: ConsoleContext, operator: Operator) -> None:
    comp, ccsrf = await operator("compliance")
    sched, scsrf = await operator("scheduler")
    for path in ("/consent", "/consent/dnc"):
        r = await comp.post(path, data={"csrf_token": ccsrf, "phone": "call me maybe"})
        assert r.status_code == 422, (path, r.status_code)
        assert "not a phone number" in r.text
    r = await sched.post("/patients", data={"csrf_token": scsrf, "phone": "abc",
                                            "reason": "scheduling"})
    assert r.status_code == 422
    assert "not a phone number" in r.text
    await console.records.drain_spool()
    assert await console.records.pool.fetchval("SELECT count(*) FROM dnc_org") == 0


async def test_consent_is_recorded_only_for_a_patient_on_record(
        console: ConsoleContext, operator: Operator) -> None:
    await console.records.add_patient("Testa Patientson", PHONE, actor="test", reason="fixture")
    comp, ccsrf = await operator("compliance")
    for verb in ("grant", "revoke"):
        r = await comp.post(f"/consent/{verb}", data={
            "csrf_token": ccsrf, "phone": PHONE, "patient_id": str(uuid.uuid4()),
            "channel": "voice", "kind": "tcpa_express", "evidence_ref": "form-1"})
        assert r.status_code == 404, verb
        assert "no such patient" in r.text.lower()
    await console.records.drain_spool()
    assert await console.records.pool.fetchval("SELECT count(*) FROM consent_ledger") == 0


@pytest.mark.parametrize(("start", "end"), [("0001-01-01", "9999-12-31"),
                                            ("0001-01-03", "")])
async def test_dates_at_the_ends_of_the_calendar_are_refused_plainly(
        console: ConsoleContext, operator: Operator, start: str, end: str) -> None:
    sup, _ = await operator("supervisor")
    comp, ccsrf = await operator("compliance")
    for path in ("/calls", "/calls.csv"):
        r = await sup.get(path, params={"start": start, "end": end or start})
        assert r.status_code == 422, (path, r.status_code)
    r = await sup.get("/calls", params={"end": start})  # the default start: a week before
    assert r.status_code == 422
    r = await comp.post("/audit/export", data={"csrf_token": ccsrf, "start": start,
                                               "end": end or start})
    assert r.status_code == 422


async def test_a_transfer_target_must_be_a_sip_uri_or_a_number(
        console: ConsoleContext, operator: Operator) -> None:
    live = console.live
    assert isinstance(live, StubLive)
    sup, csrf = await operator("supervisor")
    hdr = {"X-CSRF-Token": csrf}
    for bad in ("desk", "sip:", "sip:a@b>;x", "tel:"):
        r = await sup.post("/api/v1/live-calls/call-1/transfer", json={"target": bad},
                           headers=hdr)
        assert r.status_code == 422, bad
    r = await sup.post("/calls/live/call-1/transfer",
                       data={"csrf_token": csrf, "target": "sip:a\r\nX-Evil: 1"})
    assert r.status_code == 303
    assert live.targets == []  # nothing unparseable reached the gateway
    page = await sup.get(r.headers["location"])
    assert "not a SIP address or a phone number" in page.text
    r = await sup.post("/api/v1/live-calls/call-1/transfer",
                       json={"target": "(555) 555-0123"}, headers=hdr)
    assert r.status_code == 200
    r = await sup.post("/calls/live/call-1/transfer",
                       data={"csrf_token": csrf, "target": " sip:desk@clinic.example "})
    assert live.targets == ["tel:+15555550123", "sip:desk@clinic.example"]
    # the notice is one of the page's own sentences, never text from the address bar
    page = await sup.get("/calls/live", params={"done": "Call the help desk at 555-0199"})
    assert "help desk" not in page.text


async def test_head_is_answered_wherever_get_is(console: ConsoleContext, base: str) -> None:
    async with httpx.AsyncClient(base_url=base, verify=client_context(console.settings)) as c:
        for path, status in (("/login", 200), ("/health", 200), ("/api/v1/session", 401),
                             ("/calls", 303), ("/static/console.css", 200)):
            got, head = await c.get(path), await c.head(path)
            assert head.status_code == got.status_code == status, path
            assert head.content == b""
            assert head.headers.get("content-type") == got.headers.get("content-type")
            assert head.headers["x-frame-options"] == "DENY"
        assert (await c.request("OPTIONS", "/api/v1/session")).status_code == 405
        assert "access-control-allow-origin" not in (await c.get(
            "/login", headers={"Origin": "https://elsewhere.example"})).headers
        assert (await c.head("/logout")).status_code == 405  # POST only, HEAD is no way in


async def test_the_campaigns_notice_is_the_page_s_own_words(
        console: ConsoleContext, operator: Operator) -> None:
    await console.campaigns.ensure_campaign("flu-2026", "appointment_reminder")  # type: ignore[union-attr]
    sched, csrf = await operator("scheduler")
    r = await sched.post("/campaigns/flu-2026/pause", data={"csrf_token": csrf})
    assert r.status_code == 303
    page = await sched.get(r.headers["location"])
    assert "Campaign flu-2026 paused." in page.text
    page = await sched.get("/campaigns", params={"done": "Call the help desk at 555-0199"})
    assert "help desk" not in page.text
    page = await sched.get("/campaigns", params={"done": "paused", "campaign": "phish"})
    assert "phish" not in page.text


async def test_a_national_dnc_copy_cannot_be_dated_in_the_future(
        console: ConsoleContext, operator: Operator, clock: Clock) -> None:
    """The gate ages the copy by this date (31 days at most): one dated next year would
    pass as fresh until then."""
    comp, csrf = await operator("compliance")
    tomorrow = (clock() + dt.timedelta(days=1)).date().isoformat()
    r = await comp.post("/api/v1/dnc/national", params={"copy_date": tomorrow},
                        content=b"555,5550100\n", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422
    assert "future" in r.json()["detail"]
    assert await console.records.pool.fetchval("SELECT count(*) FROM dnc_national") == 0
    today = clock().date().isoformat()
    r = await comp.post("/api/v1/dnc/national", params={"copy_date": today},
                        content=b"555,5550100\n", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201


@pytest.mark.parametrize(("field", "value"), [
    ("time_zone", "America/New_Yrok"),  # stored, every call refused 'window.zone_unknown'
    ("time_zone", "../../etc/passwd"),
    ("dob", "2026-03-03"),  # tomorrow, by the console's clock
    ("dob", "1800-01-01"),
    ("name", "   "),
])
async def test_a_patient_with_an_impossible_field_is_not_registered(
        console: ConsoleContext, operator: Operator, field: str, value: str) -> None:
    sched, csrf = await operator("scheduler")
    body = {"name": "Testa Patientson", "phone": "555-555-0123", "dob": "1980-03-05",
            "state": "CA", "time_zone": "America/Los_Angeles", field: value}
    r = await sched.post("/api/v1/patients", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422, r.text
    assert value not in r.text or field == "name"  # the value is not echoed
    assert await console.records.pool.fetchval("SELECT count(*) FROM patients") == 0


XSS = '<script>alert(1)</script>"onmouseover="alert(2)'


async def test_what_patients_and_callers_typed_is_shown_as_text(
        console: ConsoleContext, operator: Operator, clock: Clock) -> None:
    """A guard: a name, a call id and a transcript line carrying markup are escaped on every
    page that shows them (Jinja's autoescape; the CSP forbids inline script as well)."""
    await console.records.add_patient(XSS, PHONE, actor="test", reason="fixture")
    t0 = clock() - dt.timedelta(hours=1)
    await console.records.record_call(CallRecord(
        "x<b>1", "inbound", t0, t0 + dt.timedelta(seconds=20), workflow="intake",
        outcome="completed"), [("caller", XSS)])
    await console.records.drain_spool()
    sched, scsrf = await operator("scheduler")
    comp, csrf = await operator("compliance")
    sup, _ = await operator("supervisor")
    pages = [await sched.post("/patients", data={"csrf_token": scsrf, "phone": PHONE,
                                                 "reason": "scheduling"}),
             await comp.post("/consent", data={"csrf_token": csrf, "phone": PHONE}),
             await sup.get("/calls/x<b>1", params={"reason": "quality review"})]
    for page in pages:
        assert page.status_code == 200, page.url
        assert "<script>alert" not in page.text
        assert '"onmouseover="' not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "x<b>1" not in pages[2].text


async def test_ledger_text_that_holds_phi_is_refused_and_never_kept(
        console: ConsoleContext, operator: Operator) -> None:
    """Consent evidence and an audit reason are kept in clear in append-only ledgers; a
    number or a date of birth typed there used to be stored for good. Now the API and the
    consent page refuse it (422, the text not echoed) and record nothing."""
    pid = await console.records.add_patient("Testa Patientson", PHONE, actor="test",
                                            reason="fixture")
    comp, ccsrf = await operator("compliance")
    comp.headers["X-CSRF-Token"] = ccsrf
    r = await comp.post(f"/api/v1/patients/{pid}/consent/grant", json={
        "channel": "voice", "kind": "tcpa_express", "source": "web_form",
        "evidence": "Testa said yes, dob 1980-02-03"})
    assert r.status_code == 422, r.text
    assert "a date" in r.text
    assert "1980" not in r.text
    r = await comp.get(f"/api/v1/patients/{pid}/consent",
                       params={"reason": "she called from 555 010 0142"})
    assert r.status_code == 422, r.text
    assert "0142" not in r.text
    r = await comp.post("/consent/grant", data={
        "csrf_token": ccsrf, "phone": PHONE, "patient_id": str(pid), "channel": "voice",
        "kind": "tcpa_express", "evidence_ref": "call from +1 555 010 0142"})
    assert r.status_code == 422
    assert "0142" not in r.text
    await console.records.drain_spool()
    assert await console.records.pool.fetchval("SELECT count(*) FROM consent_ledger") == 0
    reasons = await console.records.pool.fetch("SELECT reason FROM audit_log")
    assert not any("0142" in r["reason"] or "1980" in r["reason"] for r in reasons)
