"""The console's HTML pages against the app on a real database (issue 15): roles on every
page, the forms' effects (in the records and the audit log), CSV export, the schedule
import refusing a file with bad rows, the audit bundle round trip, the figures' charts.
The browser tests (tests/console/browser) drive the same pages in Chromium."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
import threading
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from agent.scheduling.feed_apply import FeedCalendar
from agent.scheduling.outreach import CalendarAppointments
from carrier.console.app import ConsoleContext
from carrier.console.pages import patients as patients_page
from carrier.console.pages.common import PAGES
from carrier.feeds import csv_import
from carrier.records.calls import CallRecord
from carrier.records.cdr import CallDetail
from carrier.records.export import verify_bundle
from carrier.settings import Settings, TrunkSettings
from carrier.settings_feeds import FeedsSettings
from tests.console.conftest import Clock, SignedIn, _client

pytestmark = pytest.mark.postgres
SignIn = Callable[..., Awaitable[SignedIn]]
PHONE = "+15555550123"


def form(s: SignedIn, **fields: str) -> dict[str, str]:
    return {"csrf_token": s.csrf, **fields}


async def actions(console: ConsoleContext, prefix: str) -> list[str]:
    await console.records.drain_spool()
    rows = await console.records.pool.fetch(
        "SELECT action FROM audit_log WHERE action LIKE $1 ORDER BY seq", prefix + "%")
    return [r["action"] for r in rows]


async def test_every_page_for_its_roles_and_refused_for_the_others(
        console: ConsoleContext, signin: SignIn) -> None:
    anonymous = _client(console)
    async with anonymous:
        r = await anonymous.get("/calls/live")
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=/calls/live"
    for role in ("admin", "compliance", "scheduler", "supervisor", "auditor"):
        s = await signin(role)
        home = await s.client.get("/")
        assert home.status_code == 303
        for page in PAGES.values():
            r = await s.client.get(page.path)
            allowed = role in {x.value for x in page.roles}
            assert r.status_code == (200 if allowed else 403), (role, page.path, r.text[:200])
            if not allowed:
                assert 'id="forbidden"' in r.text
            else:  # the navigation offers exactly the pages the role may open
                nav = re.search(r"<nav>(.*?)</nav>", r.text, re.S)
                assert nav is not None
                links = set(re.findall(r'href="(/[^"]*)"', nav.group(1)))
                assert links == {p.path for p in PAGES.values()
                                 if role in {x.value for x in p.roles}}


async def test_live_calls_masked_and_a_supervisor_hangs_up(
        console: ConsoleContext, signin: SignIn) -> None:
    s = await signin("supervisor")
    rows = await s.client.get("/calls/live/rows", headers={"X-Carrier-Background": "1"})
    assert "+1******0101" in rows.text
    assert "TN-Validation-Passed" in rows.text
    r = await s.client.post("/calls/live/call-1/hangup", data=form(s))
    assert r.status_code == 303
    assert "hung+up" in r.headers["location"]
    assert console.live.actions == [("hangup", "call-1")]  # type: ignore[union-attr]
    assert "No calls up" in (await s.client.get("/calls/live/rows")).text
    # without the CSRF token nothing happens
    r = await s.client.post("/calls/live/call-1/transfer", data={"target": "sip:desk@x"})
    assert r.status_code == 403
    assert await actions(console, "call.") == ["call.hangup"]


async def test_a_supervisor_transfers_a_live_call(console: ConsoleContext,
                                                  signin: SignIn) -> None:
    s = await signin("supervisor")
    r = await s.client.post("/calls/live/call-1/transfer", data=form(s, target="sip:desk@x"))
    assert r.status_code == 303
    assert "transferred" in r.headers["location"]
    r = await s.client.post("/calls/live/nope/transfer", data=form(s, target="sip:desk@x"))
    assert "transfer+failed" in r.headers["location"]
    assert console.live.actions == [("transfer", "call-1"), ("transfer", "nope")]  # type: ignore[union-attr]
    assert await actions(console, "call.") == ["call.transfer_request"] * 2


async def test_call_records_filter_and_csv_export(
        console: ConsoleContext, signin: SignIn, clock: Clock) -> None:
    t0 = clock() - dt.timedelta(hours=2)
    for i, outcome in enumerate(("confirmed", "abandoned", "=HYPERLINK(1)")):
        start = t0 + dt.timedelta(minutes=i)
        # The gateway's CDR of the call: the records page reads these only.
        await console.records.record_cdr(CallDetail(
            f"c{i}", "outbound", start, start + dt.timedelta(seconds=42), "local_bye",
            from_number="+15550100100", to_number=f"+1555010020{i}",
            answered_at=start, sip_status=200, workflow="appointment_reminder",
            outcome=outcome, verstat="TN-Validation-Passed"))
    await console.records.drain_spool()
    s = await signin("supervisor")
    r = await s.client.get("/calls", params={"outcome": "confirmed", "sip_status": "200"})
    assert r.status_code == 200
    assert "c0" in r.text
    assert ">c1<" not in r.text
    assert 'id="unused-filters"' not in r.text  # SIP status is recorded (CDRs): applied
    r = await s.client.get("/calls", params={"outcome": "confirmed", "sip_status": "486"})
    assert ">c0<" not in r.text
    r = await s.client.get("/calls", params={"number": "+1 555 010 0201"},
                           follow_redirects=True)  # to ?number=0201 (test_calls_number_in_url)
    assert ">c1<" in r.text  # the number's last four digits
    assert ">c0<" not in r.text
    assert "***0201" in r.text
    r = await s.client.get("/calls", params={"hangup_cause": "busy"})
    assert ">c1<" not in r.text
    r = await s.client.get("/calls.csv")
    assert r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["call_id"] for row in table} == {"c0", "c1", "c2"}
    assert {row["duration_s"] for row in table} == {"42.0"}
    assert next(row for row in table if row["call_id"] == "c2")["outcome"] == "'=HYPERLINK(1)"
    assert {row["to_number"] for row in table} == {"***0200", "***0201", "***0202"}
    assert "5550100" not in r.text  # numbers masked
    assert await actions(console, "call_records.") == ["call_records.view",
                                                       "call_records.view",
                                                       "call_records.view",
                                                       "call_records.view",
                                                       "call_records.export"]


async def test_campaign_refusals_and_pause_resume(console: ConsoleContext,
                                                  signin: SignIn) -> None:
    await console.campaigns.ensure_campaign("flu-2026", "appointment_reminder")  # type: ignore[union-attr]
    s = await signin("scheduler")
    page = await s.client.get("/campaigns")
    assert 'id="campaign-flu-2026"' in page.text
    r = await s.client.post("/campaigns/flu-2026/pause", data=form(s))
    assert r.status_code == 303
    paused = await console.records.pool.fetchval(
        "SELECT paused FROM dialer_campaigns WHERE id = 'flu-2026'")
    assert paused is True
    page = await s.client.get("/campaigns")
    assert 'id="paused-flu-2026"' in page.text
    assert 'class="resume"' in page.text
    await s.client.post("/campaigns/flu-2026/resume", data=form(s))
    assert await console.records.pool.fetchval(
        "SELECT paused FROM dialer_campaigns WHERE id = 'flu-2026'") is False
    assert (await s.client.post("/campaigns/nope/pause", data=form(s))).status_code == 404


async def test_consent_grant_revoke_and_dnc_by_number(console: ConsoleContext,
                                                      signin: SignIn) -> None:
    pid = await console.records.add_patient("Testa Patientson", PHONE, actor="test",
                                            reason="fixture")
    s = await signin("compliance")
    r = await s.client.post("/consent", data=form(s, phone=PHONE))
    assert "Testa Patientson" in r.text
    assert "No consent recorded" in r.text
    assert PHONE not in str(r.url)  # the number never travels in a URL
    r = await s.client.post("/consent/grant", data=form(
        s, phone=PHONE, patient_id=str(pid), channel="voice", kind="tcpa_express_written",
        evidence_ref="form-123"))
    assert "Consent grant recorded" in r.text
    assert "form-123" in r.text
    assert await console.records.has_consent(PHONE, "voice")
    r = await s.client.post("/consent/revoke", data=form(
        s, phone=PHONE, patient_id=str(pid), channel="voice", kind="all",
        evidence_ref="call-9"))
    assert not await console.records.has_consent(PHONE, "voice")
    assert r.text.count('<td>grant</td>') == 1
    assert r.text.count('<td>revoke</td>') == 1
    r = await s.client.post("/consent/grant", data=form(
        s, phone=PHONE, patient_id=str(pid), channel="fax", kind="tcpa_express",
        evidence_ref="x"))
    assert r.status_code == 422
    await s.client.post("/consent/dnc", data=form(s, phone=PHONE))
    await console.records.drain_spool()
    assert (await console.records.dnc_status(PHONE)).org
    # every lookup shows the patient and their ledger: each one audited, who, what and why
    views = await who_what_why(console, "patient.lookup", "consent.read")
    assert len(views) == 2 * 5  # the lookup, two changes, the refused one, the DNC add
    assert set(views) == {("console:op-compliance", "patient.lookup", "consent lookup"),
                          ("console:op-compliance", "consent.read", "consent lookup")}


async def test_audit_export_downloads_a_bundle_that_verifies(
        console: ConsoleContext, signin: SignIn, clock: Clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    await console.records.audit("test", "config.change", ("trunk", "t1"), "fixture", {},
                                at=clock() - dt.timedelta(days=1))
    s = await signin("auditor")
    day = clock().date()
    r = await s.client.post("/audit/export", data=form(
        s, start=(day - dt.timedelta(days=2)).isoformat(), end=day.isoformat()))
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    bundle = tmp_path / "bundle.jsonl"
    bundle.write_bytes(r.content)
    assert verify_bundle(bundle, None).count >= 1
    ok = await s.client.post("/audit/verify", data=form(s),
                             files={"bundle": ("b.jsonl", r.content)})
    assert ok.status_code == 200
    assert "Valid." in ok.text
    tampered = r.content.replace(b"config.change", b"config.chang3")
    bad = await s.client.post("/audit/verify", data=form(s),
                              files={"bundle": ("b.jsonl", tampered)})
    assert bad.status_code == 422
    assert "Invalid." in bad.text
    assert "audit.export" in await actions(console, "audit.")


async def who_what_why(console: ConsoleContext, *actions: str) -> list[tuple[str, str, str]]:
    await console.records.drain_spool()
    rows = await console.records.pool.fetch(
        "SELECT actor, action, reason FROM audit_log WHERE action = ANY($1::text[])"
        " ORDER BY seq", list(actions))
    return [(r["actor"], r["action"], r["reason"]) for r in rows]


async def _counts(console: ConsoleContext) -> tuple[int, int]:
    pool = console.records.pool
    return (await pool.fetchval("SELECT count(*) FROM patients"),
            await pool.fetchval("SELECT count(*) FROM sched_appointments"))


def _upload(s: SignedIn, text: str) -> Awaitable[httpx.Response]:
    return s.client.post("/patients/import", data=form(s),
                         files={"file": ("s.csv", text.encode(), "text/csv")})


async def test_schedule_import_with_a_bad_row_loads_nothing(console: ConsoleContext,
                                                            signin: SignIn) -> None:
    """The console takes the format of ``carrier schedule import`` (docs/feeds.md)."""
    s = await signin("scheduler")
    head = "mrn,first_name,last_name,phone,dob,appointment_id,start\n"
    ann = "M1,Ann,Synthetic,+15555550131,1980-01-01,A1,2026-04-01T09:00\n"
    r = await _upload(s, head + ann + "M2,Bo,Synthetic,12,1981-02-02,A2,2026-04-01T10:00\n")
    assert r.status_code == 422
    assert re.findall(r'<tr class="problem"><td>(\d+)</td><td>(\w+)</td>', r.text) == [
        ("3", "phone")]
    assert "nothing was loaded" in r.text
    assert "+1555555013" not in r.text  # no value echoed
    assert await _counts(console) == (0, 0)
    # a good file, with no schedule feed in this console: refused whole
    r = await _upload(s, head + ann)
    assert r.status_code == 422
    assert "no schedule feed" in r.text
    assert await _counts(console) == (0, 0)
    # with the application's schedule feed (as carrier serve gives it), a good file loads,
    # its times without an offset in the feeds.timezone setting
    console.application = SimpleNamespace(schedule_feed=FeedCalendar(console.records))
    console.settings = dataclasses.replace(
        console.settings, feeds=FeedsSettings(timezone="America/Los_Angeles"))
    r = await _upload(s, head + ann)
    assert r.status_code == 200, r.text
    assert "1 new patient" in r.text
    found = await console.records.find_patients_by_phone("+15555550131", actor="t", reason="t")
    assert [p.name for p in found] == ["Ann Synthetic"]
    assert await _counts(console) == (1, 1)
    starts = await console.records.pool.fetchval("SELECT start_at FROM sched_appointments")
    assert starts == dt.datetime(2026, 4, 1, 16, 0, tzinfo=dt.UTC)  # 09:00 PDT
    # the same file again changes nothing (keyed by MRN and the file's digest and line)
    r = await _upload(s, head + ann)
    assert r.status_code == 200
    assert "0 new patient" in r.text
    assert "1 already imported" in r.text
    assert await _counts(console) == (1, 1)
    await console.records.drain_spool()
    who = await console.records.pool.fetch(
        "SELECT actor, action FROM audit_log WHERE action LIKE 'schedule.import%'"
        " OR action = 'feed.patient.create' ORDER BY seq")
    assert [(w["actor"], w["action"]) for w in who] == [
        ("console:op-scheduler", "schedule.import_refused"),
        ("console:op-scheduler", "schedule.import_refused"),
        ("feed", "feed.patient.create"),
        ("console:op-scheduler", "schedule.import"),
        ("console:op-scheduler", "schedule.import")]


async def test_schedule_import_checks_and_encrypts_off_the_event_loop(
        console: ConsoleContext, signin: SignIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large upload must not stall the server: decoding, checking, hashing and every
    encryption of the file run in a worker thread, never on the event loop's thread."""
    s = await signin("scheduler")
    loop_thread = threading.get_ident()
    seen: dict[str, set[int]] = {}

    def spy(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kw: Any) -> Any:
            seen.setdefault(name, set()).add(threading.get_ident())
            return fn(*args, **kw)
        return wrapped

    records = console.records
    monkeypatch.setattr(records, "encrypt_patient", spy("encrypt_patient",
                                                        records.encrypt_patient))
    monkeypatch.setattr(records.keys, "encrypt", spy("encrypt", records.keys.encrypt))
    monkeypatch.setattr(patients_page, "validate_schedule_csv",
                        spy("validate", patients_page.validate_schedule_csv))
    monkeypatch.setattr(patients_page, "decode_schedule_csv",
                        spy("decode", patients_page.decode_schedule_csv))
    monkeypatch.setattr(patients_page, "file_digest", spy("digest", patients_page.file_digest))
    console.application = SimpleNamespace(schedule_feed=FeedCalendar(console.records))
    head = "mrn,first_name,last_name,phone,dob,appointment_id,start\n"
    body = "".join(f"M{i},Ann,Synthetic,+1555555{i:04d},1980-01-01,A{i},2026-04-01T09:00\n"
                   for i in range(1, 41))
    r = await _upload(s, head + body)
    assert r.status_code == 200, r.text
    assert "40 new patient" in r.text
    assert set(seen) == {"encrypt_patient", "encrypt", "validate", "decode", "digest"}
    assert all(loop_thread not in threads for threads in seen.values()), seen


