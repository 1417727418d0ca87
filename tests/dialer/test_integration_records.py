"""The dialer against the real neighbours: the agent's calendar (through the
`AppointmentSource` port) and the records store."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter

import asyncpg
import pytest

from agent.scheduling.outreach import CalendarAppointments as SqlCalendar
from carrier.dialer.campaign import CampaignPolicy
from carrier.dialer.gate import Gate, GateFacts, GateRequest
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.records_adapter import RecordsDecisionRecorder, RecordsDirectory, RecordsFacts
from carrier.dialer.service import DialerService
from carrier.dialer.store import OutreachStore
from carrier.dialer.sync import sync_campaigns
from carrier.plugin import AppointmentState
from carrier.records.store import Records
from tests.dialer.conftest import RULES, START, FakeClock, FakeDialer, make_runner

pytestmark = pytest.mark.postgres


async def add_appointment(
    pool: asyncpg.Pool,
    aid: str,
    patient: str,
    start: dt.datetime,
    status: str = "booked",
    updated: dt.datetime = START,
) -> None:
    await pool.execute(
        "INSERT INTO sched_providers (id, name) VALUES ('dr1', 'Dr Test') ON CONFLICT DO NOTHING"
    )
    await pool.execute(
        "INSERT INTO sched_appointments (id, patient_id, provider_id, start_at, end_at, status,"
        " updated_at) VALUES ($1, $2, 'dr1', $3, $4, $5, $6)",
        aid,
        patient,
        start,
        start + dt.timedelta(minutes=30),
        status,
        updated,
    )


async def test_calendar_sync_plans_stops_and_reactivates(pool: asyncpg.Pool) -> None:
    await add_appointment(pool, "a1", "p1", START + dt.timedelta(hours=90))
    await add_appointment(pool, "a2", "p2", START + dt.timedelta(hours=30), "confirmed")
    await add_appointment(
        pool,
        "a3",
        "p3",
        START - dt.timedelta(hours=1),
        "missed",
        updated=START - dt.timedelta(minutes=1),
    )
    store, cal, policy = OutreachStore(pool), SqlCalendar(pool), CampaignPolicy()
    first = await sync_campaigns(store, cal, policy, START)
    assert first.added == 4  # three reminders for a1, one no-show call for a3
    assert (await sync_campaigns(store, cal, policy, START)).added == 0  # idempotent
    # the patient confirms a1 by text message: the calendar says so, reminders stop
    await pool.execute("UPDATE sched_appointments SET status = 'confirmed' WHERE id = 'a1'")
    assert (await sync_campaigns(store, cal, policy, START)).stopped == 3
    by_campaign = {s.campaign: s for s in await store.status(START)}
    assert by_campaign["reminders"].cancelled == 3
    assert by_campaign["no_show"].scheduled == 1
    assert await cal.state("a1") is AppointmentState.CONFIRMED


async def test_runner_stops_when_calendar_closed_meanwhile(pool: asyncpg.Pool) -> None:
    await add_appointment(pool, "a1", "p1", START + dt.timedelta(hours=2))
    store, cal = OutreachStore(pool), SqlCalendar(pool)
    await sync_campaigns(store, cal, CampaignPolicy(), START)
    await pool.execute("UPDATE sched_appointments SET status = 'cancelled' WHERE id = 'a1'")
    clock = FakeClock()
    dialer = FakeDialer(clock)
    runner = make_runner(pool, clock, dialer)
    runner.appointments = cal
    report = await runner.run_once()
    assert dialer.dials == []
    # the calendar's "cancelled" reaches the dialer as the port's CLOSED state
    assert report.refused == Counter({"appointment.closed": 1})


async def test_records_consent_dnc_and_audit(pool: asyncpg.Pool, records: Records) -> None:
    granted = await records.add_patient("Test Patient A", "+12125550171", actor="t", reason="t")
    revoked = await records.add_patient("Test Patient B", "+12125550172", actor="t", reason="t")
    on_dnc = await records.add_patient("Test Patient C", "+12125550173", actor="t", reason="t")
    for pid in (granted, revoked, on_dnc):
        await records.consent_grant(
            pid, "voice", "tcpa_express", source="intake", evidence_ref="form-1", actor="t"
        )
    await records.consent_revoke(revoked, "voice", source="ivr", evidence_ref="call-1", actor="t")
    await records.dnc_add("+12125550173", source="ivr", actor="t", reason="opt-out")
    await records.import_national_dnc(["+12125550199"], source="ftc", actor="t", at=START)
    for i, pid in enumerate((granted, revoked, on_dnc)):
        await add_appointment(pool, f"a{i}", str(pid), START + dt.timedelta(hours=2))
    store = OutreachStore(pool)
    await sync_campaigns(store, SqlCalendar(pool), CampaignPolicy(), START)

    facts = RecordsFacts(records)
    dnc = await facts.dnc("+12125550199")
    assert (dnc.national, dnc.national_copy_date) == (True, START.date())
    clock = FakeClock()
    dialer = FakeDialer(clock)
    runner = make_runner(pool, clock, dialer)
    runner.facts = facts
    runner.directory = RecordsDirectory(records)
    runner.recorder = RecordsDecisionRecorder(records)
    report = await runner.run_once()
    assert [p for p, _, _ in dialer.dials] == [str(granted)]
    assert report.refused == Counter({"tcpa.consent.revoked": 1, "dnc.organisation": 1})
    assert await records.drain_spool()
    rows = await pool.fetch(
        "SELECT reason, details FROM audit_log WHERE action = 'dial.decision' ORDER BY seq"
    )
    assert sorted(r["reason"] for r in rows) == sorted(
        ["allowed", "tcpa.consent.revoked", "dnc.organisation"]
    )
    # No telephone numbers in the audit details (uuids may contain "555" by chance, so
    # look for the numbers themselves, in any of their usual forms).
    for number in ("2125550171", "2125550172", "2125550173"):
        assert not any(number in r["details"] or number[-7:] in r["details"] for r in rows)
    allowed = next(r["details"] for r in rows if r["reason"] == "allowed")
    assert '"max_call_seconds":60' in allowed
    assert "window.federal" in allowed


async def test_service_loop_reactivates_a_missed_appointment(pool: asyncpg.Pool) -> None:
    await add_appointment(
        pool,
        "a7",
        "p7",
        START - dt.timedelta(hours=1),
        "missed",
        updated=START - dt.timedelta(minutes=6),
    )
    clock = FakeClock()
    stop = asyncio.Event()

    class StopAfterDial(FakeDialer):
        async def attempt(self, request, trunk):  # type: ignore[no-untyped-def]
            stop.set()
            return await super().attempt(request, trunk)

    dialer = StopAfterDial(clock)
    runner = make_runner(pool, clock, dialer)
    service = DialerService(runner, SqlCalendar(pool))
    await asyncio.wait_for(service.run(stop, interval=60), 30)
    assert [p for p, _, _ in dialer.dials] == ["p7"]


async def test_hipaa_authorization_refusal_has_its_own_rule(records: Records) -> None:
    """Issue 12: a patient whose only ledger entry was a revoked HIPAA authorization was
    refused as `tcpa.consent.revoked`; one with TCPA consent and a revoked authorization
    was dialled. The authorization is now its own key and rule."""
    only_hipaa = await records.add_patient("Test Patient H", "+12125550174", actor="t",
                                           reason="t")
    both = await records.add_patient("Test Patient I", "+12125550175", actor="t", reason="t")
    for pid in (only_hipaa, both):
        await records.consent_grant(pid, "voice", "hipaa_authorization", source="intake",
                                    evidence_ref="form-2", actor="t")
        await records.consent_revoke(pid, "voice", "hipaa_authorization", source="portal",
                                     evidence_ref="form-3", actor="t")
    await records.consent_grant(both, "voice", "tcpa_express", source="intake",
                                evidence_ref="form-1", actor="t")
    facts = RecordsFacts(records)
    gate = Gate(RULES, PackageHolidays(RULES))
    for pid, rule in ((only_hipaa, "hipaa.authorization.revoked"),
                      (both, "hipaa.authorization.revoked")):
        consent = await facts.consent(str(pid))
        decision = gate.decide(
            GateRequest(patient_id=str(pid), number="+12125550174", purpose="appointment_reminder",
                        number_given_by_patient=True, free_to_patient=True),
            GateFacts(consent, org_dnc=False, national_dnc=False,
                      national_copy_date=START.date()), START)
        assert decision.rule == rule
