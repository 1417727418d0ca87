"""Write-back: outcomes of calls on feed appointments become durable outbound messages,
sent over MLLP to a listening receiver (SIU or ORU per configuration), retried until
acknowledged, never duplicated, visible to operators (``carrier feeds outbox``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import hl7
import hl7.mllp
import pytest

from carrier.call import Direction
from carrier.feeds.hl7_out import message_for
from carrier.feeds.store import FeedStore
from carrier.feeds.writeback import MllpDestination, OutcomeRecorder, Writeback
from carrier.plugin import CallContext, CallOutcome, NewSlot, OutcomeKind
from carrier.records.outbox import Op
from carrier.records.store import Records
from tests.feeds.conftest import Listening, mllp_send, now_utc
from tests.feeds.hl7_samples import siu
from tests.feeds.receiver import Receiver

pytestmark = pytest.mark.postgres


class Scripted:
    """A call handler that ends every call with the given outcome (the real voice agent
    runs in tests/feeds/test_feed_e2e.py)."""

    def __init__(self, kind: OutcomeKind, detail: str = "") -> None:
        self.kind, self.detail = kind, detail

    async def __call__(self, call: object, context: CallContext) -> CallOutcome:
        return CallOutcome("call-1", self.kind, patient_id=context.patient_id,
                           detail=self.detail)


async def _booked(hl7_server: Listening, tmp_path: Path) -> tuple[str, str]:
    start = (now_utc() + dt.timedelta(days=2)).replace(second=0, microsecond=0)
    await mllp_send(hl7_server.port, [siu("S12", "W1", start=start)], tmp_path)
    row = await hl7_server.store.records.pool.fetchrow(
        "SELECT app_id, patient_id FROM feed_appointments")
    return row["app_id"], str(row["patient_id"])


def _context(app_id: str, pid: str) -> CallContext:
    return CallContext(Direction.OUTBOUND, patient_id=pid, purpose="appointment_reminder",
                       appointment_id=app_id)


@pytest.mark.parametrize(("style", "expect"), [("siu", "SIU^S14"), ("oru", "ORU^R01")])
async def test_confirmation_goes_back_once_as_configured(
        hl7_server: Listening, records: Records, tmp_path: Path, style: str,
        expect: str) -> None:
    app_id, pid = await _booked(hl7_server, tmp_path)
    receiver = await Receiver().start()
    try:
        wb = Writeback(records, {"hl7": MllpDestination("127.0.0.1", receiver.port, style)})
        handler = OutcomeRecorder(Scripted(OutcomeKind.CONFIRMED), wb)
        await handler(object(), _context(app_id, pid))
        await handler(object(), _context(app_id, pid))  # the same outcome again
        assert len(receiver.got) == 1
        msg = hl7.parse(receiver.got[0])
        assert str(msg.segment("MSH")[9]).startswith(expect)
        assert str(msg.segment("PID")[3]).startswith("MRN1001^^^CLINIC^MR")
        assert "Testa" not in receiver.got[0]  # minimum necessary: no name, no phone
        if style == "siu":
            assert str(msg.segment("SCH")[2]) == "FL1"
        else:
            assert str(msg.segment("OBX")[5]).startswith("confirmed^")
        row = await records.pool.fetchrow("SELECT status, attempts FROM feed_outbox")
        assert (row["status"], row["attempts"]) == ("sent", 1)
    finally:
        await receiver.close()


async def test_a_reschedule_goes_back_as_s13_with_the_new_slot(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    """SIU^S13 whose SCH-11 holds the new start and end, AIP the provider (was: S14 with
    no time at all, so the source never learnt the new slot)."""
    app_id, pid = await _booked(hl7_server, tmp_path)
    start = (now_utc() + dt.timedelta(days=5)).replace(hour=15, minute=30, second=0,
                                                       microsecond=0)
    slot = NewSlot(start, start + dt.timedelta(minutes=20), "dr-demo")

    async def moved(call: object, context: CallContext) -> CallOutcome:
        return CallOutcome("call-r", OutcomeKind.RESCHEDULED, patient_id=pid, new_slot=slot)

    receiver = await Receiver().start()
    try:
        wb = Writeback(records, {"hl7": MllpDestination("127.0.0.1", receiver.port)})
        await OutcomeRecorder(moved, wb)(object(), _context(app_id, pid))
        row = await records.pool.fetchrow("SELECT dedup_key, payload_ct FROM feed_outbox")
        assert len(receiver.got) == 1
        msg = hl7.parse(receiver.got[0])
        assert str(msg.segment("MSH")[9]).startswith("SIU^S13")
        sch = msg.segment("SCH")
        assert str(sch[2]) == "FL1"
        assert str(sch[11][0][3]) == start.strftime("%Y%m%d%H%M%S+0000")
        assert str(sch[11][0][4]) == (start + dt.timedelta(minutes=20)).strftime(
            "%Y%m%d%H%M%S+0000")
        assert str(sch[25]) == "Booked"
        assert str(msg.segment("AIP")[3]) == "dr-demo"
        oru = hl7.parse(message_for(await wb._outcome(json.loads(
            records.keys.decrypt_str(bytes(row["payload_ct"]), "feed_outbox", "payload",
                                     row["dedup_key"]))), "oru").decode())
        assert str(oru.segments("OBX")[1][5]) == (
            f"{start:%Y%m%d%H%M%S}+0000^{start + dt.timedelta(minutes=20):%Y%m%d%H%M%S}+0000")
    finally:
        await receiver.close()


async def test_undelivered_write_back_is_kept_and_retried(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    app_id, pid = await _booked(hl7_server, tmp_path)
    clock = [now_utc()]
    receiver = await Receiver().start()
    port = receiver.port
    await receiver.close()  # nobody listens yet
    wb = Writeback(records, {"hl7": MllpDestination("127.0.0.1", port)},
                   clock=lambda: clock[0])
    await OutcomeRecorder(Scripted(OutcomeKind.CANCELLED), wb)(object(),
                                                               _context(app_id, pid))
    row = await records.pool.fetchrow("SELECT status, attempts, last_error FROM feed_outbox")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"]
    assert await wb.deliver_due() == 0  # not due yet: the back-off holds it
    receiver = Receiver()
    receiver.server = await hl7.mllp.start_hl7_server(receiver._client, "127.0.0.1", port)
    try:
        clock[0] += dt.timedelta(minutes=1)
        assert await wb.deliver_due() == 1
        assert "SIU^S15" in receiver.got[0]
    finally:
        await receiver.close()


async def test_refused_write_back_is_failed_for_the_operator(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    app_id, pid = await _booked(hl7_server, tmp_path)
    receiver = await Receiver(reply="AE").start()
    try:
        wb = Writeback(records, {"hl7": MllpDestination("127.0.0.1", receiver.port)})
        await OutcomeRecorder(Scripted(OutcomeKind.COMPLETED, "refill_requested"), wb)(
            object(), _context(app_id, pid))
        assert "ORU^R01" in receiver.got[0]  # a refill request is no appointment status
        row = await records.pool.fetchrow("SELECT status, kind, last_error FROM feed_outbox")
        assert (row["status"], row["kind"]) == ("failed", "refill_request")
        assert row["last_error"].startswith("AE 101")
    finally:
        await receiver.close()


async def test_outcomes_off_the_feed_are_not_written_back(
        feed_store: FeedStore, records: Records) -> None:
    wb = Writeback(records, {"hl7": MllpDestination("127.0.0.1", 9)})
    ids = await wb.record(CallOutcome("c", OutcomeKind.CONFIRMED),
                          _context("appt-local", "00000000-0000-0000-0000-000000000001"))
    assert ids == []


async def test_a_confirmation_before_the_length_limit_is_still_written_back(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    """Before: a call cut at its length limit after the patient confirmed wrote nothing back
    (its outcome is LENGTH_LIMIT); the appointment's state before and after now decides."""
    app_id, pid = await _booked(hl7_server, tmp_path)
    from agent.scheduling.outreach import CalendarAppointments  # noqa: PLC0415

    class ConfirmsThenCut:
        async def __call__(self, call: object, context: CallContext) -> CallOutcome:
            await records.pool.execute(
                "UPDATE sched_appointments SET status = 'confirmed' WHERE id = $1", app_id)
            return CallOutcome("call-2", OutcomeKind.LENGTH_LIMIT, patient_id=pid)

    receiver = await Receiver().start()
    try:
        wb = Writeback(records, {"hl7": MllpDestination("127.0.0.1", receiver.port)})
        handler = OutcomeRecorder(ConfirmsThenCut(), wb,
                                  appointments=CalendarAppointments(records.pool))
        await handler(object(), _context(app_id, pid))
        assert len(receiver.got) == 1
        assert "SIU^S14" in receiver.got[0]
    finally:
        await receiver.close()


