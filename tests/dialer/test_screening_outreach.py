"""Issue 12: the dialer plans screening calls from the schedule (purpose `screening`) for
appointments that need one; a confirmed appointment keeps its screening."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from agent.contract import WORKFLOW_FOR_PURPOSE
from agent.scheduling.outreach import CalendarAppointments
from carrier.dialer.campaign import SCREENING_CAMPAIGN, CampaignPolicy, plan_screening
from carrier.dialer.store import OutreachStore
from carrier.dialer.sync import sync_campaigns
from carrier.plugin import AppointmentFact, AppointmentState
from tests.dialer.conftest import START
from tests.dialer.test_integration_records import add_appointment

POLICY = CampaignPolicy()


def test_plan_screening_only_for_appointments_that_need_it() -> None:
    start = START + dt.timedelta(days=10)
    needs = AppointmentFact("a1", "p1", start, AppointmentState.OPEN,
                            needs=frozenset({"screening"}))
    plain = AppointmentFact("a2", "p2", start, AppointmentState.OPEN)
    confirmed = AppointmentFact("a3", "p3", start, AppointmentState.CONFIRMED,
                                needs=frozenset({"screening"}))
    closed = AppointmentFact("a4", "p4", start, AppointmentState.CLOSED,
                             needs=frozenset({"screening"}))
    planned = plan_screening([needs, plain, confirmed, closed], POLICY, START)
    assert [(p.appointment_id, p.purpose, p.campaign) for p in planned] == [
        ("a1", "screening", "screening"), ("a3", "screening", "screening")]
    assert planned[0].due_at == start - dt.timedelta(days=7)
    assert planned[0].not_after == start - dt.timedelta(days=1)
    # too close to the appointment: no screening call
    soon = AppointmentFact("a5", "p5", START + dt.timedelta(hours=20), AppointmentState.OPEN,
                           needs=frozenset({"screening"}))
    assert plan_screening([soon], POLICY, START) == []
    assert WORKFLOW_FOR_PURPOSE["screening"] == "health_screening"


@pytest.mark.postgres
async def test_sync_plans_screening_from_the_calendar(pool: asyncpg.Pool) -> None:
    await add_appointment(pool, "a1", "p1", START + dt.timedelta(days=3))
    await pool.execute("UPDATE sched_appointments SET needs = '{screening}' WHERE id = 'a1'")
    store, cal = OutreachStore(pool), CalendarAppointments(pool)
    report = await sync_campaigns(store, cal, POLICY, START)
    assert report.added == 4  # 72/24/2 h reminders and one screening call
    rows = await pool.fetch("SELECT campaign_id, label, due_at FROM dialer_outreach"
                            " WHERE campaign_id = $1", SCREENING_CAMPAIGN)
    assert [(r["campaign_id"], r["label"]) for r in rows] == [("screening", "screening")]
    assert rows[0]["due_at"] == START  # within the lead already: due now
    # the patient confirms: reminders stop, the screening still goes out
    await pool.execute("UPDATE sched_appointments SET status = 'confirmed' WHERE id = 'a1'")
    assert (await sync_campaigns(store, cal, POLICY, START)).stopped == 3
    by_campaign = {s.campaign: s for s in await store.status(START)}
    assert by_campaign["screening"].due == 1  # pending and due now, not cancelled
    # cancelled: the screening stops too
    await pool.execute("UPDATE sched_appointments SET status = 'cancelled' WHERE id = 'a1'")
    assert (await sync_campaigns(store, cal, POLICY, START)).stopped == 1
