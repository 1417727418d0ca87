"""PID-3 repeated: a patient known under two identifiers of two assigning authorities
(the clinic's MRN and the hospital's), as EHRs send after a referral or an interface
change, in either order. Over MLLP (``mllp_send``) into the embedded Postgres.
Before: the first MR-typed repetition alone was the key, so the same two identifiers in
the other order made a second patient with the same phone. Now each MR identifier finds
the patient (and is linked to them); two that name two different patients on file are
refused (AE 205), never merged by a message."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from carrier.records.store import Records
from tests.feeds.conftest import Listening, ack_fields, mllp_send, now_utc, stored_patient
from tests.feeds.hl7_samples import ts


def a08(control: str, sent: dt.datetime, pid3: str, given: str,
        phone: str = "(555)555-0152") -> bytes:
    segs = [f"MSH|^~\\&|EHR|NORTH|CARRIER|CARRIER|{ts(sent)}||ADT^A08^ADT_A01|{control}"
            "|P|2.5.1", f"EVN|A08|{ts(sent)}",
            f"PID|1||{pid3}||Testa^{given}||19800101|F|||^^^NY||{phone}", "PV1|1|O"]
    return ("\r".join(segs) + "\r").encode()


@pytest.mark.postgres
async def test_two_authorities_in_either_order_are_one_patient(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc()
    acks = await mllp_send(hl7_server.port, [
        a08("P1", now - dt.timedelta(hours=3), "PX1^^^NORTH^MR~PY1^^^SOUTH^MR", "Anna"),
        a08("P2", now - dt.timedelta(hours=2), "PY1^^^SOUTH^MR~PX1^^^NORTH^MR", "Bella"),
        a08("P3", now - dt.timedelta(hours=1), "PY1^^^SOUTH^MR", "Cara"),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AA", "AA"]
    assert await records.pool.fetchval("SELECT count(*) FROM patients") == 1
    for authority, mrn in (("NORTH", "PX1"), ("SOUTH", "PY1")):
        patient = await stored_patient(hl7_server.store, records, mrn, authority)
        assert patient is not None
        assert patient["name"] == "Cara Testa"


@pytest.mark.postgres
async def test_identifiers_of_two_patients_on_file_are_refused(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc()
    acks = await mllp_send(hl7_server.port, [
        a08("Q1", now - dt.timedelta(hours=3), "QX1^^^NORTH^MR", "Anna", "(555)555-0153"),
        a08("Q2", now - dt.timedelta(hours=3), "QY1^^^SOUTH^MR", "Dora", "(555)555-0154"),
        a08("Q3", now - dt.timedelta(hours=1), "QX1^^^NORTH^MR~QY1^^^SOUTH^MR", "Erin"),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AA", "AE"]
    assert ack_fields(acks[2])["ERR"][3].startswith("205^")
    names = set()
    for authority, mrn in (("NORTH", "QX1"), ("SOUTH", "QY1")):
        patient = await stored_patient(hl7_server.store, records, mrn, authority)
        assert patient is not None
        names.add(patient["name"])
    assert names == {"Anna Testa", "Dora Testa"}


@pytest.mark.postgres
async def test_a_national_identifier_is_never_the_key(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    """PID-3 with a Social Security number first and the clinic's id untyped after it (or
    nothing else). Before: with no MR-typed repetition the first was the key, so the SSN
    became the patient's feed identifier (kept, and written back to the EHR in PID-3 of
    every outcome). Now SS, driver's licence and passport numbers are passed over; a PID-3
    of nothing else is refused (AE 101 at PID^1^3)."""
    now = now_utc()
    acks = await mllp_send(hl7_server.port, [
        a08("N1", now - dt.timedelta(hours=2), "555010101^^^USSSA^SS~NC1^^^NORTH", "Anna",
            "(555)555-0155"),
        a08("N2", now - dt.timedelta(hours=1), "555010102^^^USSSA^SS", "Bella",
            "(555)555-0156"),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AE"]
    assert ack_fields(acks[1])["ERR"][2:4] == ["PID^1^3", "101^Required field missing^HL70357"]
    assert await stored_patient(hl7_server.store, records, "NC1") is not None
    assert await stored_patient(hl7_server.store, records, "555010101", "USSSA") is None
    assert await records.pool.fetchval("SELECT count(*) FROM patients") == 1