async def test_schedule_import_refuses_a_file_over_the_size_bound(
        console: ConsoleContext, signin: SignIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_import, "MAX_BYTES", 100)
    monkeypatch.setattr(patients_page, "MAX_BYTES", 100)
    s = await signin("scheduler")
    r = await _upload(s, "mrn,last_name,phone,appointment_id,start\n" + "x" * 100)
    assert r.status_code == 422
    assert re.findall(r'<tr class="problem"><td>(\w+)</td><td>-</td><td>([^<]*)</td>',
                      r.text) == [("file", "more than 100 bytes")]
    assert await _counts(console) == (0, 0)


async def test_figures_draw_every_chart(console: ConsoleContext, signin: SignIn,
                                        clock: Clock) -> None:
    t0 = clock() - dt.timedelta(days=3)
    for cid, workflow, outcome in (("f1", "inbound_scheduling", "transferred"),
                                   ("f2", "<b>x</b>", "completed")):
        await console.records.record_cdr(CallDetail(
            call_id=cid, direction="inbound", started_at=t0, answered_at=t0,
            ended_at=t0 + dt.timedelta(seconds=30), hangup_cause="local_bye",
            workflow=workflow, outcome=outcome))
    await console.records.drain_spool()
    s = await signin("admin")
    r = await s.client.get("/figures", params={"weeks": "4"})
    assert r.status_code == 200
    assert r.text.count("<svg") == 5
    assert "<b>x</b>" not in r.text  # escaped in the chart and in the table
    assert "&lt;b&gt;x&lt;/b&gt;" in r.text
    assert "Staff intervention rate" in r.text
    assert "<td>inbound_scheduling</td><td>1</td><td>1</td>" in r.text
    # this week: two answered calls, one transfer
    assert re.search(r'<tr><td>[\d-]+</td><td>2</td><td>1</td><td>0</td></tr>', r.text)


