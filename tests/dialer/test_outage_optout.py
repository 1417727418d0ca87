"""An opt-out taken while the database is away is honoured by the very next dial.

A patient says "stop calling me" (a consent revocation) or asks to be put on the
organisation's do-not-call list while Postgres is away: both are durable at once, in the
records spools, and written when the server is back (on the writers' next replay). Before:
the gate's facts read the ledger and the list from Postgres only, so a pass that ran after
the server came back but before that replay (up to ``retry_interval`` later; an hour here,
so the test controls it) found the old grant and placed the call. Now the facts replay the
spools first, and where that cannot be done yet the gate refuses for now (rules
``tcpa.consent.unsettled`` / ``dnc.organisation.unsettled``, tried again later).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from agent.scheduling.outreach import CalendarAppointments
from carrier.dialer.campaign import PERMANENT_RULES, CampaignPolicy
from carrier.dialer.gate import Consent, Gate, GateFacts, GateRequest
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.records_adapter import RecordsDecisionRecorder, RecordsDirectory, RecordsFacts
from carrier.dialer.store import OutreachStore
from carrier.dialer.sync import sync_campaigns
from carrier.records.crypto import LocalKek
from carrier.records.embedded import EmbeddedPostgres
from carrier.records.store import Records
from tests.dialer.conftest import RULES, START, FakeClock, FakeDialer, make_runner
from tests.dialer.test_integration_records import add_appointment
from tests.dialer.test_outage_outcome import database_down

pytestmark = pytest.mark.postgres

REVOKES = "+12125550181"
LISTED = "+12125550182"


async def test_opt_outs_spooled_in_an_outage_stop_the_next_dial(
    pg_cluster: EmbeddedPostgres, db_url: str, tmp_path: Path, test_kek: LocalKek
) -> None:
    records = await Records.open(db_url, test_kek, tmp_path / "spool", retry_interval=3600)
    try:
        revokes = await records.add_patient("Testa Patientson", REVOKES, actor="t", reason="t")
        listed = await records.add_patient("Testo Patientson", LISTED, actor="t", reason="t")
        for pid in (revokes, listed):
            await records.consent_grant(pid, "voice", "tcpa_express", source="intake",
                                        evidence_ref="form-1", actor="t")
            await add_appointment(records.pool, f"a-{pid}", str(pid),
                                  START + dt.timedelta(hours=2))
        async with database_down(pg_cluster, db_url):
            await records.consent_revoke(revokes, "voice", source="call_voice",
                                         evidence_ref="call-1", actor="agent")
            await records.dnc_add(LISTED, source="voice_opt_out", actor="agent",
                                  reason="opt-out")
            assert records.consent_writer.spooled == 1
            assert records.outbox.spooled == 1

        # The server is back; the writers' own replay is an hour away.
        store = OutreachStore(records.pool)
        await sync_campaigns(store, CalendarAppointments(records.pool), CampaignPolicy(), START)
        clock = FakeClock()
        dialer = FakeDialer(clock)
        runner = make_runner(records.pool, clock, dialer)
        runner.facts = RecordsFacts(records)
        runner.directory = RecordsDirectory(records)
        runner.recorder = RecordsDecisionRecorder(records)
        report = await runner.run_once()
        assert dialer.dials == []
        assert dict(report.refused) == {"tcpa.consent.revoked": 1, "dnc.organisation": 1}
        assert records.consent_writer.spooled == 0
        assert records.outbox.spooled == 0
    finally:
        await records.close()


async def test_an_opt_out_not_yet_readable_defers_the_dial(
    pg_cluster: EmbeddedPostgres, db_url: str, tmp_path: Path, test_kek: LocalKek
) -> None:
    """While a spooled opt-out cannot be replayed (the server refuses it still), the facts
    say so and the gate refuses for now: never the old grant."""
    records = await Records.open(db_url, test_kek, tmp_path / "spool", retry_interval=3600)
    try:
        pid = await records.add_patient("Testa Patientson", REVOKES, actor="t", reason="t")
        await records.consent_grant(pid, "voice", "tcpa_express", source="intake",
                                    evidence_ref="form-1", actor="t")
        facts = RecordsFacts(records)
        async with database_down(pg_cluster, db_url):
            await records.consent_revoke(pid, "voice", source="call_voice",
                                         evidence_ref="call-1", actor="agent")
            await records.dnc_add(LISTED, source="voice_opt_out", actor="agent",
                                  reason="opt-out")
            consent = await facts.consent(str(pid))
            dnc = await facts.dnc(LISTED)
        assert consent.get("all") is Consent.UNKNOWN
        assert not dnc.org_settled
        gate = Gate(RULES, PackageHolidays(RULES))
        request = GateRequest(patient_id=str(pid), number=REVOKES,
                              purpose="appointment_reminder", number_given_by_patient=True,
                              free_to_patient=True)
        ok = GateFacts({"voice": Consent.GRANTED}, org_dnc=False, national_dnc=False,
                       national_copy_date=START.date())
        d = gate.decide(request, GateFacts(consent, False, False, START.date()), START)
        assert (d.allowed, d.rule) == (False, "tcpa.consent.unsettled")
        d = gate.decide(request, GateFacts(ok.consent, False, False, START.date(),
                                           org_dnc_settled=False), START)
        assert (d.allowed, d.rule) == (False, "dnc.organisation.unsettled")
        # Neither ends the outreach: it is asked again later.
        assert not {"tcpa.consent.unsettled", "dnc.organisation.unsettled"} & PERMANENT_RULES
    finally:
        await records.close()
