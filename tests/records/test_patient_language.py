"""A patient's preferred language: stored in clear, only a supported code, every change
audited with what it was (before: no such field; a Spanish-speaking patient was called in
English every time)."""

from __future__ import annotations

import datetime as dt
import json
from uuid import uuid4

import pytest

from carrier.records.languages import language_code
from carrier.records.patients import PatientFields
from carrier.records.store import Records

pytestmark = pytest.mark.postgres

NAME = "Testa Patientson"
PHONE = "+15555550102"


async def test_the_preferred_language_is_kept_and_every_change_audited(records: Records
                                                                      ) -> None:
    pid = await records.add_patient(NAME, PHONE, actor="op:test", reason="intake")
    found = await records.get_patient(pid, actor="op:test", reason="care")
    assert found is not None
    assert found.language is None
    assert await records.set_patient_language(pid, "es", actor="op:test", reason="asked")
    assert await records.set_patient_language(pid, "en", actor="agent", reason="call c-1")
    again = await records.get_patient(pid, actor="op:test", reason="care")
    assert again is not None
    assert again.language == "en"
    rows = await records.pool.fetch(
        "SELECT actor, details FROM audit_log WHERE action = 'patient.language' ORDER BY seq")
    details = [json.loads(r["details"]) if isinstance(r["details"], str) else r["details"]
               for r in rows]
    assert [(r["actor"], d["was"], d["language"]) for r, d in zip(rows, details, strict=True)] \
        == [("op:test", "-", "es"), ("agent", "es", "en")]
    assert not await records.set_patient_language(uuid4(), "es", actor="op:test", reason="x")


async def test_an_unsupported_language_is_refused_before_anything_is_written(
        records: Records) -> None:
    pid = await records.add_patient(NAME, PHONE, actor="op:test", reason="intake")
    with pytest.raises(ValueError, match="language must be one of en, es"):
        await records.set_patient_language(pid, "fr", actor="op:test", reason="x")
    assert await records.pool.fetchval("SELECT language FROM patients WHERE id = $1",
                                       pid) is None


async def test_feed_fields_carry_the_language_and_a_missing_one_keeps_the_stored(
        records: Records) -> None:
    pid = uuid4()
    async with records.pool.acquire() as conn, conn.transaction():
        await records.create_patients_on(
            conn, [(pid, PatientFields(NAME, PHONE, None, None, "es"))],
            at=dt.datetime.now(dt.UTC))
        await records.update_patients_on(conn, [(pid, PatientFields(name="Testa Other"))])
    assert await records.pool.fetchval("SELECT language FROM patients WHERE id = $1",
                                       pid) == "es"


@pytest.mark.parametrize(("text", "code"), [
    ("es", "es"), ("ES", "es"), ("es-MX", "es"), ("SPA", "es"), ("Spanish", "es"),
    ("Español", "es"), ("eng", "en"), ("en-US", "en"), ("English", "en"),
    ("fr", None), ("French", None), ("", None), (None, None), ("esperanto", None),
    ("espa", None)])
def test_language_codes_as_feeds_and_operators_write_them(text: str | None,
                                                          code: str | None) -> None:
    assert language_code(text) == code
