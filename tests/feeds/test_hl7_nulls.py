"""HL7 v2 says ``""`` in a field means "delete the value", an empty field "no change".
Over MLLP (``mllp_send``) into the embedded Postgres. The carrier's record of a patient
is never emptied by a feed (a name to greet them by and a number to call are required,
and the records keep no "deleted" state): a deleted name, birth date, phone or language
keeps the value on file, and the AA says so (ERR severity W per field). Before: ``""``
was read as text: the name became ``""`` (or ``Testa ""``), a deleted birth date was an
AE 102 that refused the whole message, a deleted phone a warning about an invalid
number."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from carrier.records.store import Records
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
    assert sorted((e[2], e[4]) for e in errs) == [
        ("PID^1^13", "W"), ("PID^1^15", "W"), ("PID^1^5", "W"), ("PID^1^7", "W")]
    assert all("kept" in e[8] for e in errs)
    patient = await stored_patient(hl7_server.store, records, "NU1")
    assert patient is not None
    assert patient["name"] == "Anna Testa"
    assert (patient["dob"], patient["phone"]) == ("1980-01-01", "+15555550141")
    assert patient["language_feed"] == "es"
