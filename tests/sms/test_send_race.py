"""Two SMS workers texting one patient at once cannot both pass the daily cap.

The healthcare exemption allows one call or text a day to the person reached. Before:
``SmsService.send_to_patient`` gated and logged without any lock, so two workers (two
``carrier serve`` processes, or the dialer's text reminder beside a text the application
sent) both read "nothing today", both were allowed, and the phone got two texts the same
day. Now gate + log run under the patient's and the number's transaction-scoped advisory
locks, the same ones the voice dialer's gate + dial hold, so a text and a call are
serialised too.

The race is made certain, not left to chance: each worker pauses after reading its prior
contacts until the other has read its own too, or is waiting on a lock (seen in
``pg_locks``); no sleep, no timing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import pytest

from agent.scheduling.outreach import CalendarAppointments
from carrier.dialer.campaign import CampaignPolicy
from carrier.dialer.gate import DialRefused, Gate, PriorCall
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.records_adapter import RecordsDecisionRecorder, RecordsDirectory, RecordsFacts
from carrier.dialer.runner import PassReport
from carrier.dialer.store import OutreachStore
from carrier.dialer.sync import sync_campaigns
from carrier.records.store import Records
from carrier.sms.service import SmsService
from carrier.sms.settings import SmsSettings
from tests.dialer.conftest import RULES, START, FakeClock, FakeDialer, make_runner
from tests.dialer.test_integration_records import add_appointment

pytestmark = pytest.mark.postgres
PHONE = "+12125550176"


@dataclass
class Meeting:
    pool: asyncpg.Pool
    arrived: int = 0
    looks: int = 0

    async def someone_waits_on_a_lock(self) -> bool:
        return bool(await self.pool.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))


@dataclass
class PausingHistory:
    """The real prior contacts; then wait for the other worker (see the module doc)."""

    real: OutreachStore
    meeting: Meeting

    async def prior_calls(self, patient_ids: Sequence[str], since: dt.datetime
                          ) -> list[PriorCall]:
        got = await self.real.prior_calls(patient_ids, since)
        self.meeting.arrived += 1
        # Each look is a query: the loop runs the other worker meanwhile.
        while self.meeting.arrived < 2 and not await self.meeting.someone_waits_on_a_lock():
            self.meeting.looks += 1
        return got


@dataclass
class Sent:
    """The transport's boundary (the SMPP link in production): what was handed over."""

    texts: list[str] = field(default_factory=list)

    async def send(self, to: str, text: str) -> list[str]:
        self.texts.append(to)
        return [f"id{len(self.texts)}"]


async def test_two_workers_texting_one_patient_send_one_text(
    records: Records, db_url: str
) -> None:
    pid = await records.add_patient("Testa Patientson", PHONE, actor="t", reason="t")
    await records.consent_grant(pid, "sms", "tcpa_express", source="intake",
                                evidence_ref="form-1", actor="t")
    clock, sent = FakeClock(), Sent()
    meeting = Meeting(records.pool)
    pools = [await asyncpg.create_pool(db_url, user="carrier_app", min_size=1, max_size=4)
             for _ in range(2)]
    try:
        workers = [
            SmsService(sent, records, Gate(RULES, PackageHolidays(RULES)),
                       settings=SmsSettings(enabled=True), facts=RecordsFacts(records),
                       history=PausingHistory(OutreachStore(p), meeting),
                       locks=OutreachStore(p), directory=RecordsDirectory(records),
                       recorder=RecordsDecisionRecorder(records), clock=clock.now)
            for p in pools]
        results = await asyncio.gather(
            *(w.send_to_patient(str(pid), "appointment_reminder", "Reminder: visit at 10")
              for w in workers), return_exceptions=True)
    finally:
        for p in pools:
            await p.close()
    assert sent.texts == [PHONE]
    refused = [r for r in results if isinstance(r, DialRefused)]
    assert [r.rule for r in refused] == ["cap.exempt.daily"]


class PausingStore(OutreachStore):
    """The voice dialer's store, pausing after its prior contacts like the texts'."""

    def __init__(self, pool: asyncpg.Pool, meeting: Meeting) -> None:
        super().__init__(pool)
        self.pause = PausingHistory(OutreachStore(pool), meeting)

    async def prior_calls(self, patient_ids: Sequence[str], since: dt.datetime
                          ) -> list[PriorCall]:
        return await self.pause.prior_calls(patient_ids, since)


async def test_a_text_and_a_call_to_one_phone_at_once_reach_it_once(
    records: Records, db_url: str
) -> None:
    """A parent's reminder by text and a child's by call, one phone, the same moment.
    Before: the dialer's text path held the patient's lock only and the SMS service none,
    while the call held the child's and the number's: both passed the daily cap."""
    ids = []
    for name in ("Testa Patientson", "Testo Patientson"):
        pid = await records.add_patient(name, PHONE, actor="t", reason="t")
        for channel in ("voice", "sms"):
            await records.consent_grant(pid, channel, "tcpa_express", source="intake",
                                        evidence_ref="form-1", actor="t")
        ids.append(str(pid))
    texted, called = ids
    await add_appointment(records.pool, "a1", called, START + dt.timedelta(hours=2))
    await sync_campaigns(OutreachStore(records.pool), CalendarAppointments(records.pool),
                         CampaignPolicy(), START)
    clock, sent = FakeClock(), Sent()
    dialer = FakeDialer(clock)
    meeting = Meeting(records.pool)
    pools = [await asyncpg.create_pool(db_url, user="carrier_app", min_size=1, max_size=4)
             for _ in range(2)]
    try:
        texts = SmsService(sent, records, Gate(RULES, PackageHolidays(RULES)),
                           settings=SmsSettings(enabled=True), facts=RecordsFacts(records),
                           history=PausingHistory(OutreachStore(pools[0]), meeting),
                           locks=OutreachStore(pools[0]), directory=RecordsDirectory(records),
                           recorder=RecordsDecisionRecorder(records), clock=clock.now)
        runner = make_runner(pools[1], clock, dialer)
        runner.store = PausingStore(pools[1], meeting)
        runner.facts = RecordsFacts(records)
        runner.directory = RecordsDirectory(records)
        runner.recorder = RecordsDecisionRecorder(records)
        text, report = await asyncio.gather(
            texts.send_to_patient(texted, "appointment_reminder", "Reminder: visit at 10"),
            runner.run_once(), return_exceptions=True)
    finally:
        for p in pools:
            await p.close()
    assert isinstance(report, PassReport)
    assert len(sent.texts) + len(dialer.dials) == 1
    rules = list(report.refused) + ([text.rule] if isinstance(text, DialRefused) else [])
    assert rules == ["cap.exempt.daily"]
