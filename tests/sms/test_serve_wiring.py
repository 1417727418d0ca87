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
from carrier.plugin import TextApplication
from carrier.records.store import Records
from carrier.settings import load_settings
from carrier.sms.wiring import run_sms
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
