"""Senders that replay, reuse and overfill, end to end through ``mllp_send``: a control id
sent again with the same content (an engine's resend: AA, applied once), the same control
id on a different message (an EHR whose counter restarted: AE 205, nothing lost silently),
a message of 10,000 segments (refused unread, the next one served), times whose UTC
offset no clock has."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from carrier.feeds.hl7_in import MAX_SEGMENTS
from carrier.records.store import Records
from tests.feeds.conftest import Listening, ack_fields, mllp_send, now_utc
from tests.feeds.hl7_samples import siu

pytestmark = pytest.mark.postgres


async def _appointments(records: Records) -> dict[str, dt.datetime]:
    rows = await records.pool.fetch(
        "SELECT f.ref, a.start_at FROM feed_appointments f"
        " JOIN sched_appointments a ON a.id = f.app_id")
    return {r["ref"]: r["start_at"] for r in rows}


async def test_a_reused_control_id_is_refused_not_swallowed(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc()
    start = (now + dt.timedelta(days=3)).replace(second=0, microsecond=0)
    first = siu("S12", "R100", appt="RA", start=start, sent=now - dt.timedelta(hours=2))
    resent = siu("S12", "R100", appt="RA", start=start, sent=now - dt.timedelta(hours=1))
    # The EHR was reinstalled and counts from R100 again: another patient's booking.
    reused = siu("S12", "R100", appt="RB", mrn="MRN2002", phone="(555)555-0102",
                 start=start + dt.timedelta(hours=2), sent=now)
    acks = await mllp_send(hl7_server.port, [first, first, resent, reused], tmp_path)
    got = [ack_fields(a) for a in acks]
    assert [g["MSA"][1:3] for g in got] == [["AA", "R100"]] * 3 + [["AE", "R100"]]
    err = got[3]["ERR"]
    assert err[2] == "MSH^1^10"
    assert err[3].split("^")[0] == "205"
    assert "MRN2002" not in acks[3].decode()
    assert await _appointments(records) == {"RA": start}  # RB was not applied ...
    # ... and under a fresh control id it is.
    acks = await mllp_send(hl7_server.port, [reused.replace(b"|R100|", b"|R101|")], tmp_path)
    assert ack_fields(acks[0])["MSA"][1] == "AA"
    assert set(await _appointments(records)) == {"RA", "RB"}


async def test_ten_thousand_segments_are_refused_unread(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    start = now_utc() + dt.timedelta(days=3)
    base = siu("S12", "BIG1", appt="BG", start=start)
    notes = b"".join(b"NTE|%d||note\r" % i for i in range(10_000))
    at_limit = siu("S12", "BIG2", appt="BH", start=start).rstrip(b"\r") + b"\r" + b"".join(
        b"NTE|%d||note\r" % i for i in range(MAX_SEGMENTS - 6))
    acks = await mllp_send(hl7_server.port, [base + notes, at_limit], tmp_path)
    refused, accepted = ack_fields(acks[0]), ack_fields(acks[1])
    assert refused["MSA"][1:3] == ["AR", "BIG1"]
    assert refused["ERR"][3].split("^")[0] == "100"
    assert accepted["MSA"][1:3] == ["AA", "BIG2"]
    assert set(await _appointments(records)) == {"BH"}


async def test_a_sending_time_with_an_impossible_offset_is_passed_over(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    """MSH-7 is only the ordering hint: one with a +99:00 offset is read as absent (the
    message applies, ordered by its arrival), not a dropped connection."""
    start = (now_utc() + dt.timedelta(days=3)).replace(second=0, microsecond=0)
    msg = siu("S12", "OFF1", appt="OF", start=start)
    sent = msg.split(b"|")[6]
    msg = msg.replace(sent, sent.replace(b"+0000", b"+9900"), 1)
    acks = await mllp_send(hl7_server.port, [msg, siu("S12", "OFF2", appt="OG", start=start)],
                           tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AA"]
    assert set(await _appointments(records)) == {"OF", "OG"}


async def test_two_applications_of_one_facility_may_use_the_same_control_ids(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    """MSH-10 is unique per sending system (MSH-3 application at MSH-4 facility): the
    practice-management system and the registration desk of one clinic count their own
    control ids. Before, the second system's message with an id the first had used was
    refused (AE 205) as a reused id, or, with equal content, swallowed as a resend."""
    now = now_utc()
    start = (now + dt.timedelta(days=3)).replace(second=0, microsecond=0)
    pm = siu("S12", "1001", appt="PA", start=start, sent=now - dt.timedelta(hours=2))
    desk = siu("S12", "1001", appt="PB", mrn="MRN2003", phone="(555)555-0103",
               start=start + dt.timedelta(hours=1), sent=now - dt.timedelta(hours=1)
               ).replace(b"MSH|^~\\&|PM|CLINIC|", b"MSH|^~\\&|DESK|CLINIC|")
    acks = await mllp_send(hl7_server.port, [pm, desk, desk, pm], tmp_path)
    assert [ack_fields(a)["MSA"][1:3] for a in acks] == [["AA", "1001"]] * 4
    assert set(await _appointments(records)) == {"PA", "PB"}
    assert await records.pool.fetchval("SELECT count(*) FROM feed_messages") == 2


async def test_a_booking_sent_in_the_same_second_as_a_cancel_does_not_reopen_it(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    """MSH-7 has second precision: an EHR that books and cancels within one second sends
    two messages with the same time, and a resend or a second connection can deliver the
    S12 after the S15. Before, the S12 (not older than the cancel) booked the cancelled
    appointment again and its reminders went out. Now, at the same sending time, an ending
    (S15/S17/S26) wins whichever arrives last."""
    now = now_utc().replace(microsecond=0)
    start = (now + dt.timedelta(days=3)).replace(second=0)
    sent = now - dt.timedelta(minutes=5)
    acks = await mllp_send(hl7_server.port, [
        siu("S15", "T2", start=start, sent=sent, appt="SS1"),
        siu("S12", "T1", start=start, sent=sent, appt="SS1"),  # same second, arrives later
        siu("S12", "T3", start=start, sent=sent, appt="SS2"),
        siu("S15", "T4", start=start, sent=sent, appt="SS2"),  # in order: cancelled too
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA"] * 4
    assert await _statuses(records) == {"SS1": "cancelled", "SS2": "cancelled"}
    # A booking a second after the cancel re-books it, as the EHR meant.
    acks = await mllp_send(hl7_server.port, [
        siu("S12", "T5", start=start, sent=sent + dt.timedelta(seconds=1), appt="SS1")],
        tmp_path)
    assert ack_fields(acks[0])["MSA"][1] == "AA"
    assert await _statuses(records) == {"SS1": "booked", "SS2": "cancelled"}


async def _statuses(records: Records) -> dict[str, str]:
    rows = await records.pool.fetch(
        "SELECT f.ref, a.status FROM feed_appointments f"
        " JOIN sched_appointments a ON a.id = f.app_id")
    return {r["ref"]: r["status"] for r in rows}
