"""SMS test fixtures: the npm-registry SMSC, and the whole text stack on a real Postgres
(records, gate, consent ledger, calendar, the one memory) bound to it over SMPP."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from agent.callback import records_hand_off
from agent.i18n import load_overlays
from agent.language import RecordsLanguages
from agent.memory import PostgresMemoryStore
from agent.scheduling.postgres import PostgresCalendar
from agent.sms import WORKFLOW, TextReminders
from agent.workflow.loader import load_workflow
from agent.workflow.records import ClinicInfo
from carrier.dialer.gate import Gate
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.records_adapter import RecordsDecisionRecorder, RecordsDirectory, RecordsFacts
from carrier.dialer.store import OutreachStore
from carrier.records.store import Records
from carrier.sms.service import SmsService
from carrier.sms.settings import SmsSettings
from carrier.sms.smpp import InboundText, SmppLink
from tests.dialer.conftest import RULES, START, FakeClock
from tests.peers.smsc_peer import Smsc

NY = ZoneInfo("America/New_York")
OURS = "+15550100100"
PHONE = "+12125550171"
DOB = dt.date(1980, 3, 5)
WORKFLOWS = Path(__file__).parents[2] / "config" / "workflows"
CLINIC = ClinicInfo("Demo Clinic", "+15550100100", "America/New_York")


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(db_url, user="carrier_app", min_size=1, max_size=6)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def smsc() -> AsyncIterator[Smsc]:
    peer = await Smsc.start()
    try:
        yield peer
    finally:
        await peer.stop()


@dataclass
class Stack:
    clock: FakeClock
    service: SmsService
    reminders: TextReminders
    memory: PostgresMemoryStore
    patient: str
    smsc: Smsc
    inbox: asyncio.Queue[InboundText]

    async def text_from_phone(self, text: str) -> None:
        """The phone texts us; the service handles it (bounded wait on the SMSC process)."""
        await self.smsc.mo(PHONE, OURS, text)
        await self.service.on_inbound(await asyncio.wait_for(self.inbox.get(), 10))


def facts_reader(records: Records):  # type: ignore[no-untyped-def]
    """The patient's record as workflows read it (first name, date of birth)."""
    async def patient_facts(patient_id: str) -> dict[str, Any] | None:
        p = await records.get_patient(uuid.UUID(patient_id), actor="agent", reason="text")
        if p is None:
            return None
        first, _, last = p.name.partition(" ")
        return {"id": patient_id, "first_name": first, "last_name": last,
                "dob": p.dob.isoformat() if p.dob else "", "phone": p.phone,
                "language": p.language or ""}
    return patient_facts


@pytest.fixture
async def stack(pool: asyncpg.Pool, records: Records, smsc: Smsc) -> AsyncIterator[Stack]:
    pid = await records.add_patient("Test Patient A", PHONE, dob=DOB, actor="t", reason="t")
    for channel in ("voice", "sms"):
        await records.consent_grant(pid, channel, "tcpa_express", source="intake",
                                    evidence_ref="form-1", actor="t")
    await records.import_national_dnc(["+12125550199"], source="ftc", actor="t", at=START)
    clock = FakeClock()
    inbox: asyncio.Queue[InboundText] = asyncio.Queue()

    async def on_text(message: InboundText) -> None:
        await inbox.put(message)

    link = SmppLink("127.0.0.1", smsc.port, smsc.system_id, smsc.password, source=OURS,
                    rate_per_s=50.0, on_text=on_text)
    memory = PostgresMemoryStore(pool, keys=records.keys)
    async with link:
        service = SmsService(link, records, Gate(RULES, PackageHolidays(RULES)),
                             settings=SmsSettings(enabled=True), facts=RecordsFacts(records),
                             history=OutreachStore(pool), locks=OutreachStore(pool),
                             directory=RecordsDirectory(records),
                             recorder=RecordsDecisionRecorder(records), clock=clock.now)
        reminders = TextReminders(
            load_workflow(WORKFLOWS / f"{WORKFLOW}.yaml"), PostgresCalendar(pool, tz=NY),
            memory, clinic=CLINIC, patient_facts=facts_reader(records),
            send=service.send_to_patient, reply=service.reply,
            template=service.settings.reminder_template, clock=clock.now, revoke=service.revoke,
            revoke_number=service.revoke_number, answer=service.answer,
            overlays=load_overlays(WORKFLOWS / "es"),  # as agent.runtime wires it
            hand_off=records_hand_off(records, channel="sms"),
            languages=RecordsLanguages(records))
        service.handler = reminders
        async with reminders:
            yield Stack(clock, service, reminders, memory, str(pid), smsc, inbox)
