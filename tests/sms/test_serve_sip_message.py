"""`carrier serve` with ``sms.transport: sip``: ``run_sms`` takes texts by SIP MESSAGE
on the gateway's endpoint (an endpoint like the gateway's, trunk ACL on) and sends by
MESSAGE to the trunk owning ``sms.from_number``; pjsua2 is the phone behind the trunk.
Keywords, the dialer's text reminders and the reply "C" all go through the same service;
once it stops, MESSAGE is answered 405 again."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
import yaml

from agent.handler import patient_uuid
from agent.runtime import VoiceAgent
from carrier.dialer.service import DialerService
from carrier.plugin import AppointmentState
from carrier.records.store import Records
from carrier.settings import load_settings
from carrier.sip.endpoint import EndpointConfig, SipEndpoint
from carrier.sms.wiring import run_sms
from tests.dialer.test_integration_records import add_appointment
from tests.peers.client import PjsuaPeer, needs_pjsua2
from tests.sms.test_cli_e2e import config_dir
from tests.sms.test_serve_wiring import DEMO_PHONE, NoTrunk
from tests.sms.test_sip_message_pjsua import trunk_policy

pytestmark = [pytest.mark.postgres, pytest.mark.pjsua2, needs_pjsua2]
OURS = "+15550100100"


def sip_config(tmp_path: Path, phone_port: int) -> Path:
    folder = config_dir(tmp_path, transport="sip", reminders_by_text_h=[72])
    trunks = yaml.safe_load((folder / "trunks.yaml").read_text())
    trunks["trunks"][0]["port"] = phone_port  # the demo trunk is the pjsua phone
    (folder / "trunks.yaml").write_text(yaml.safe_dump(trunks))
    return folder


async def test_texts_by_sip_message_in_serve(tmp_path: Path, records: Records) -> None:
    app = VoiceAgent()
    config = EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None)
    async with (SipEndpoint(config, policy=trunk_policy("127.0.0.0/8")) as ep,
                PjsuaPeer.start("udp", user=DEMO_PHONE, log_dir=tmp_path) as phone):
        settings = load_settings(sip_config(tmp_path, phone.ports["udp"]))
        assert settings.sms.transport == "sip"
        await app.start(settings, records, speech=False)
        pid = patient_uuid("pat-1001")
        await records.consent_grant(pid, "sms", "tcpa_express", source="t",
                                    evidence_ref="t", actor="t")
        # The loop reads the wall clock: a zone where it is midday now passes quiet hours.
        offset = 12 - dt.datetime.now(dt.UTC).hour
        zone = "Etc/GMT" + (f"+{-offset}" if offset < 0 else f"-{offset}") if offset else "UTC"
        await records.pool.execute("UPDATE patients SET time_zone = $1 WHERE id = $2",
                                   zone, pid)
        start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=72)
        await add_appointment(records.pool, "s72", str(pid), start)
        dialer = DialerService.build(settings, records, NoTrunk(), app.appointments)
        us = f"sip:{OURS}@127.0.0.1:{ep.port('UDP')}"
        stop = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(run_sms(settings, records, app, stop, dialer.runner.texts,
                                          endpoint=ep))
                await phone.send_im(us, "HELP")  # a keyword, answered by MESSAGE
                assert (await phone.wait_event("im_status", timeout=10))["code"] == 200
                help_reply = await phone.wait_event("instant_message", timeout=10)
                assert "Msg & data rates" in help_reply["body"]
                _, report = await dialer.run_pass()  # the 72 h reminder, by MESSAGE
                assert report.texted == 1
                reminder = await phone.wait_event("instant_message", timeout=10)
                assert "Reply C to confirm" in reminder["body"]
                await phone.send_im(us, "C")
                ack = await phone.wait_event("instant_message", timeout=10)
                assert "confirmed" in ack["body"]
                assert await app.appointments.state("s72") is AppointmentState.CONFIRMED
                stop.set()
            await phone.send_im(us, "C")  # nobody takes texts now: 405, not a lost 200
            statuses = [await phone.wait_event("im_status", timeout=10) for _ in range(2)]
            assert statuses[-1]["code"] == 405
        finally:
            await app.stop()
