"""Two patients at one number (a parent and a child, a couple): the caps count the number.

The healthcare exemption allows one call a day and three a week to the person called, and
a state's attempt cap counts calls to that person: the phone rings for whoever answers it,
whichever patient the reminder is about. Before: the caps counted calls per patient only
and gate + dial were serialised per patient, so both patients' reminders rang the same
phone the same morning (one worker or two racing). Now the facts count every call to
any patient at the number, and gate + dial hold the number's lock too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from uuid import UUID

import asyncpg
import pytest

from agent.scheduling.outreach import CalendarAppointments
from carrier.dialer.campaign import PERMANENT_RULES, CampaignPolicy
from carrier.dialer.records_adapter import RecordsDecisionRecorder, RecordsDirectory, RecordsFacts
from carrier.dialer.runner import DialerRunner
from carrier.dialer.store import OutreachStore
from carrier.dialer.sync import sync_campaigns
from carrier.records.store import Records
from tests.dialer.conftest import START, FakeClock, FakeDialer, make_runner
from tests.dialer.test_integration_records import add_appointment

pytestmark = pytest.mark.postgres

SHARED = "+12125550184"


async def _two_patients_one_number(records: Records) -> list[str]:
    ids = []
    for name, number in (("Testa Patientson", SHARED), ("Testo Patientson", "(212) 555-0184")):
        pid = await records.add_patient(name, number, actor="t", reason="t")
        await records.consent_grant(pid, "voice", "tcpa_express", source="intake",
                                    evidence_ref="form-1", actor="t")
        await add_appointment(records.pool, f"a-{pid}", str(pid), START + dt.timedelta(hours=2))
        ids.append(str(pid))
    store = OutreachStore(records.pool)
    await sync_campaigns(store, CalendarAppointments(records.pool), CampaignPolicy(), START)
    return ids


def _wire(runner: DialerRunner, records: Records) -> DialerRunner:
    runner.facts = RecordsFacts(records)
    runner.directory = RecordsDirectory(records)
    runner.recorder = RecordsDecisionRecorder(records)
    return runner


async def test_one_exempt_call_a_day_to_a_number_shared_by_two_patients(
    records: Records,
) -> None:
    await _two_patients_one_number(records)
    clock = FakeClock()
    dialer = FakeDialer(clock)
    report = await _wire(make_runner(records.pool, clock, dialer), records).run_once()
    assert len(dialer.dials) == 1
    assert report.refused == Counter({"cap.exempt.daily": 1})


async def test_two_workers_racing_on_one_number_ring_it_once(
    records: Records, db_url: str
) -> None:
    await _two_patients_one_number(records)
    clock = FakeClock()
    dialer = FakeDialer(clock, yields=20)
    pools = [await asyncpg.create_pool(db_url, user="carrier_app", min_size=1, max_size=4)
             for _ in range(2)]
    try:
        runners = [_wire(make_runner(p, clock, dialer, worker=f"w{i}"), records)
                   for i, p in enumerate(pools)]
        reports = await asyncio.gather(*(r.run_once(limit=1) for r in runners))
    finally:
        for p in pools:
            await p.close()
    assert [r.leased for r in reports] == [1, 1]
    assert len(dialer.dials) == 1
    assert sum((r.refused for r in reports), Counter()) == Counter({"cap.exempt.daily": 1})


async def test_stop_said_by_one_patient_stops_calls_to_the_number(records: Records) -> None:
    """"Stop calling this number", said on a reminder for one patient, stops the reminders
    of everyone at that phone (as ``Records.has_consent`` reads the ledger: nobody at the
    number revoked). Before: the other patient's reminder rang the same phone."""
    said_stop, _other = await _two_patients_one_number(records)
    await records.consent_revoke(UUID(said_stop), "voice", source="call_voice",
                                 evidence_ref="call-1", actor="agent")
    clock = FakeClock()
    dialer = FakeDialer(clock)
    report = await _wire(make_runner(records.pool, clock, dialer), records).run_once()
    assert dialer.dials == []
    assert report.refused == Counter({"tcpa.consent.revoked": 1,
                                      "tcpa.consent.revoked_at_number": 1})
    assert not await records.has_consent(SHARED, "voice", "tcpa_express")
    assert "tcpa.consent.revoked_at_number" in PERMANENT_RULES