async def test_trunks_page_lists_the_configured_trunks(
        console: ConsoleContext, signin: SignIn, console_settings: Settings) -> None:
    console.settings = Settings(data_dir=console_settings.data_dir,
                                console=console_settings.console,
                                trunks=(TrunkSettings(name="carrier-a", host="192.0.2.10",
                                                      region="us-east"),))
    s = await signin("admin")
    r = await s.client.get("/trunks")
    assert 'id="trunk-carrier-a"' in r.text
    assert "192.0.2.10:5060" in r.text


async def test_patient_lookup_and_the_coming_appointments(console: ConsoleContext,
                                                          signin: SignIn, clock: Clock) -> None:
    pid = await console.records.add_patient("Dee Synthetic", PHONE, actor="test",
                                            reason="fixture", member_id="SYN-77")
    pool = console.records.pool
    await pool.execute("INSERT INTO sched_providers (id, name) VALUES ('dr', 'Dr Synthetic')")
    start = clock() + dt.timedelta(days=2)
    await pool.execute(
        "INSERT INTO sched_appointments (id, patient_id, provider_id, start_at, end_at, status,"
        " updated_at) VALUES ('ap-1', $1, 'dr', $2, $3, 'booked', $2)",
        str(pid), start, start + dt.timedelta(minutes=30))
    console.appointments = CalendarAppointments(pool)
    s = await signin("scheduler")
    r = await s.client.get("/patients", params={"phone": PHONE, "reason": "rebooking"})
    assert "Dee Synthetic" not in r.text  # a number in the URL looks nothing up
    r = await s.client.post("/patients", data={"csrf_token": s.csrf, "phone": PHONE})
    assert r.status_code == 422  # no reason: no lookup
    assert "Dee Synthetic" not in r.text
    assert "Say why" in r.text
    assert "patient.lookup" not in await actions(console, "patient.")
    r = await s.client.post("/patients", data={"csrf_token": s.csrf, "phone": PHONE,
                                               "reason": " rebooking\n a visit "})
    assert r.status_code == 200
    assert "Dee Synthetic" in r.text
    assert "SYN-77" in r.text
    assert "<td>ap-1</td>" in r.text
    assert "<td>open</td>" in r.text
    assert "patient.lookup" in await actions(console, "patient.")
    assert await who_what_why(console, "patient.lookup") == [
        ("console:op-scheduler", "patient.lookup", "console lookup: rebooking a visit")]


