"""`carrier serve` with `sms.enabled`: `run_sms` (started by `run_services`) binds to the
SMSC, answers keywords into the ledger, hands other texts to the hosted application
(`TextApplication`), and gives the voice agent its texter ("text me the address")."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from agent.handler import patient_uuid
from agent.runtime import VoiceAgent
from carrier.dialer.records_adapter import RecordsFacts
from carrier.dialer.service import DialerService
from carrier.plugin import AppointmentState, TextApplication
from carrier.records.store import Records
from carrier.settings import load_settings
from carrier.sms.wiring import run_sms
from carrier.trunk_service import Placed
from tests.dialer.test_integration_records import add_appointment
from tests.peers.smsc_peer import Smsc
from tests.sms.test_cli_e2e import config_dir

pytestmark = pytest.mark.postgres
DEMO_PHONE = "+15550100123"  # pat-1001 of the demo clinic (synthetic)


async def test_run_sms_in_the_stack(tmp_path: Path, records: Records, smsc: Smsc,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(config_dir(tmp_path, smsc_port=smsc.port,
                                        system_id=smsc.system_id))
    monkeypatch.setenv(settings.sms.password_env, smsc.password)
    app = VoiceAgent()
    assert isinstance(app, TextApplication)
    await app.start(settings, records, speech=False)  # seeds the demo clinic
    stop = asyncio.Event()
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(run_sms(settings, records, app, stop))
            await smsc.wait("bound", timeout=20)
            await smsc.mo(DEMO_PHONE, settings.sms.from_number, "HELP")
            assert "Msg & data rates" in (await smsc.wait("submit", timeout=20))["text"]
            assert app.runtime is not None
            texter = app.runtime.texter
            assert texter is not None  # the voice agent can keep "text me the address"
            pid = str(patient_uuid("pat-1001"))
            await records.consent_grant(patient_uuid("pat-1001"), "sms", "tcpa_express",
                                        source="t", evidence_ref="t", actor="t")
            assert await texter.send_address(pid, dt.datetime.now(dt.UTC))
            sent = await smsc.wait("submit", timeout=20)
            assert sent["dest"] == DEMO_PHONE
            assert "100 Example Avenue" in sent["text"]
            await smsc.mo(DEMO_PHONE, settings.sms.from_number, "STOP")
            assert "unsubscribed" in (await smsc.wait("submit", timeout=20))["text"]
            consent = await RecordsFacts(records).consent(pid)
            assert consent["voice"].value == "revoked"
            stop.set()
    finally:
        await app.stop()


class NoTrunk:
    """The gateway's place() with every trunk down: only texts may leave in this test."""

    async def place(self, request: object) -> Placed[None]:
        return Placed(None, None, ("demo",))

    async def run_outbound(self, call: object, context: object) -> None:
        raise AssertionError("no call is answered here")


async def test_the_dialer_loop_texts_the_reminder_on_its_own(
        tmp_path: Path, records: Records, smsc: Smsc, monkeypatch: pytest.MonkeyPatch) -> None:
    """As ``carrier serve`` wires them (``run_services``): the dialer service built from
    the settings and ``run_sms`` sharing its text channel; ``sms.reminders_by_text_h: [72]``
    sends the 72 h reminder through the SMSC with no call, and the reply "C" confirms."""
    settings = load_settings(config_dir(tmp_path, smsc_port=smsc.port,
                                        system_id=smsc.system_id, reminders_by_text_h=[72]))
    monkeypatch.setenv(settings.sms.password_env, smsc.password)
    app = VoiceAgent()
    await app.start(settings, records, speech=False)
    pid = patient_uuid("pat-1001")
    await records.consent_grant(pid, "sms", "tcpa_express", source="t", evidence_ref="t",
                                actor="t")
    # The loop reads the wall clock: a zone where it is midday now passes quiet hours.
    offset = 12 - dt.datetime.now(dt.UTC).hour
    zone = "Etc/GMT" + (f"+{-offset}" if offset < 0 else f"-{offset}") if offset else "UTC"
    await records.pool.execute("UPDATE patients SET time_zone = $1 WHERE id = $2", zone, pid)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=72)
    await add_appointment(records.pool, "t72", str(pid), start)
    dialer = DialerService.build(settings, records, NoTrunk(), app.appointments)
    texts = dialer.runner.texts
    assert texts is not None
    stop = asyncio.Event()
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(run_sms(settings, records, app, stop, texts))
            await smsc.wait("bound", timeout=20)
            await smsc.mo(DEMO_PHONE, settings.sms.from_number, "HELP")  # once answered,
            await smsc.wait("submit", timeout=20)  # the link and the handler are up
            assert texts.current is not None
            _, report = await dialer.run_pass()
            assert report.texted == 1
            sent = await smsc.wait("submit", timeout=20, dest=DEMO_PHONE)
            assert "Reply C to confirm" in sent["text"]
            await smsc.mo(DEMO_PHONE, settings.sms.from_number, "C")
            ack = await smsc.wait("submit", timeout=20, dest=DEMO_PHONE)
            assert "confirmed" in ack["text"]
            assert await app.appointments.state("t72") is AppointmentState.CONFIRMED
            stop.set()
        assert texts.current is None  # link down: text reminders wait
    finally:
        await app.stop()