async def test_an_outcome_during_a_database_outage_is_spooled_not_lost(
        hl7_server: Listening, records: Records, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app_id, pid = await _booked(hl7_server, tmp_path)
    receiver = await Receiver().start()
    try:
        wb = Writeback(records, {"hl7": MllpDestination("127.0.0.1", receiver.port)})

        async def refused(*args: object, **kwargs: object) -> None:
            raise ConnectionRefusedError("database away")

        with monkeypatch.context() as m:  # the database is away when the call ends
            # the outbox's write of the queue entry (its subject lookup) meets the outage
            m.setitem(records.outbox.ops, "feed_writeback", Op("feed_writeback", refused))
            outcome = await OutcomeRecorder(Scripted(OutcomeKind.CONFIRMED), wb)(
                object(), _context(app_id, pid))
        assert outcome.kind is OutcomeKind.CONFIRMED  # the call itself is not failed
        assert len(wb.spool) == 1
        assert await records.pool.fetchval("SELECT count(*) FROM feed_outbox") == 0
        assert await wb.deliver_due() == 1  # back: replayed, queued and delivered
        assert len(wb.spool) == 0
        assert "SIU^S14" in receiver.got[0]
    finally:
        await receiver.close()


async def test_outreach_the_dialer_gave_up_on_goes_back_as_no_answer(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    app_id, pid = await _booked(hl7_server, tmp_path)
    now = now_utc()
    await records.pool.execute(
        "INSERT INTO dialer_campaigns (id, purpose) VALUES ('reminders', 'appointment_reminder')"
        " ON CONFLICT DO NOTHING")
    await records.pool.execute(
        "INSERT INTO dialer_outreach (campaign_id, appointment_id, patient_id, purpose, label,"
        " due_at, not_after, state, dials, outcome) VALUES ('reminders', $1, $2,"
        " 'appointment_reminder', '24h', $3, $3, 'done', 3, 'no_answer, 3 dials')",
        app_id, pid, now)
    receiver = await Receiver().start()
    try:
        wb = Writeback(records, {"hl7": MllpDestination("127.0.0.1", receiver.port)})
        assert await wb.note_unanswered() == 1
        assert await wb.note_unanswered() == 0  # once
        assert await wb.deliver_due() == 1
        msg = hl7.parse(receiver.got[0])
        assert str(msg.segment("OBX")[5]).startswith("no_answer^No answer")
    finally:
        await receiver.close()


@pytest.mark.parametrize(("receiver", "delivered"), [
    (Receiver(ack_for="SOMEONE-ELSES-1"), False),  # an AA for another message
    (Receiver(separator="#"), True),  # an ACK written with its own field separator
    (Receiver(reply="AE", separator="#"), False),
])
async def test_the_ack_must_be_for_the_message_sent(receiver: Receiver, delivered: bool
                                                    ) -> None:
    """A receiver's AA counts only when its MSA-2 names the control id sent, read with the
    ACK's own delimiters; anything else is not a delivery (kept, retried or failed)."""
    from carrier.feeds.hl7_out import Outcome  # noqa: PLC0415
    from carrier.feeds.writeback import DeliveryError  # noqa: PLC0415

    await receiver.start()
    try:
        dest = MllpDestination("127.0.0.1", receiver.port)
        outcome = Outcome("confirmed", "CLINIC", "CLINIC", "MRN1001", "FL1", "call-9",
                          now_utc(), "CWB9")
        if delivered:
            await dest.send(outcome)
        else:
            with pytest.raises(DeliveryError) as err:
                await dest.send(outcome)
            assert err.value.retry == (receiver.reply == "AA")
        assert len(receiver.got) == 1
    finally:
        await receiver.close()


@pytest.mark.parametrize("receiver", [
    Receiver(reply="AE", err="Testa Patientson 1980-02-03 555-0142 not on file^^HL70357"),
    Receiver(reply="AE Testa Patientson unknown"),
], ids=["err-text", "msa-text"])
async def test_an_ehr_refusal_quoting_the_patient_is_not_kept_or_logged(
        hl7_server: Listening, records: Records, tmp_path: Path, receiver: Receiver,
        caplog: pytest.LogCaptureFixture) -> None:
    """An EHR that writes free text where the ACK has a code (ERR-3, MSA-1) may quote the
    patient. That text used to be stored in clear in ``feed_outbox.last_error`` (shown by
    ``carrier feeds outbox``) and logged; now only a code-shaped value is kept and logged."""
    app_id, pid = await _booked(hl7_server, tmp_path)
    await receiver.start()
    try:
        wb = Writeback(records, {"hl7": MllpDestination("127.0.0.1", receiver.port)})
        await OutcomeRecorder(Scripted(OutcomeKind.COMPLETED, "refill_requested"), wb)(
            object(), _context(app_id, pid))
        row = await records.pool.fetchrow("SELECT status, last_error FROM feed_outbox")
        assert row["status"] in ("failed", "pending")
        assert row["last_error"].startswith("AE" if receiver.reply == "AE" else "ACK code not")
        for phi in ("Testa", "Patientson", "1980", "0142"):
            assert phi not in row["last_error"], row["last_error"]
            assert phi not in caplog.text
    finally:
        await receiver.close()


async def test_the_write_back_names_the_patient_by_the_sending_ehrs_own_identifier(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    """PID-3 lists the hospital's MR identifier first and the clinic's (MSH-4 CLINIC, the
    EHR that sent the booking) second: both are the patient's. Before: the write-back took
    any one of them (``LIMIT 1`` with no order: in practice the first stored, the
    hospital's), so the clinic's EHR got an outcome for an identifier it does not know.
    Now it names the identifier under the sending EHR's own authority."""
    start = (now_utc() + dt.timedelta(days=2)).replace(second=0, microsecond=0)
    await mllp_send(hl7_server.port, [siu("S12", "W7", start=start,
                                          mrn="H77^^^HOSP^MR~MRN1001")], tmp_path)
    row = await records.pool.fetchrow("SELECT app_id, patient_id FROM feed_appointments")
    assert await records.pool.fetchval(
        "SELECT count(*) FROM feed_patients WHERE patient_id = $1", row["patient_id"]) == 2
    receiver = await Receiver().start()
    try:
        wb = Writeback(records, {"hl7": MllpDestination("127.0.0.1", receiver.port)})
        await OutcomeRecorder(Scripted(OutcomeKind.CONFIRMED), wb)(
            object(), _context(row["app_id"], str(row["patient_id"])))
        assert len(receiver.got) == 1
        pid3 = str(hl7.parse(receiver.got[0]).segment("PID")[3])
        assert pid3.startswith("MRN1001^^^CLINIC^MR"), pid3
    finally:
        await receiver.close()
