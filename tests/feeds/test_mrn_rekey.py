"""Patient identifiers stored before HL7 fields were cleaned (a tab, a ``\\X09\\``, two
spaces in an MRN) still find their patient: the first time the store applies anything, the
rows keyed as received are re-keyed by the cleaned form (migration 0503 marks them), on the
embedded Postgres. Two stored patients whose identifiers meet once cleaned are never
merged: the one already holding the key keeps it, the others are listed and audited, and
while nobody holds the key a message naming it is refused (AE 205), not a new patient.

Before, a message for ``W\\X09\\501`` (stored as ``W<TAB>501``) made a second patient."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from carrier.feeds.bulk import apply_many
from carrier.feeds.store import AmbiguousPatient, FeedItem, FeedStore, PatientIn
from carrier.records.crypto import blind_index
from carrier.records.patients import PatientFields
from carrier.records.store import Records
from tests.feeds.conftest import Listening, ack_fields, mllp_send, now_utc
from tests.feeds.hl7_samples import adt
from tests.feeds.test_csv_import import _carrier

pytestmark = pytest.mark.postgres


async def _legacy(store: FeedStore, mrn: str, phone: str, *, form: int = 0) -> UUID:
    """A patient linked as the feeds did before (key of the identifier as received)."""
    records, now = store.records, now_utc()
    bidx = blind_index(records.keys.index_key, f"CLINIC|{mrn}")
    pid = uuid4()
    async with records.pool.acquire() as conn, conn.transaction():
        await records.create_patients_on(conn, [(pid, PatientFields(
            "Testa Patientson", phone))], now)
        await conn.execute(
            "INSERT INTO feed_patients (ref_bidx, authority, ref_ct, patient_id, updated_at,"
            " source_ts, key_form) VALUES ($1, 'CLINIC', $2, $3, $4, $4, $5)", bidx,
            records.keys.encrypt(mrn, "feed_patients", "ref_ct", bidx.hex()), pid,
            now - dt.timedelta(days=30), form)
    return pid


async def _phone(records: Records, pid: UUID) -> str | None:
    patient = await records.get_patient(pid, actor="test", reason="check")
    assert patient is not None
    return patient.phone


async def _audited(records: Records, action: str) -> set[str]:
    rows = await records.pool.fetch(
        "SELECT record_id FROM audit_log WHERE action = $1", action)
    return {r["record_id"] for r in rows}


async def test_identifiers_stored_before_cleaning_find_their_patient(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    store = hl7_server.store
    tab = await _legacy(store, "W\t501", "+15555550101")  # read from W\X09\501 before
    held = await _legacy(store, "W 502", "+15555550102")
    spaced = await _legacy(store, "W  502", "+15555550103")  # meets "W 502" once cleaned
    twin_a = await _legacy(store, "W\t503", "+15555550104")  # these two meet each other
    twin_b = await _legacy(store, "W\x0b503", "+15555550105")
    since = await _legacy(store, "W 504", "+15555550106", form=1)  # keyed since the change
    old = await _legacy(store, "W\t504", "+15555550107")
    patients = await records.pool.fetchval("SELECT count(*) FROM patients")
    sent = now_utc()
    acks = await mllp_send(hl7_server.port, [
        adt("A08", "R1", mrn="W\\X09\\501", sent=sent, phone="(555)555-0111"),
        adt("A08", "R2", mrn="W 502", sent=sent, phone="(555)555-0112"),
        adt("A08", "R3", mrn="W 503", sent=sent, phone="(555)555-0113"),
        adt("A08", "R4", mrn="W\\X09\\504", sent=sent, phone="(555)555-0114"),
    ], tmp_path)
    got = [ack_fields(a) for a in acks]
    assert [f["MSA"][1:3] for f in got] == [["AA", "R1"], ["AA", "R2"], ["AE", "R3"],
                                            ["AA", "R4"]]
    assert got[2]["ERR"][3].split("^")[0] == "205"
    # No patient was made, none merged; each message reached the one patient it names.
    assert await records.pool.fetchval("SELECT count(*) FROM patients") == patients
    assert await _phone(records, tab) == "+15555550111"
    assert await _phone(records, held) == "+15555550112"
    assert await _phone(records, spaced) == "+15555550103"
    assert await _phone(records, twin_a) == "+15555550104"
    assert await _phone(records, twin_b) == "+15555550105"
    assert await _phone(records, since) == "+15555550114"
    assert await _phone(records, old) == "+15555550107"
    # The re-keyed MRN is the one the EHR sent, for the write-back.
    row = await records.pool.fetchrow(
        "SELECT ref_bidx, ref_ct, key_form FROM feed_patients WHERE patient_id = $1", tab)
    assert row["key_form"] == 1
    assert records.keys.decrypt_str(bytes(row["ref_ct"]), "feed_patients", "ref_ct",
                                    bytes(row["ref_bidx"]).hex()) == "W\t501"
    assert await _audited(records, "feed.patient.rekey") == {str(tab)}
    conflicted = {str(spaced), str(twin_a), str(twin_b), str(old)}
    assert await _audited(records, "feed.patient.key_conflict") == conflicted
    assert {str(r["patient_id"]) for r in await records.pool.fetch(
        "SELECT patient_id FROM feed_key_conflicts")} == conflicted
    assert await records.pool.fetchval(
        "SELECT count(*) FROM feed_patients WHERE key_form = 0") == 0


async def test_a_csv_row_for_an_ambiguous_identifier_makes_no_patient(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    store = hl7_server.store
    await _legacy(store, "W\t601", "+15555550121")
    await _legacy(store, "W\x0c601", "+15555550122")
    patients = await records.pool.fetchval("SELECT count(*) FROM patients")
    item = FeedItem("CLINIC", "csv:1", "csv", PatientIn("CLINIC", "W 601", "Testa Patientson",
                                                        "+15555550123", None), None,
                    fields=("last_name", "phone", "mrn"))
    with pytest.raises(AmbiguousPatient) as refused:
        await apply_many(store, [item], now_utc())
    assert refused.value.field == "mrn"
    assert await records.pool.fetchval("SELECT count(*) FROM patients") == patients


async def test_the_import_command_says_why_an_ambiguous_row_is_not_loaded(
        hl7_server: Listening, records: Records, db_url: str, tmp_path: Path) -> None:
    """Before, a row the store refused as a whole file (here: an identifier two stored
    patients meet in) reached the operator as a Python traceback; now it is one line naming
    the column, and nothing is loaded."""
    store = hl7_server.store
    await _legacy(store, "W\t701", "+15555550131")
    await _legacy(store, "W\x0c701", "+15555550132")
    await store.ready(now_utc())  # as the feeds' first apply would
    patients = await records.pool.fetchval("SELECT count(*) FROM patients")
    good = tmp_path / "one.csv"
    good.write_text("mrn,authority,first_name,last_name,phone,appointment_id,start\n"
                    "W 701,CLINIC,Ann,Testa,555-555-0133,B1,2030-01-07T09:00\n")
    code, out, err = await _carrier("schedule", "import", str(good), "--database-url", db_url,
                                    "--data-dir", str(tmp_path / "var"), cwd=tmp_path)
    assert code == 1, out
    assert "Traceback" not in err
    assert "mrn" in err
    assert "nothing loaded" in err
    assert "Testa" not in err
    assert await records.pool.fetchval("SELECT count(*) FROM patients") == patients
