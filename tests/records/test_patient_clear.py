"""``Records.clear_patient_fields``: an EHR deleted a patient's phone number or birth
date; the record no longer holds it (embedded Postgres). Audited with the field names,
never a value; a name cannot be cleared; no caller is matched to a deleted number."""

from __future__ import annotations

import datetime as dt

import pytest

from carrier.records.store import Records

pytestmark = pytest.mark.postgres


async def test_clearing_a_phone_and_birth_date_is_audited_without_values(
        records: Records) -> None:
    pid = await records.add_patient("Testa Patientson", "+15555550181",
                                    dob=dt.date(1971, 4, 5), actor="t", reason="t")
    cleared = await records.clear_patient_fields(pid, ["phone", "dob"], actor="staff-1",
                                                 reason="EHR deleted")
    assert cleared == ("dob", "phone")
    p = await records.get_patient(pid, actor="t", reason="t")
    assert p is not None
    assert (p.name, p.phone, p.dob) == ("Testa Patientson", "", None)
    assert await records.patient_ids_at("+15555550181") == []
    row = await records.pool.fetchrow(
        "SELECT actor, details FROM audit_log WHERE action = 'patient.clear'")
    assert row["actor"] == "staff-1"
    assert "phone" in row["details"]
    assert "0181" not in row["details"]
    assert "1971" not in row["details"]
    # Again: nothing held a value, nothing to audit.
    assert await records.clear_patient_fields(pid, ["phone"], actor="t", reason="t") == ()
    assert await records.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'patient.clear'") == 1


async def test_a_name_cannot_be_cleared(records: Records) -> None:
    pid = await records.add_patient("Testa Patientson", "+15555550182", actor="t",
                                    reason="t")
    with pytest.raises(ValueError, match="can be cleared"):
        await records.clear_patient_fields(pid, ["name"], actor="t", reason="t")
