"""Which of two messages is the later, over MLLP on 127.0.0.1 into the embedded Postgres
(the listener's clock set to each message's arrival). The rule (``carrier.feeds.mllp``):
an MSH-7 with its offset is exact; one without is the clinic's wall clock, and in the hour
that repeats when clocks go back it is the later reading unless that would be after its
arrival; a message with no readable MSH-7 goes by arrival (applied over what is on file,
which keeps the last readable send time)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from carrier.feeds.mllp import Hl7Listener
from carrier.feeds.store import FeedStore
from carrier.records.store import Records
from tests.feeds.conftest import Clock, send_at, stored_appt, stored_patient

pytestmark = pytest.mark.postgres
UTC = dt.UTC


async def name_of(store: FeedStore, records: Records, mrn: str = "OR1") -> str | None:
    patient = await stored_patient(store, records, mrn)
    return None if patient is None else patient["name"]


def a08(control: str, sent: str, given: str, mrn: str = "OR1") -> bytes:
    segs = [f"MSH|^~\\&|EHR|NORTH|CARRIER|CARRIER|{sent}||ADT^A08^ADT_A01|{control}|P|2.5.1",
            f"EVN|A08|{sent}",
            f"PID|1||{mrn}^^^NORTH^MR||Testa^{given}||19800101|F|||^^^NY||(555)555-0171",
            "PV1|1|O"]
    return ("\r".join(segs) + "\r").encode()


def s1x(trigger: str, control: str, sent: str, start: str, ref: str = "ORA") -> bytes:
    segs = [f"MSH|^~\\&|EHR|NORTH|CARRIER|CARRIER|{sent}||SIU^{trigger}^SIU_S12|{control}|P|2.5.1",
            f"SCH|P{ref}|{ref}|||||Checkup|ROUTINE|30|min|^^30^{start}",
            "PID|1||OR2^^^NORTH^MR||Testa^Patience||19800101|F|||^^^NY||(555)555-0172",
            "PV1|1|O", "RGS|1", "AIP|1||DR7^Doctor^Demo|PHYS"]
    return ("\r".join(segs) + "\r").encode()


async def test_the_repeated_hour_second_pass_is_after_the_first(
        clocked: tuple[Hl7Listener, Clock, int], feed_store: FeedStore, records: Records,
        tmp_path: Path) -> None:
    """New York, 1 Nov 2026: 01:00-02:00 happens twice (EDT, then EST). A change sent at
    01:40 EDT and one sent at 01:20 EST (40 minutes later) carry no offset: before, both
    were read as EDT, the second looked older and was dropped as stale."""
    _, clock, port = clocked
    first = await send_at(port, clock, a08("OF1", "20261101014000", "Anna"),
                          dt.datetime(2026, 11, 1, 5, 40, 3, tzinfo=UTC), tmp_path)
    second = await send_at(port, clock, a08("OF2", "20261101012000", "Bella"),
                           dt.datetime(2026, 11, 1, 6, 20, 3, tzinfo=UTC), tmp_path)
    assert first["MSA"][1] == second["MSA"][1] == "AA"
    assert await name_of(feed_store, records) == "Bella Testa"
    # A late one from the first pass, arriving in the second: its later reading (01:30
    # EST) would be after it arrived, so it is the first pass's 01:30 EDT: stale.
    late = await send_at(port, clock, a08("OF3", "20261101013000", "Cara"),
                         dt.datetime(2026, 11, 1, 6, 21, 3, tzinfo=UTC), tmp_path)
    assert late["MSA"][1] == "AA"
    assert await name_of(feed_store, records) == "Bella Testa"


async def test_a_reschedule_in_the_second_pass_moves_a_booking_from_the_first(
        clocked: tuple[Hl7Listener, Clock, int], records: Records, tmp_path: Path) -> None:
    _, clock, port = clocked
    await send_at(port, clock, s1x("S12", "OS1", "20261101015500", "20261203090000"),
                  dt.datetime(2026, 11, 1, 5, 55, 1, tzinfo=UTC), tmp_path)
    moved = await send_at(port, clock, s1x("S13", "OS2", "20261101010200", "20261204100000"),
                          dt.datetime(2026, 11, 1, 6, 2, 1, tzinfo=UTC), tmp_path)
    assert moved["MSA"][1] == "AA"
    appt = await stored_appt(records, "ORA")
    assert appt is not None
    assert appt["start_at"] == dt.datetime(2026, 12, 4, 15, tzinfo=UTC)


async def test_a_message_without_msh7_goes_by_arrival_and_keeps_the_send_time_on_file(
        clocked: tuple[Hl7Listener, Clock, int], feed_store: FeedStore, records: Records,
        tmp_path: Path) -> None:
    """Before, a message without MSH-7 stood in with its arrival time, so the next message
    (sent before that arrival, arriving after it) was dropped as stale."""
    _, clock, port = clocked
    at = dt.datetime(2026, 12, 2, 15, tzinfo=UTC)
    await send_at(port, clock, a08("ON1", "20261202095000-0500", "Anna"), at, tmp_path)
    await send_at(port, clock, a08("ON2", "", "Bella"), at + dt.timedelta(minutes=5),
                  tmp_path)
    assert await name_of(feed_store, records) == "Bella Testa"
    await send_at(port, clock, a08("ON3", "20261202095500-0500", "Cara"),
                  at + dt.timedelta(minutes=6), tmp_path)
    assert await name_of(feed_store, records) == "Cara Testa"
    # An older readable one is still stale against the last readable send time.
    await send_at(port, clock, a08("ON4", "20261202094000-0500", "Dora"),
                  at + dt.timedelta(minutes=7), tmp_path)
    assert await name_of(feed_store, records) == "Cara Testa"


async def test_an_appointment_time_in_the_repeated_hour_is_its_first_pass(
        clocked: tuple[Hl7Listener, Clock, int], records: Records, tmp_path: Path) -> None:
    """An appointment at 01:30 on 1 Nov 2026 (New York, the hour that repeats) with no
    offset: unlike MSH-7 (bounded by the message's arrival), a start time in the future
    has nothing to choose its pass by, so it is read as the first pass (EDT), the earlier
    instant: a reminder planned from it is never late (at worst an hour early), and the
    wall time the patient is told is 01:30 either way (docs/feeds.md)."""
    _, clock, port = clocked
    ack = await send_at(port, clock, s1x("S12", "OD1", "20261020090000", "20261101013000",
                                         ref="ODA"),
                        dt.datetime(2026, 10, 20, 13, 0, 1, tzinfo=UTC), tmp_path)
    assert ack["MSA"][1] == "AA"
    appt = await stored_appt(records, "ODA")
    assert appt is not None
    assert appt["start_at"] == dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