async def test_a_call_s_transcript_is_shown_only_with_a_reason(
        console: ConsoleContext, signin: SignIn, clock: Clock) -> None:
    t0 = clock() - dt.timedelta(hours=1)
    await console.records.record_call(CallRecord(
        "abc/1@host", "inbound", t0, t0 + dt.timedelta(seconds=20), workflow="intake",
        outcome="completed"), [("agent", "Hello [NAME], how can I help?"),
                               ("caller", "I need to move my appointment")])
    await console.records.record_cdr(CallDetail(  # the gateway's CDR of the same call
        "abc/1@host", "inbound", t0, t0 + dt.timedelta(seconds=20), "remote_bye",
        answered_at=t0, sip_status=200, workflow="intake", outcome="completed"))
    await console.records.drain_spool()
    s = await signin("supervisor")
    r = await s.client.get("/calls")
    assert 'href="/calls/abc/1%40host"' in r.text
    r = await s.client.get("/calls/abc/1%40host")
    assert r.status_code == 200
    assert 'id="transcript-form"' in r.text
    assert "remote_bye" in r.text  # the call's CDR is shown
    assert "move my appointment" not in r.text
    r = await s.client.get("/calls/abc/1%40host", params={"reason": "curiosity"})
    assert "move my appointment" not in r.text  # not one of the reasons: nothing shown
    r = await s.client.get("/calls/abc/1%40host", params={"reason": "quality review"})
    assert "Hello [NAME], how can I help?" in r.text
    assert await actions(console, "call.transcript") == ["call.transcript.read"]
    # Opening a call's record is a view of a patient's call: audited, each time, naming
    # the call (the list was audited; one call's page was not).
    views = await console.records.pool.fetch(
        "SELECT record_id FROM audit_log WHERE action = 'call_records.view'"
        " AND record_type = 'call' ORDER BY seq")
    assert [v["record_id"] for v in views] == ["abc/1@host"] * 3
    assert (await s.client.get("/calls/nope")).status_code == 404
    other = await signin("scheduler")
    assert (await other.client.get("/calls/abc/1%40host")).status_code == 403


async def test_markup_a_patient_typed_in_a_chat_is_shown_to_staff_as_text(
        console: ConsoleContext, signin: SignIn, clock: Clock) -> None:
    """A web-chat patient's message is shown on the call page as the characters typed,
    never as markup the operator's browser runs."""
    t0 = clock() - dt.timedelta(hours=1)
    typed = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    await console.records.record_call(CallRecord(
        "chat-x1", "inbound", t0, t0 + dt.timedelta(seconds=20), workflow="intake",
        outcome="completed"), [("caller", typed)])
    await console.records.drain_spool()
    s = await signin("supervisor")
    r = await s.client.get("/calls/chat-x1", params={"reason": "quality review"})
    assert r.status_code == 200
    assert "<script>alert(1)" not in r.text
    assert "<img src=x" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
