"""Reminders by text from the dialer's own loop (``sms.reminders_by_text_h``): the runner
sends the 72 h reminder through the SMS service on the npm-registry SMSC (the same gate,
one cap across channels), the reply "C" confirms, and the 24 h / 2 h calls are not placed.
Without the setting the same outreach is a call."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

import asyncpg
import pytest

from agent.scheduling.outreach import CalendarAppointments
from carrier.dialer.campaign import CampaignPolicy
from carrier.dialer.ports import TextChannel
from carrier.dialer.service import text_channel
from carrier.dialer.store import OutreachStore
from carrier.dialer.sync import sync_campaigns
from carrier.errors import ConfigError
from carrier.plugin import AppointmentState
from carrier.records.store import Records
from carrier.settings import load_settings
from carrier.sms.smpp import SmsRefused
from carrier.sms.wiring import run_sms
from tests.dialer.conftest import START, FakeDialer
from tests.dialer.test_integration_records import add_appointment
from tests.sms.conftest import PHONE, Stack
from tests.sms.test_cli_e2e import config_dir
from tests.sms.test_reminder_e2e import voice_runner

pytestmark = pytest.mark.postgres
POLICY = CampaignPolicy()


async def outreach(pool: asyncpg.Pool) -> dict[str, tuple[str, str | None, str | None]]:
    rows = await pool.fetch("SELECT label, state, outcome, last_rule FROM dialer_outreach")
    return {r["label"]: (r["state"], r["outcome"], r["last_rule"]) for r in rows}


async def test_the_loop_texts_the_72h_reminder_and_c_confirms(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    await add_appointment(pool, "a1", stack.patient, START + dt.timedelta(hours=72))
    dialer = FakeDialer(stack.clock)
    runner = voice_runner(pool, records, stack.clock, dialer)
    runner.texts = TextChannel(frozenset({"72h"}), stack.reminders)
    store, cal = OutreachStore(pool), CalendarAppointments(pool)
    await sync_campaigns(store, cal, POLICY, stack.clock.now())
    report = await runner.run_once()
    assert (report.texted, report.dialled, dialer.dials) == (1, 0, [])
    got = await stack.smsc.wait("submit")
    assert got["dest"] == PHONE
    assert "Demo Clinic" in got["text"]
    assert (await outreach(pool))["72h"][:2] == ("done", "texted")
    await stack.text_from_phone("C")
    assert await stack.reminders.settled(stack.patient) == "confirmed"
    assert await cal.state("a1") is AppointmentState.CONFIRMED
    stack.clock.mono += 48 * 3600  # the 24 h reminder's time: confirmed, so no call
    await sync_campaigns(store, cal, POLICY, stack.clock.now())
    report = await runner.run_once()
    assert dialer.dials == []
    assert report.texted == 0


async def test_a_text_counts_in_the_cap_and_a_refusal_names_its_rule(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    await add_appointment(pool, "a1", stack.patient, START + dt.timedelta(hours=72))
    await records.consent_revoke(uuid.UUID(stack.patient), "sms", source="t",
                                 evidence_ref="t", actor="t")
    runner = voice_runner(pool, records, stack.clock, FakeDialer(stack.clock))
    runner.texts = TextChannel(frozenset({"72h"}), stack.reminders)
    await sync_campaigns(OutreachStore(pool), CalendarAppointments(pool), POLICY,
                         stack.clock.now())
    report = await runner.run_once()
    assert report.refused == {"tcpa.consent.revoked": 1}
    assert (await outreach(pool))["72h"][0] == "done"  # permanent: no retry, no text
    assert not [e for e in stack.smsc.events if e.get("event") == "submit"]


async def test_link_down_defers_and_without_the_setting_it_is_a_call(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    await add_appointment(pool, "a1", stack.patient, START + dt.timedelta(hours=72))
    dialer = FakeDialer(stack.clock)
    runner = voice_runner(pool, records, stack.clock, dialer)
    runner.texts = TextChannel(frozenset({"72h"}))  # the SMS link is not bound
    await sync_campaigns(OutreachStore(pool), CalendarAppointments(pool), POLICY,
                         stack.clock.now())
    report = await runner.run_once()
    assert report.refused == {"sms.unavailable": 1}
    assert (await outreach(pool))["72h"][0] == "pending"  # tried again later
    runner.texts = None
    stack.clock.mono += POLICY.gate_defer.total_seconds()
    report = await runner.run_once()
    assert len(dialer.dials) == 1  # no text channel: the reminder is a call


def test_the_setting_names_the_texted_offsets(tmp_path: Path) -> None:
    settings = load_settings(config_dir(tmp_path, reminders_by_text_h=[72]))
    channel = text_channel(settings)
    assert channel is not None
    assert channel.labels == {"72h"}
    assert text_channel(load_settings(config_dir(tmp_path / "b"))) is None
    with pytest.raises(ConfigError, match="reminders_by_text_h"):
        load_settings(config_dir(tmp_path / "c", reminders_by_text_h=[5]))


async def test_sip_transport_needs_the_gateway_endpoint(tmp_path: Path) -> None:
    settings = load_settings(config_dir(tmp_path, transport="sip"))
    with pytest.raises(ConfigError, match=r"sms\.transport"):
        await run_sms(settings, None, None, asyncio.Event())  # type: ignore[arg-type]


async def test_a_text_reminder_for_an_unknown_patient_is_refused_and_the_pass_goes_on(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    """An appointment naming a patient id that is not ours (the demo seed keeps a clinic
    file's id, "pat-1009", when the file lists no such patient). Before: the SMS service
    raised LookupError, which ended the pass and the loop; the patient after it got
    nothing. Now that outreach is refused ``contact.unknown`` (audited) and the pass goes
    on to text the next patient."""
    await add_appointment(pool, "a0", "pat-1009", START + dt.timedelta(hours=71, minutes=59))
    await add_appointment(pool, "a1", stack.patient, START + dt.timedelta(hours=72))
    runner = voice_runner(pool, records, stack.clock, FakeDialer(stack.clock))
    runner.texts = TextChannel(frozenset({"72h"}), stack.reminders)
    await sync_campaigns(OutreachStore(pool), CalendarAppointments(pool), POLICY,
                         stack.clock.now())
    report = await runner.run_once()
    assert report.refused == {"contact.unknown": 1}
    assert report.texted == 1
    assert (await stack.smsc.wait("submit"))["dest"] == PHONE
    audited = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'dial.decision'"
        " AND reason = 'contact.unknown'")
    assert audited == 1


async def test_a_reminder_text_too_long_for_the_exemption_is_refused_and_the_pass_goes_on(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    # A long clinic name or template makes the reminder longer than an exempt text may be
    # (160 characters). Before, ExemptTextError left the runner and ended the whole pass,
    # with the text's row still "decided", counted in the caps though nothing was sent.
    await add_appointment(pool, "a1", stack.patient, START + dt.timedelta(hours=72))
    stack.reminders.template = "{clinic}: " + "a reminder that runs long. " * 7 + "{day} {time}"
    runner = voice_runner(pool, records, stack.clock, FakeDialer(stack.clock))
    runner.texts = TextChannel(frozenset({"72h"}), stack.reminders)
    await sync_campaigns(OutreachStore(pool), CalendarAppointments(pool), POLICY,
                         stack.clock.now())
    report = await runner.run_once()
    assert report.refused == {"sms.exempt.length": 1}
    assert report.texted == 0
    assert not [e for e in stack.smsc.events if e.get("event") == "submit"]
    statuses = await pool.fetch("SELECT status FROM sms_messages WHERE patient_id IS NOT NULL")
    assert [r["status"] for r in statuses] == ["refused"]  # not "decided": no cap counts it
    audited = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'dial.decision'"
        " AND reason = 'sms.exempt.length'")
    assert audited == 1


async def test_a_text_the_smsc_refused_is_not_counted_in_the_caps(
        stack: Stack, pool: asyncpg.Pool) -> None:
    """A text the SMSC refused outright (0x0B, bad destination) was never sent: it was
    kept as "decided" and counted as the patient's exempt contact for the day, so the
    retry was refused by the daily cap. Now it is recorded ``failed`` and not counted; the
    retry goes out."""
    await stack.smsc.reject(0x0B)
    with pytest.raises(SmsRefused):
        await stack.service.send_to_patient(stack.patient, "appointment_reminder", "Hi")
    await stack.smsc.wait("submit_rejected")
    rows = await pool.fetch("SELECT status FROM sms_messages WHERE direction = 'out'")
    assert [r["status"] for r in rows] == ["failed"]
    stack.clock.advance(1800)
    sent = await stack.service.send_to_patient(stack.patient, "appointment_reminder", "Hi")
    assert sent.smsc_ids
    assert (await stack.smsc.wait("submit"))["dest"] == PHONE
