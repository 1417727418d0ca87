"""What an on-call engineer sees of refused messages (over MLLP on 127.0.0.1 with
``mllp_send``): a refusal that loses a message until someone acts - content the sender got
wrong, a merge the clinic must do, a frame cut short, a fault of ours - is a WARNING naming
the sender, the message type, the ERR location and code; an event we do not take by
design (an ADT^A01 in a feed of everything) stays INFO. No name or number in any line.
Before: every NAK was one INFO line, ``hl7: AE 101 at PID^1^3``, naming no sender."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from carrier.records.store import Records
from tests.feeds.conftest import Listening, ack_fields, mllp_send, now_utc
from tests.feeds.hl7_samples import adt, ts

pytestmark = pytest.mark.postgres


def _naks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "carrier.feeds.mllp"
            and r.getMessage().startswith("hl7: A")]


async def test_nak_levels_name_the_sender_and_no_patient(
        hl7_server: Listening, records: Records, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    sent = now_utc() - dt.timedelta(hours=1)
    no_id = adt("A08", "NK1", sent=sent).replace(b"MRN1001^^^CLINIC^MR", b"")
    a01 = adt("A01", "NK2", sent=sent)
    merge_a = adt("A04", "NK3", mrn="NKA", sent=sent, phone="(555)555-0181")
    merge_b = adt("A04", "NK4", mrn="NKB", sent=sent, phone="(555)555-0182")
    merge = (adt("A40", "NK5", mrn="NKB", sent=sent + dt.timedelta(minutes=1)).decode()
             + "MRG|NKA^^^CLINIC^MR\r").encode()
    with caplog.at_level(logging.DEBUG):
        acks = await mllp_send(hl7_server.port, [no_id, a01, merge_a, merge_b, merge],
                               tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AE", "AR", "AA", "AA", "AR"]
    naks = _naks(caplog)
    assert [(r.levelname, r.getMessage().split(" from ")[0]) for r in naks] == [
        ("WARNING", "hl7: AE 101 at PID^1^3"),
        ("INFO", "hl7: AR 201 at MSH^1^9^2"),
        ("WARNING", "hl7: AR 201 at MRG^1^1"),
    ]
    assert all("PM^CLINIC" in r.getMessage() for r in naks)  # MSH-3^MSH-4: whose it is
    assert "ADT^A08" in naks[0].getMessage()
    assert "Testa" not in caplog.text
    assert "555" not in caplog.text
    assert ts(sent) not in caplog.text


async def test_a_new_patient_without_a_phone_is_no_warning(
        hl7_server: Listening, records: Records, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """Clinics register patients who have no phone every day: the AE 101 (nothing to call)
    needs no one to act, so it is INFO; a number that is there but unreadable is the
    clinic's data to fix: WARNING."""
    sent = now_utc() - dt.timedelta(hours=1)
    no_phone = adt("A04", "NP1", mrn="NP1", sent=sent, phone="")
    bad_phone = adt("A04", "NP2", mrn="NP2", sent=sent, phone="12")
    with caplog.at_level(logging.DEBUG):
        acks = await mllp_send(hl7_server.port, [no_phone, bad_phone], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AE", "AE"]
    assert [(r.levelname, r.getMessage().split(" from ")[0]) for r in _naks(caplog)] == [
        ("INFO", "hl7: AE 101 at PID^1^13"), ("WARNING", "hl7: AE 102 at PID^1^13")]
