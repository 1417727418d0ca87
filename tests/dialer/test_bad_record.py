"""One bad stored patient record is refused on its own; the pass goes on for everyone else.

Rows the records cannot use are real in an old or damaged database: a number kept as
typed (written before numbers were normalised), a cell that no longer decrypts (a row
restored under another key, or copied by hand), an appointment naming a patient id that
is not one of ours (the demo seed keeps a clinic-file id such as "pat-1009" when the file
lists no such patient). (A state that is not two capitals cannot be stored: the column's
CHECK refuses it.) Before: the contact lookup raised (ValueError,
DecryptError) in the middle of the pass, the pass ended, the service's loop ended with it,
and every other patient's reminder was lost. Now each such patient is refused with the
rule ``contact.invalid`` (or ``contact.unknown``), the refusal is in the audit log with
the field at fault (never its value), and the others are dialled.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from uuid import UUID

import pytest

from agent.scheduling.outreach import CalendarAppointments
from carrier.dialer.campaign import CampaignPolicy
from carrier.dialer.cli import _dry_run
from carrier.dialer.gate import Gate
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.records_adapter import RecordsDecisionRecorder, RecordsDirectory, RecordsFacts
from carrier.dialer.store import OutreachStore
from carrier.dialer.sync import sync_campaigns
from carrier.dialer.wiring import gate_once
from carrier.errors import ConfigError
from carrier.records.store import Records
from tests.dialer.conftest import RULES, START, FakeClock, FakeDialer, make_runner
from tests.dialer.test_integration_records import add_appointment

pytestmark = pytest.mark.postgres

BAD_NUMBER_AS_TYPED = "212-555-0192 ext"


async def _patient(records: Records, name: str, number: str) -> UUID:
    pid = await records.add_patient(name, number, actor="t", reason="t")
    await records.consent_grant(pid, "voice", "tcpa_express", source="intake",
                                evidence_ref="form-1", actor="t")
    return pid


async def test_bad_records_are_refused_one_by_one_and_the_rest_are_dialled(
    records: Records,
) -> None:
    pool = records.pool
    bad_number = await _patient(records, "Testb Patientson", "+12125550192")
    bad_cell = await _patient(records, "Testc Patientson", "+12125550193")
    good = await _patient(records, "Testd Patientson", "+12125550194")
    # Rows as a database written before the checks may hold them.
    await pool.execute(
        "UPDATE patients SET phone_ct = $2 WHERE id = $1", bad_number,
        records.keys.encrypt(BAD_NUMBER_AS_TYPED, "patients", "phone_ct", bad_number))
    # A cell sealed for another row (copied by hand): it fails authentication here.
    await pool.execute(
        "UPDATE patients SET name_ct = (SELECT name_ct FROM patients WHERE id = $2)"
        " WHERE id = $1", bad_cell, good)
    # Earlier appointments first: the bad ones are leased before the good one.
    for i, pid in enumerate((bad_number, bad_cell)):
        await add_appointment(pool, f"a{i}", str(pid),
                              START + dt.timedelta(hours=2, minutes=-3 + i))
    await add_appointment(pool, "a-mrn", "pat-1009", START + dt.timedelta(hours=2, minutes=-1))
    await add_appointment(pool, "a-good", str(good), START + dt.timedelta(hours=2))
    await sync_campaigns(OutreachStore(pool), CalendarAppointments(pool), CampaignPolicy(), START)

    # The operator's dry run reads the same records: it names the rule, no traceback.
    dry = await _dry_run(OutreachStore(pool), Gate(RULES, PackageHolidays(RULES)), records,
                         START, 50)
    assert "contact.invalid              2" in dry
    assert "contact.unknown              1" in dry

    clock = FakeClock()
    dialer = FakeDialer(clock)
    runner = make_runner(pool, clock, dialer)
    runner.facts = RecordsFacts(records)
    runner.directory = RecordsDirectory(records)
    runner.recorder = RecordsDecisionRecorder(records)
    report = await runner.run_once()

    assert [p for p, _, _ in dialer.dials] == [str(good)]
    assert report.refused == Counter({"contact.invalid": 2, "contact.unknown": 1})
    rows = await pool.fetch(
        "SELECT record_id, reason, details FROM audit_log WHERE action = 'dial.decision'"
        " ORDER BY seq")
    refused = {r["record_id"]: (r["reason"], r["details"])
               for r in rows if r["reason"] != "allowed"}
    assert len(refused) == 3
    fields = sorted(d for reason, d in refused.values() if reason == "contact.invalid")
    assert any('"gate_field":"phone"' in d.replace(" ", "") for d in fields)
    assert any('"gate_field":"record"' in d.replace(" ", "") for d in fields)
    for _, details in refused.values():
        assert "555-0192" not in details
        assert "2125550192" not in details
        assert "Patientson" not in details
    # The bad outreach waits for the record to be fixed; it is not dialled meanwhile.
    states = await pool.fetch("SELECT patient_id, state, last_rule FROM dialer_outreach")
    by_patient = {r["patient_id"]: (r["state"], r["last_rule"]) for r in states}
    assert by_patient[str(bad_number)] == ("pending", "contact.invalid")
    assert by_patient[str(bad_cell)] == ("pending", "contact.invalid")


async def test_a_one_off_decision_on_an_unusable_record_tells_the_operator(
    records: Records,
) -> None:
    """`carrier call` / the demo ask `gate_once`: before, a traceback (ValueError from the
    request); now the operator's error names the field, never its value."""
    pid = await _patient(records, "Teste Patientson", "+12125550195")
    await records.pool.execute(
        "UPDATE patients SET phone_ct = $2 WHERE id = $1", pid,
        records.keys.encrypt(BAD_NUMBER_AS_TYPED, "patients", "phone_ct", pid))
    with pytest.raises(ConfigError) as err:
        await gate_once(records, str(pid), "appointment_reminder", START)
    assert "stored phone cannot be used" in str(err.value)
    assert "555-0192" not in str(err.value)
