"""PID fields as real EHR interfaces fill them, over MLLP on 127.0.0.1: several PID-13
repetitions (e-mail, fax, phones), and a number that does not parse on a message that is
about something else (a cancellation must not be lost to it)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from carrier.records.store import Records
from tests.feeds.conftest import Listening, ack_fields, mllp_send, now_utc
from tests.feeds.hl7_samples import adt, siu

pytestmark = pytest.mark.postgres


async def _phone(records: Records) -> str:
    pid = await records.pool.fetchval("SELECT patient_id FROM feed_patients")
    patient = await records.get_patient(uuid.UUID(str(pid)), actor="test", reason="check")
    assert patient is not None
    return patient.phone


@pytest.mark.parametrize(("pid13", "expect"), [
    ("^NET^Internet^testa@example.org~(555)555-0102^PRN^PH", "+15555550102"),
    ("(555)555-0188^WPN^FX~^PRN^CP^^1^555^5550103", "+15555550103"),
    ("~(555)555-0104^PRN^PH", "+15555550104"),
])
async def test_the_phone_is_the_first_repetition_that_is_a_phone(
        hl7_server: Listening, records: Records, tmp_path: Path, pid13: str,
        expect: str) -> None:
    now = now_utc()
    start = (now + dt.timedelta(days=2)).replace(microsecond=0, second=0)
    acks = await mllp_send(hl7_server.port, [
        siu("S12", "P1", start=start, sent=now, phone=pid13)], tmp_path)
    assert ack_fields(acks[0])["MSA"][1:3] == ["AA", "P1"], acks[0]
    assert await _phone(records) == expect


async def test_a_cancellation_with_an_unreadable_number_still_cancels(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc()
    start = (now + dt.timedelta(days=2)).replace(microsecond=0, second=0)
    acks = await mllp_send(hl7_server.port, [
        siu("S12", "X1", start=start, sent=now - dt.timedelta(minutes=5)),
        siu("S15", "X2", start=start, sent=now, phone="N/A"),
    ], tmp_path)
    booked, cancelled = (ack_fields(a) for a in acks)
    assert booked["MSA"][1] == "AA"
    # Applied, with a warning that names the field (never the value).
    assert cancelled["MSA"][1:3] == ["AA", "X2"], acks[1]
    assert cancelled["ERR"][2] == "PID^1^13"
    assert cancelled["ERR"][4] == "W"
    assert "N/A" not in acks[1].decode()
    status = await records.pool.fetchval("SELECT status FROM sched_appointments")
    assert status == "cancelled"
    assert await _phone(records) == "+15555550101"  # the number on file is kept


def _untimed(message: bytes) -> bytes:
    """The message with SCH-9/10/11 (duration, units, timing) empty, as some schedulers
    send a cancellation: the appointment id says which one."""
    segs = message.split(b"\r")
    segs[1] = b"|".join(segs[1].split(b"|")[:9])
    return b"\r".join(segs)


async def test_a_cancellation_without_times_cancels_the_booked_appointment(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc()
    start = (now + dt.timedelta(days=2)).replace(microsecond=0, second=0)
    acks = await mllp_send(hl7_server.port, [
        siu("S12", "Y1", start=start, sent=now - dt.timedelta(minutes=5)),
        _untimed(siu("S15", "Y2", start=start, sent=now)),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AA"], acks[1]
    row = await records.pool.fetchrow("SELECT status, start_at FROM sched_appointments")
    assert (row["status"], row["start_at"]) == ("cancelled", start)


async def test_an_untimed_cancellation_before_its_booking_keeps_it_from_being_booked(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    """Out of order: the S15 (sent last) arrives first; the older S12 after it is stale."""
    now = now_utc()
    start = (now + dt.timedelta(days=2)).replace(microsecond=0, second=0)
    acks = await mllp_send(hl7_server.port, [
        _untimed(siu("S15", "Z2", start=start, sent=now)),
        siu("S12", "Z1", start=start, sent=now - dt.timedelta(minutes=5)),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AA"], acks[0]
    booked = await records.pool.fetchval(
        "SELECT count(*) FROM sched_appointments WHERE status <> 'cancelled'")
    assert booked == 0


async def test_an_older_demographics_update_arriving_late_does_not_restore_the_old_phone(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    """Interface engines reorder: the A08 with the new number (sent last) arrives first;
    the older A08, then an older S14, arriving after it must not put the old number back
    (calls and their PHI would go to it). Their appointment part still applies."""
    now = now_utc()
    start = (now + dt.timedelta(days=2)).replace(microsecond=0, second=0)
    acks = await mllp_send(hl7_server.port, [
        siu("S12", "Q1", start=start, sent=now - dt.timedelta(hours=2)),
        adt("A08", "Q3", sent=now, phone="(555)555-0199"),
        adt("A08", "Q2", sent=now - dt.timedelta(minutes=30), phone="(555)555-0150"),
        siu("S14", "Q4", start=start + dt.timedelta(hours=1),
            sent=now - dt.timedelta(minutes=20), phone="(555)555-0150"),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA"] * 4
    assert await _phone(records) == "+15555550199"
    moved = await records.pool.fetchval("SELECT start_at FROM sched_appointments")
    assert moved == start + dt.timedelta(hours=1)
