"""What an SIU update does to the reminders already planned: a moved appointment's
reminders follow it (over MLLP on 127.0.0.1, the dialer's own sync, the clock passed in)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from agent.scheduling.outreach import CalendarAppointments
from carrier.dialer.campaign import CampaignPolicy
from carrier.dialer.store import OutreachStore
from carrier.dialer.sync import sync_campaigns
from carrier.records.store import Records
from tests.feeds.conftest import Listening, ack_fields, mllp_send, now_utc
from tests.feeds.hl7_samples import siu

pytestmark = pytest.mark.postgres
APPT = "feed:CLINIC:FL1"


async def _pending(records: Records) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    rows = await records.pool.fetch(
        "SELECT label, due_at, not_after FROM dialer_outreach WHERE appointment_id = $1"
        " AND campaign_id = 'reminders' AND state = 'pending'", APPT)
    return {r["label"]: (r["due_at"], r["not_after"]) for r in rows}


async def _move(port: int, control: str, start: dt.datetime, sent: dt.datetime,
                tmp: Path) -> None:
    acks = await mllp_send(port, [siu("S13", control, start=start, sent=sent)], tmp)
    assert ack_fields(acks[0])["MSA"][1] == "AA"


async def test_an_appointment_moved_into_the_2h_window_gets_one_reminder_now(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc().replace(microsecond=0)
    first = now + dt.timedelta(hours=26)  # tomorrow: the 24 h and 2 h reminders planned
    store, source, policy = (OutreachStore(records.pool), CalendarAppointments(records.pool),
                             CampaignPolicy())
    acks = await mllp_send(hl7_server.port, [
        siu("S12", "R1", start=first, sent=now - dt.timedelta(minutes=5))], tmp_path)
    assert ack_fields(acks[0])["MSA"][1] == "AA"
    await sync_campaigns(store, source, policy, now)
    assert set(await _pending(records)) == {"24h", "2h"}

    moved = now + dt.timedelta(minutes=90)  # today, inside the 2 h window
    await _move(hl7_server.port, "R2", moved, now - dt.timedelta(minutes=1), tmp_path)
    await sync_campaigns(store, source, policy, now)
    pending = await _pending(records)
    assert set(pending) == {"2h"}, pending  # no 24 h call after the appointment moved
    due, not_after = pending["2h"]
    assert due <= now
    assert not_after == moved


async def test_an_appointment_moved_later_gets_its_reminders_at_the_new_time(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc().replace(microsecond=0)
    first = now + dt.timedelta(hours=26)
    store, source, policy = (OutreachStore(records.pool), CalendarAppointments(records.pool),
                             CampaignPolicy())
    await mllp_send(hl7_server.port, [
        siu("S12", "L1", start=first, sent=now - dt.timedelta(minutes=5))], tmp_path)
    await sync_campaigns(store, source, policy, now)

    moved = now + dt.timedelta(days=4)
    await _move(hl7_server.port, "L2", moved, now - dt.timedelta(minutes=1), tmp_path)
    await sync_campaigns(store, source, policy, now)
    pending = await _pending(records)
    assert set(pending) == {"72h", "24h", "2h"}
    assert {label: due for label, (due, _) in pending.items()} == {
        "72h": moved - dt.timedelta(hours=72), "24h": moved - dt.timedelta(hours=24),
        "2h": moved - dt.timedelta(hours=2)}
    assert {na for _, na in pending.values()} == {moved}


@pytest.mark.parametrize("shift", [dt.timedelta(days=-1), dt.timedelta(days=20)])
async def test_an_appointment_moved_out_of_the_planning_window_loses_its_old_reminders(
        hl7_server: Listening, records: Records, tmp_path: Path, shift: dt.timedelta) -> None:
    """Moved into the past (a back-dated correction) or weeks out: no reminder at the old
    time (was: the sync no longer saw the appointment, so the old rows stayed pending and
    rang tomorrow). Weeks out, they come back at the new time once it is near."""
    now = now_utc().replace(microsecond=0)
    store, source, policy = (OutreachStore(records.pool), CalendarAppointments(records.pool),
                             CampaignPolicy())
    await mllp_send(hl7_server.port, [
        siu("S12", "W1", start=now + dt.timedelta(hours=26),
            sent=now - dt.timedelta(minutes=5))], tmp_path)
    await sync_campaigns(store, source, policy, now)
    assert set(await _pending(records)) == {"24h", "2h"}

    moved = now + shift
    await _move(hl7_server.port, "W2", moved, now - dt.timedelta(minutes=1), tmp_path)
    await sync_campaigns(store, source, policy, now)
    assert await _pending(records) == {}
    if moved > now:
        later = moved - dt.timedelta(days=4)
        await sync_campaigns(store, source, policy, later)
        pending = await _pending(records)
        assert {label: na for label, (_, na) in pending.items()} == {
            "72h": moved, "24h": moved, "2h": moved}
