"""The preferred language as the EHR feeds give it: HL7 PID-15 (over MLLP on 127.0.0.1),
FHIR Patient.communication, the CSV ``language`` column. Before: no feed read it, and a
patient the EHR knew as Spanish-speaking was called in English."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from carrier.feeds.csv_import import validate_schedule_csv
from carrier.feeds.fhir_poll import patient_in
from carrier.records.store import Records
from tests.feeds.conftest import Listening, ack_fields, mllp_send, now_utc
from tests.feeds.hl7_samples import adt, siu


def with_pid15(message: bytes, language: str) -> bytes:
    """``message`` with PID-14 empty and PID-15 (primary language) set."""
    segments = message.decode().split("\r")
    return "\r".join(s + f"||{language}" if s.startswith("PID|") else s
                     for s in segments).encode()


async def _language(records: Records) -> str | None:
    return await records.pool.fetchval(
        "SELECT p.language FROM patients p JOIN feed_patients f ON f.patient_id = p.id")


@pytest.mark.postgres
async def test_pid15_sets_the_language_and_a_message_without_it_keeps_it(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc()
    start = (now + dt.timedelta(days=2)).replace(microsecond=0, second=0)
    acks = await mllp_send(hl7_server.port, [
        with_pid15(siu("S12", "L1", start=start, sent=now - dt.timedelta(hours=3)),
                   "SPA^Spanish^HL70296"),
        adt("A08", "L2", sent=now - dt.timedelta(hours=2)),  # no PID-15: kept
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AA"]
    assert await _language(records) == "es"
    acks = await mllp_send(hl7_server.port, [
        with_pid15(adt("A08", "L3", sent=now - dt.timedelta(hours=1)), "^Klingon"),
        with_pid15(adt("A08", "L4", sent=now), "en^English^ISO6391"),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AA"]  # unknown: ignored
    assert await _language(records) == "en"


def _patient(communication: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", "communication": communication}


@pytest.mark.parametrize(("communication", "code"), [
    ([{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es-MX"}]},
       "preferred": True}], "es"),
    ([{"language": {"coding": [{"code": "en"}]}},
      {"language": {"coding": [{"code": "es"}]}, "preferred": True}], "es"),
    ([{"language": {"text": "Spanish"}}], "es"),  # the only one, unmarked
    ([{"language": {"coding": [{"code": "en"}]}},
      {"language": {"coding": [{"code": "es"}]}}], None),  # two, none preferred
    ([{"language": {"coding": [{"code": "vi"}]}, "preferred": True}], "vi"),  # kept for staff
    (None, None), ("es", None), ([{"language": None}], None),
    # malformed (a server's bug): no language, and no crash of the poll
    ({"language": {"coding": [{"code": "es"}]}}, None),
    ([{"language": {"coding": {"code": "es"}}}], None), ([{"language": "es"}], None),
    ([{"language": {"coding": ["es", {"code": "es"}]}}], "es"),
])
def test_fhir_communication_gives_the_preferred_language(communication: Any,
                                                        code: str | None) -> None:
    assert patient_in(_patient(communication), "fhir").language == code


def test_the_csv_language_column_is_read_and_a_bad_one_named() -> None:
    text = ("mrn,last_name,phone,appointment_id,start,language\n"
            "M1,Patience,(555) 555-0101,A1,2030-01-07T09:00,Español\n"
            "M2,Sam,(555) 555-0102,A2,2030-01-07T10:00,\n"
            "M3,Other,(555) 555-0103,A3,2030-01-07T11:00,Klingon\n")
    rows, errors = validate_schedule_csv(text, today=dt.date(2029, 1, 1))
    assert [(e.line, e.column) for e in errors] == [(4, "language")]
    assert "Klingon" not in errors[0].message
    rows, errors = validate_schedule_csv(text.rsplit("M3", 1)[0], today=dt.date(2029, 1, 1))
    assert errors == []
    assert [r.patient.language for r in rows] == ["es", None]
