"""Issue 17, done when: a reminder by text through the npm-registry SMSC; the reply "C"
confirms the appointment and the 2 h voice reminder is not placed; "STOP" by text revokes
consent at once and a later voice reminder is refused by the gate naming the rule; texts
and calls share one exemption cap."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter

import asyncpg
import pytest

from agent.scheduling.outreach import CalendarAppointments
from agent.sms import WORKFLOW
from carrier.dialer.campaign import CampaignPolicy
from carrier.dialer.gate import DialRefused
from carrier.dialer.records_adapter import RecordsDecisionRecorder, RecordsDirectory, RecordsFacts
from carrier.dialer.runner import DialerRunner
from carrier.dialer.store import OutreachStore
from carrier.dialer.sync import sync_campaigns
from carrier.plugin import AppointmentState
from carrier.records.store import Records
from carrier.sms.settings import SmsSettings
from tests.dialer.conftest import START, FakeClock, FakeDialer, make_runner
from tests.dialer.test_integration_records import add_appointment
from tests.sms.conftest import PHONE, Stack

pytestmark = pytest.mark.postgres


def voice_runner(pool: asyncpg.Pool, records: Records, clock: FakeClock,
                 dialer: FakeDialer) -> DialerRunner:
    runner = make_runner(pool, clock, dialer)
    runner.facts = RecordsFacts(records)
    runner.directory = RecordsDirectory(records)
    runner.recorder = RecordsDecisionRecorder(records)
    runner.appointments = CalendarAppointments(pool)
    return runner


async def test_reply_c_confirms_and_the_voice_reminder_is_not_placed(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    await add_appointment(pool, "a1", stack.patient, START + dt.timedelta(hours=3))
    store, cal = OutreachStore(pool), CalendarAppointments(pool)
    await sync_campaigns(store, cal, CampaignPolicy(), START)  # 72/24/2 h voice reminders
    sent = await stack.reminders.send_reminder(stack.patient, "a1")
    assert sent.exempt
    got = await stack.smsc.wait("submit")
    assert got["dest"] == PHONE
    assert "Demo Clinic" in got["text"]
    assert "1 PM" in got["text"]
    assert "Dr" not in got["text"]  # the clinic and the time only, never the provider
    await stack.text_from_phone("C")
    assert await stack.reminders.settled(stack.patient) == "confirmed"
    ack = await stack.smsc.wait("submit")
    assert ack["text"] == "Thank you, your appointment is confirmed."
    assert await cal.state("a1") is AppointmentState.CONFIRMED
    assert (await sync_campaigns(store, cal, CampaignPolicy(), START)).stopped >= 1
    stack.clock.advance(3600)  # the 2 h reminder is due now
    dialer = FakeDialer(stack.clock)
    report = await voice_runner(pool, records, stack.clock, dialer).run_once()
    assert dialer.dials == []
    assert not any(rule.startswith("cap.") for rule in report.refused)  # not stopped by a cap
    memory = await stack.memory.load(stack.patient)
    assert memory.last is not None
    assert (memory.last.channel, memory.last.outcome) == ("sms", "confirmed")
    assert memory.last.workflow == WORKFLOW


async def test_stop_by_text_revokes_and_the_gate_refuses_the_voice_reminder(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    await add_appointment(pool, "a2", stack.patient, START + dt.timedelta(hours=3))
    await sync_campaigns(OutreachStore(pool), CalendarAppointments(pool), CampaignPolicy(), START)
    await stack.text_from_phone("Stop")
    reply = await stack.smsc.wait("submit")
    assert "unsubscribed" in reply["text"]
    assert "START" in reply["text"]
    history = await records.consent_history(uuid.UUID(stack.patient))
    assert {(e.channel, e.event) for e in history if e.event == "revoke"} == {
        ("sms", "revoke"), ("voice", "revoke")}
    stack.clock.advance(3600)
    dialer = FakeDialer(stack.clock)
    report = await voice_runner(pool, records, stack.clock, dialer).run_once()
    assert dialer.dials == []
    assert report.refused == Counter({"tcpa.consent.revoked": 1})
    with pytest.raises(DialRefused) as refused:
        await stack.service.send_to_patient(stack.patient, "appointment_reminder", "Hi")
    assert refused.value.rule == "tcpa.consent.revoked"


async def test_one_exemption_cap_across_text_and_voice(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    """A reminder text today uses the exempt daily cap: the voice call is refused by it."""
    await add_appointment(pool, "a3", stack.patient, START + dt.timedelta(hours=3))
    await sync_campaigns(OutreachStore(pool), CalendarAppointments(pool), CampaignPolicy(), START)
    await stack.reminders.send_reminder(stack.patient, "a3")
    await stack.smsc.wait("submit")
    stack.clock.advance(3600)
    dialer = FakeDialer(stack.clock)
    report = await voice_runner(pool, records, stack.clock, dialer).run_once()
    assert dialer.dials == []
    assert report.refused == Counter({"cap.exempt.daily": 1})


async def test_reschedule_by_reply_asks_identity_first(
        stack: Stack, pool: asyncpg.Pool) -> None:
    """R opens the same engine's reschedule path: date of birth before any new time."""
    await add_appointment(pool, "a4", stack.patient, START + dt.timedelta(hours=30))
    for i, hours in enumerate((50, 51)):
        at = START + dt.timedelta(hours=hours)
        await pool.execute(
            "INSERT INTO sched_slots (id, provider_id, start_at, end_at, free)"
            " VALUES ($1, 'dr1', $2, $3, true)", f"s{i}", at, at + dt.timedelta(minutes=30))
    await stack.reminders.send_reminder(stack.patient, "a4")
    await stack.smsc.wait("submit")
    await stack.text_from_phone("R")
    ask = await stack.smsc.wait("submit")
    assert "date of birth" in ask["text"]
    assert "PM" not in ask["text"]
    await stack.text_from_phone("01/01/1990")  # wrong: asked again, nothing revealed
    assert "does not match" in (await stack.smsc.wait("submit"))["text"]
    await stack.text_from_phone("03/05/1980")
    offers = await stack.smsc.wait("submit")
    assert offers["text"].startswith("Open times:")
    assert "Reply 1, 2 or 3" in offers["text"]
    await stack.text_from_phone("2")
    assert await stack.reminders.settled(stack.patient) == "rescheduled"
    done = await stack.smsc.wait("submit")
    assert done["text"].startswith("You are all set for")
    assert await pool.fetchval("SELECT status FROM sched_appointments WHERE id = 'a4'") \
        == "cancelled"  # moved: the old booking is closed, the new one holds slot s1
    assert await pool.fetchval("SELECT status FROM sched_appointments WHERE slot_id = 's1'"
                               " AND patient_id = $1", stack.patient) == "booked"


async def test_stop_revokes_setting_and_brand_act(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    """`sms.stop_revokes: sms` keeps voice consent; `sms.brand`/`help_number` are in the
    replies; HELP changes nothing; START grants texts again."""
    stack.service.settings = SmsSettings(enabled=True, stop_revokes="sms", brand="Other Clinic",
                                         help_number="+15550100199")
    await stack.text_from_phone("HELP")
    help_ = (await stack.smsc.wait("submit"))["text"]
    assert help_.startswith("Other Clinic")
    assert "+15550100199" in help_
    await stack.text_from_phone("stop")
    assert (await stack.smsc.wait("submit"))["text"].startswith("Other Clinic: You are unsub")
    facts = await RecordsFacts(records).consent(stack.patient)
    assert (facts["sms"].value, facts["voice"].value) == ("revoked", "granted")
    await stack.text_from_phone("UNSTOP")
    assert "subscribed" in (await stack.smsc.wait("submit"))["text"]
    assert (await RecordsFacts(records).consent(stack.patient))["sms"].value == "granted"
