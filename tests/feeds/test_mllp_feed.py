"""HL7 v2 over MLLP, end to end on 127.0.0.1: ``mllp_send`` (the ``hl7`` package's tool, an
independent sender) -> our listener -> one transaction per message -> ACK/NAK per message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from agent.scheduling.outreach import CalendarAppointments
from carrier.dialer.campaign import CampaignPolicy
from carrier.dialer.store import OutreachStore
from carrier.dialer.sync import sync_campaigns
from carrier.records.store import Records
from tests.feeds.conftest import Listening, ack_fields, mllp_send, now_utc
from tests.feeds.hl7_samples import adt, load_cases, siu

pytestmark = pytest.mark.postgres
VECTORS = Path(__file__).parent / "vectors"


async def _appt(records: Records, ref: str = "FL1") -> dict[str, object] | None:
    row = await records.pool.fetchrow(
        "SELECT a.status, a.start_at, a.patient_id FROM sched_appointments a"
        " JOIN feed_appointments f ON f.app_id = a.id WHERE f.ref = $1", ref)
    return None if row is None else dict(row)


async def _counts(records: Records) -> tuple[int, int, int, int]:
    row = await records.pool.fetchrow(
        "SELECT (SELECT count(*) FROM patients) p, (SELECT count(*) FROM sched_appointments) a,"
        " (SELECT count(*) FROM feed_messages) m, (SELECT count(*) FROM feed_patients) f")
    return row["p"], row["a"], row["m"], row["f"]


async def test_siu_lifecycle_acks_and_the_dialer_follows(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc()
    start = (now + dt.timedelta(days=2)).replace(microsecond=0, second=0)
    acks = await mllp_send(hl7_server.port, [
        siu("S12", "C1", start=start, sent=now - dt.timedelta(minutes=3)),
        siu("S12", "C1", start=start, sent=now - dt.timedelta(minutes=3)),  # repeat
        adt("A08", "C2", sent=now - dt.timedelta(minutes=2), phone="(555)555-0199"),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1:3] for a in acks] == [["AA", "C1"], ["AA", "C1"],
                                                          ["AA", "C2"]]
    appt = await _appt(records)
    assert appt is not None
    assert appt["status"] == "booked"
    assert appt["start_at"] == start
    # One patient, one appointment, upserted by the source's identifiers, PHI encrypted.
    p, a, m, f = await _counts(records)
    assert (p, a, m, f) == (1, 1, 2, 1)
    patient = await records.get_patient(appt["patient_id"] and  # type: ignore[arg-type]
                                        __import__("uuid").UUID(str(appt["patient_id"])),
                                        actor="test", reason="check")
    assert patient is not None
    assert patient.phone == "+15555550199"
    raw = await records.pool.fetchval("SELECT name_ct FROM patients")
    assert b"Testa" not in bytes(raw)

    # The dialer plans reminders for the new appointment ...
    store, source, policy = OutreachStore(records.pool), CalendarAppointments(records.pool), \
        CampaignPolicy()
    await sync_campaigns(store, source, policy, now)
    pending = await records.pool.fetch(
        "SELECT campaign_id AS campaign, state AS status FROM dialer_outreach"
        " WHERE appointment_id = $1",
        "feed:CLINIC:FL1")
    assert {r["campaign"] for r in pending} == {"reminders"}
    assert all(r["status"] == "pending" for r in pending)
    # ... an S15 cancellation stops them ...
    acks = await mllp_send(hl7_server.port, [
        siu("S15", "C3", start=start, sent=now - dt.timedelta(minutes=1))], tmp_path)
    assert ack_fields(acks[0])["MSA"][1] == "AA"
    await sync_campaigns(store, source, policy, now)
    statuses = {r["status"] for r in await records.pool.fetch(
        "SELECT state AS status FROM dialer_outreach WHERE appointment_id = $1", "feed:CLINIC:FL1")}
    assert "pending" not in statuses
    # ... and a stale S13 (sent before the S15) changes nothing.
    acks = await mllp_send(hl7_server.port, [
        siu("S13", "C4", start=start + dt.timedelta(hours=1),
            sent=now - dt.timedelta(minutes=2, seconds=30))], tmp_path)
    assert ack_fields(acks[0])["MSA"][1] == "AA"
    assert (await _appt(records))["status"] == "cancelled"  # type: ignore[index]


async def test_no_show_starts_reactivation_within_minutes(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc()
    start = (now - dt.timedelta(hours=1)).replace(microsecond=0, second=0)
    acks = await mllp_send(hl7_server.port, [
        siu("S12", "N1", appt="FL9", start=start, sent=now - dt.timedelta(days=1)),
        siu("S26", "N2", appt="FL9", start=start, sent=now)], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AA"]
    policy = CampaignPolicy()
    await sync_campaigns(OutreachStore(records.pool), CalendarAppointments(records.pool),
                         policy, now_utc())
    row = await records.pool.fetchrow(
        "SELECT campaign_id, due_at, state AS status FROM dialer_outreach WHERE appointment_id = $1"
        " AND campaign_id = 'no_show'", "feed:CLINIC:FL9")
    assert row is not None
    assert row["status"] == "pending"
    assert row["due_at"] - now <= dt.timedelta(minutes=10)


async def test_malformed_messages_get_a_clear_nak_and_write_nothing(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    cases = load_cases(str(VECTORS / "malformed_tuning.txt"))
    acks = await mllp_send(hl7_server.port, [m for _, _, m in cases], tmp_path)
    assert len(acks) == len(cases)
    for (code, err, _), got in zip(cases, acks, strict=True):
        fields = ack_fields(got)
        assert fields["MSA"][1] == code, got
        assert fields["ERR"][3].split("^")[:3] == [err, fields["ERR"][3].split("^")[1],
                                                   "HL70357"]
    assert await _counts(records) == (0, 0, 0, 0)


async def test_heldout_malformed(hl7_server: Listening, records: Records,
                                 tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Held-out malformed messages (never tuned to): each must be refused (never AA) with
    nothing written; the exact (ack code, error code) agreement is reported."""
    cases = load_cases(str(VECTORS / "malformed_heldout.txt"))
    acks = await mllp_send(hl7_server.port, [m for _, _, m in cases], tmp_path)
    exact = 0
    for (code, err, _), got in zip(cases, acks, strict=True):
        fields = ack_fields(got)
        assert fields["MSA"][1] in ("AE", "AR"), got
        exact += [fields["MSA"][1], fields["ERR"][3].split("^")[0]] == [code, err]
    assert await _counts(records) == (0, 0, 0, 0)
    with capsys.disabled():
        print(f"\nheld-out malformed HL7: {len(cases)}/{len(cases)} refused, "
              f"{exact}/{len(cases)} with the expected ack and error code")


async def test_a_patients_changes_apply_in_sending_order_across_connections(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    """Two senders interleave S14 modifications of one appointment; whatever order they
    arrive in, the one sent last (MSH-7) is what stands, and every message gets its AA."""
    now = now_utc()
    base = (now + dt.timedelta(days=5)).replace(second=0, microsecond=0)
    await mllp_send(hl7_server.port, [siu("S12", "O0", start=base,
                                          sent=now - dt.timedelta(hours=1))], tmp_path)

    def mod(k: int) -> bytes:  # the k-th modification moves it k quarter-hours
        return siu("S14", f"O{k}", start=base + dt.timedelta(minutes=15 * k),
                   sent=now - dt.timedelta(minutes=30 - k))

    odd, even = [mod(k) for k in range(1, 13, 2)], [mod(k) for k in range(2, 13, 2)]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    acks = await asyncio.gather(mllp_send(hl7_server.port, list(reversed(odd)), tmp_path / "a"),
                                mllp_send(hl7_server.port, even, tmp_path / "b"))
    assert all(ack_fields(a)["MSA"][1] == "AA" for batch in acks for a in batch)
    appt = await _appt(records)
    assert appt is not None
    assert appt["start_at"] == base + dt.timedelta(minutes=15 * 12)
