"""HL7 v2 says ``""`` in a field means "delete the value", an empty field "no change".
Over MLLP (``mllp_send``) into the embedded Postgres. A deleted phone number or birth date
is deleted from the record (``Records.clear_patient_fields_on``, audited by field name):
reminder calls must not go on to a number the EHR removed, and a patient with no number
left is refused by the dialer with a reason that says so. A deleted name or language
keeps the value on file (a name to greet them by is required; no language means English
anyway), and the AA says so (ERR severity W per field). Before: ``""`` was read as text
(first fix), then a deleted phone or birth date was kept on file (the EHR's deletion
ignored, the calls to the removed number went on)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from agent.scheduling.outreach import CalendarAppointments
from carrier.dialer.campaign import CampaignPolicy
from carrier.dialer.records_adapter import RecordsDecisionRecorder, RecordsDirectory, RecordsFacts
from carrier.dialer.store import OutreachStore
from carrier.dialer.sync import sync_campaigns
from carrier.records.store import Records
from tests.dialer.conftest import START, FakeClock, FakeDialer, make_runner
from tests.dialer.test_integration_records import add_appointment
from tests.feeds.conftest import Listening, ack_fields, mllp_send, now_utc, stored_patient
from tests.feeds.hl7_samples import ts

pytestmark = pytest.mark.postgres


def a0x(trigger: str, control: str, sent: dt.datetime, *, name: str = "Testa^Anna",
        dob: str = "19800101", phone: str = "(555)555-0141", lang: str = "SPA") -> bytes:
    segs = [f"MSH|^~\\&|EHR|NORTH|CARRIER|CARRIER|{ts(sent)}||ADT^{trigger}^ADT_A01|{control}"
            "|P|2.5.1", f"EVN|{trigger}|{ts(sent)}",
            f"PID|1||NU1^^^NORTH^MR||{name}||{dob}|F|||^^^NY||{phone}||{lang}", "PV1|1|O"]
    return ("\r".join(segs) + "\r").encode()


async def test_deleted_fields_keep_what_is_on_file_and_the_ack_says_so(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc()
    acks = await mllp_send(hl7_server.port, [
        a0x("A04", "NU1", now - dt.timedelta(hours=3)),
        a0x("A08", "NU2", now - dt.timedelta(hours=2), name='""', dob='""', phone='""',
            lang='""'),
        a0x("A08", "NU3", now - dt.timedelta(hours=1), name='Testa^""'),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AA", "AA"]
    errs = [seg.split("|") for seg in acks[1].decode().split("\r") if seg.startswith("ERR")]
    assert sorted((e[2], e[4]) for e in errs) == [("PID^1^15", "W"), ("PID^1^5", "W")]
    assert all("kept" in e[8] for e in errs)
    patient = await stored_patient(hl7_server.store, records, "NU1")
    assert patient is not None
    assert patient["name"] == "Anna Testa"
    # NU2 deleted both (test below); NU3 gives them again
    assert (patient["dob"], patient["phone"]) == ("1980-01-01", "+15555550141")
    assert patient["language_feed"] == "es"


async def test_a_deleted_phone_number_is_no_longer_called(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    """A08 PID-13 ``""``: the EHR removed the number. Before: it stayed on file and the
    reminder calls went on to it. Now it is cleared (audited by field name, no value), the
    patient's planned reminder is refused ``contact.invalid`` "no phone number on file",
    nothing is dialled; a later A08 with a new number makes them callable again."""
    now = now_utc()
    acks = await mllp_send(hl7_server.port, [
        a0x("A04", "ND1", now - dt.timedelta(hours=3), phone="(555)555-0142"),
        a0x("A08", "ND2", now - dt.timedelta(hours=2), phone='""', dob='""'),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AA"]
    patient = await stored_patient(hl7_server.store, records, "NU1")
    assert patient is not None
    assert (patient["phone"], patient["dob"]) == ("", None)
    assert await records.find_patients_by_phone("+15555550142", actor="t", reason="t") == []
    audit = await records.pool.fetch(
        "SELECT actor, details FROM audit_log WHERE action = 'patient.clear'"
        " AND record_id = $1", str(patient["id"]))
    assert len(audit) == 1
    assert audit[0]["actor"] == "feed"
    assert "phone" in audit[0]["details"]
    assert "dob" in audit[0]["details"]
    assert "0142" not in audit[0]["details"]
    assert "1980" not in audit[0]["details"]

    pool = records.pool
    await records.consent_grant(patient["id"], "voice", "tcpa_express", source="intake",
                                evidence_ref="form-1", actor="t")
    await add_appointment(pool, "nd-a1", str(patient["id"]), START + dt.timedelta(hours=2))
    await sync_campaigns(OutreachStore(pool), CalendarAppointments(pool), CampaignPolicy(),
                         START)
    clock = FakeClock()
    dialer = FakeDialer(clock)
    runner = make_runner(pool, clock, dialer)
    runner.facts = RecordsFacts(records)
    runner.directory = RecordsDirectory(records)
    runner.recorder = RecordsDecisionRecorder(records)
    report = await runner.run_once()
    assert dialer.dials == []
    assert report.refused == Counter({"contact.invalid": 1})
    details = await pool.fetchval(
        "SELECT details FROM audit_log WHERE action = 'dial.decision' ORDER BY seq DESC"
        " LIMIT 1")
    assert "no phone number on file" in details

    acks = await mllp_send(hl7_server.port, [
        a0x("A08", "ND3", now - dt.timedelta(hours=1), phone="(555)555-0143")], tmp_path)
    assert ack_fields(acks[0])["MSA"][1] == "AA"
    again = await stored_patient(hl7_server.store, records, "NU1")
    assert again is not None
    assert again["phone"] == "+15555550143"
