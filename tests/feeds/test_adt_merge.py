"""ADT^A40 (merge patient: MRG-1 the prior identifier, PID-3 the survivor's), end to end
through ``mllp_send`` on the embedded Postgres.

* The prior is on file, the survivor is not (the EHR found a duplicate of a patient we
  know by one identifier): the patient is re-linked to the survivor's identifier. Nothing
  of theirs moves (appointments, consent, DNC, language stay with the one patient); later
  messages under the survivor's identifier reach them; audited ``feed.patient.merge``.
* Both are on file as two patients: ``AR`` 201 at MRG^1^1 with a text that says why
  (merging two records moves appointments the application keeps, and consent, and cannot be
  undone by a message): nothing changes, audited ``feed.patient.merge_refused`` for both.
* The prior is unknown: the PID applies as an update would (nothing to merge).
* An A40 without MRG is ``AE`` 100."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from uuid import UUID

import pytest

from carrier.feeds.bulk import apply_many
from carrier.feeds.store import FeedItem, PatientIn, RetiredIdentifier
from carrier.records.store import Records
from tests.feeds.conftest import Listening, ack_fields, mllp_send, now_utc
from tests.feeds.hl7_samples import adt, siu, ts

pytestmark = pytest.mark.postgres


def a40(control: str, *, survivor: str, prior: str | None, sent: dt.datetime,
        phone: str = "(555)555-0131") -> bytes:
    segs = [f"MSH|^~\\&|PM|CLINIC|CARRIER|CARRIER|{ts(sent)}||ADT^A40^ADT_A39|{control}|P|2.5.1",
            f"EVN|A40|{ts(sent)}",
            f"PID|1||{survivor}^^^CLINIC^MR||Testa^Patience||19700101|F|||^^^NY||{phone}"]
    if prior is not None:
        segs.append(f"MRG|{prior}^^^CLINIC^MR")
    return ("\r".join(segs) + "\r").encode()


async def _pid(hl7_server: Listening, records: Records, mrn: str) -> UUID | None:
    return await records.pool.fetchval(
        "SELECT patient_id FROM feed_patients WHERE ref_bidx = $1",
        hl7_server.store.patient_key("CLINIC", mrn))


async def _audited(records: Records, action: str) -> list[str]:
    rows = await records.pool.fetch("SELECT record_id FROM audit_log WHERE action = $1"
                                    " ORDER BY record_id", action)
    return [r["record_id"] for r in rows]


async def test_a_prior_identifier_on_file_is_relinked_to_the_survivor(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc()
    start = (now + dt.timedelta(days=3)).replace(second=0, microsecond=0)
    acks = await mllp_send(hl7_server.port, [
        siu("S12", "M1", mrn="OLD1", start=start, appt="AP1", sent=now - dt.timedelta(hours=3)),
        a40("M2", survivor="NEW1", prior="OLD1", sent=now - dt.timedelta(hours=2)),
        adt("A08", "M3", mrn="NEW1", sent=now - dt.timedelta(hours=1), phone="(555)555-0139"),
        siu("S15", "M4", mrn="NEW1", start=start, appt="AP1", sent=now, phone="(555)555-0139"),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1:3] for a in acks] == [
        ["AA", "M1"], ["AA", "M2"], ["AA", "M3"], ["AA", "M4"]]
    survivor = await _pid(hl7_server, records, "NEW1")
    assert survivor is not None
    assert await _pid(hl7_server, records, "OLD1") is None
    assert await records.pool.fetchval("SELECT count(*) FROM patients") == 1
    patient = await records.get_patient(survivor, actor="test", reason="check")
    assert patient is not None
    assert patient.phone == "+15555550139"
    assert await records.pool.fetchval(
        "SELECT a.status FROM sched_appointments a JOIN feed_appointments f"
        " ON f.app_id = a.id WHERE f.ref = 'AP1' AND a.patient_id = $1",
        str(survivor)) == "cancelled"
    assert await _audited(records, "feed.patient.merge") == [str(survivor)]


async def test_two_patients_on_file_are_not_merged_by_a_message(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc()
    acks = await mllp_send(hl7_server.port, [
        adt("A08", "N1", mrn="TWO1", sent=now - dt.timedelta(hours=2), phone="(555)555-0141"),
        adt("A08", "N2", mrn="TWO2", sent=now - dt.timedelta(hours=2), phone="(555)555-0142"),
        a40("N3", survivor="TWO2", prior="TWO1", sent=now - dt.timedelta(hours=1)),
    ], tmp_path)
    fields = [ack_fields(a) for a in acks]
    assert [f["MSA"][1:3] for f in fields] == [["AA", "N1"], ["AA", "N2"], ["AR", "N3"]]
    assert fields[2]["ERR"][2] == "MRG^1^1"
    assert fields[2]["ERR"][3].split("^")[0] == "201"
    assert "merge" in fields[2]["MSA"][3]
    one, two = await _pid(hl7_server, records, "TWO1"), await _pid(hl7_server, records, "TWO2")
    assert one is not None
    assert two is not None
    assert one != two
    assert await records.pool.fetchval("SELECT count(*) FROM patients") == 2
    assert sorted(await _audited(records, "feed.patient.merge_refused")) == sorted(
        [str(one), str(two)])
    assert await records.pool.fetchval(
        "SELECT count(*) FROM feed_messages WHERE control_id = 'N3'") == 0


async def test_an_unknown_prior_applies_the_pid_and_a_missing_mrg_is_refused(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc()
    acks = await mllp_send(hl7_server.port, [
        a40("U1", survivor="ONLY1", prior="NEVER1", sent=now),
        a40("U2", survivor="ONLY2", prior=None, sent=now),
        a40("U3", survivor="ONLY3", prior="ONLY3", sent=now),
    ], tmp_path)
    fields = [ack_fields(a) for a in acks]
    assert [f["MSA"][1:3] for f in fields] == [["AA", "U1"], ["AE", "U2"], ["AA", "U3"]]
    assert fields[1]["ERR"][3].split("^")[0] == "100"
    assert await _pid(hl7_server, records, "ONLY1") is not None
    assert await _pid(hl7_server, records, "ONLY2") is None
    assert await _audited(records, "feed.patient.merge") == []


async def test_a_late_message_under_the_prior_identifier_reaches_the_survivor(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    """An engine's queue or a resend can deliver a message under the prior identifier after
    the A40. Before, it made a new patient (the prior id was no one's any more); now it
    reaches the patient it was merged into (its demographics, from before the merge, are
    not taken)."""
    now = now_utc()
    start = (now + dt.timedelta(days=3)).replace(second=0, microsecond=0)
    acks = await mllp_send(hl7_server.port, [
        siu("S12", "L1", mrn="OLD2", start=start, appt="AP2", sent=now - dt.timedelta(hours=3)),
        a40("L2", survivor="NEW2", prior="OLD2", sent=now - dt.timedelta(hours=1),
            phone="(555)555-0135"),
        siu("S12", "L3", mrn="OLD2", start=start, appt="AP3", sent=now - dt.timedelta(hours=2),
            phone="(555)555-0136"),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1:3] for a in acks] == [["AA", "L1"], ["AA", "L2"],
                                                          ["AA", "L3"]]
    survivor = await _pid(hl7_server, records, "NEW2")
    assert survivor is not None
    assert await records.pool.fetchval("SELECT count(*) FROM patients") == 1
    assert await records.pool.fetchval(
        "SELECT patient_id FROM feed_appointments WHERE ref = 'AP3'") == survivor
    patient = await records.get_patient(survivor, actor="test", reason="check")
    assert patient is not None
    assert patient.phone == "+15555550135"


async def test_a_retired_identifier_reused_after_the_merge_is_refused(
        hl7_server: Listening, records: Records, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """After an A40 the prior identifier is retired (HL7 v2.5.1 merge semantics: it ceases
    to name anyone). An EHR that issues it again, to a new registration or a booking sent
    after the merge, means someone else or a mistake. Before: the message silently reached
    the survivor (the booking was theirs, AA). Now: AE 204 at PID^1^3 and a warning; the
    survivor is untouched. A message sent before the merge (a queue) still reaches them."""
    now = now_utc()
    start = (now + dt.timedelta(days=3)).replace(second=0, microsecond=0)
    acks = await mllp_send(hl7_server.port, [
        adt("A04", "R1", mrn="OLD5", sent=now - dt.timedelta(hours=3)),
        a40("R2", survivor="NEW5", prior="OLD5", sent=now - dt.timedelta(hours=2)),
        adt("A04", "R3", mrn="OLD5", sent=now, name="Testa^Other", phone="(555)555-0137"),
        siu("S12", "R4", mrn="OLD5", start=start, appt="AP5", sent=now,
            phone="(555)555-0137"),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AA", "AE", "AE"]
    assert [ack_fields(a)["ERR"][2:4] for a in acks[2:]] == [
        ["PID^1^3", "204^Unknown key identifier^HL70357"]] * 2
    survivor = await _pid(hl7_server, records, "NEW5")
    assert survivor is not None
    patient = await records.get_patient(survivor, actor="test", reason="check")
    assert patient is not None
    assert (patient.name, patient.phone) == ("Patience Testa", "+15555550131")  # the A40's
    assert await records.pool.fetchval("SELECT count(*) FROM patients") == 1
    assert await records.pool.fetchval(
        "SELECT count(*) FROM feed_appointments WHERE ref = 'AP5'") == 0
    warned = [r for r in caplog.records if r.levelname == "WARNING" and "204" in r.getMessage()]
    assert len(warned) == 2
    assert "Testa" not in caplog.text


async def test_a_csv_row_under_a_retired_identifier_is_refused(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    """The CSV import, a snapshot taken now, found the retired identifier too: before, its
    row's name and phone overwrote the survivor's; now the file is refused naming the
    column, as for an ambiguous identifier, and nothing changes."""
    now = now_utc()
    acks = await mllp_send(hl7_server.port, [
        adt("A04", "C1", mrn="OLD6", sent=now - dt.timedelta(hours=3)),
        a40("C2", survivor="NEW6", prior="OLD6", sent=now - dt.timedelta(hours=2)),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AA"]
    item = FeedItem("CLINIC", "csv:9", "csv", PatientIn("CLINIC", "OLD6", "Other Testa",
                                                        "+15555550138", None), None,
                    sent_at=now, fields=("last_name", "phone", "mrn"))
    with pytest.raises(RetiredIdentifier) as refused:
        await apply_many(hl7_server.store, [item], now)
    assert refused.value.field == "mrn"
    survivor = await _pid(hl7_server, records, "NEW6")
    assert survivor is not None
    patient = await records.get_patient(survivor, actor="test", reason="check")
    assert patient is not None
    assert patient.phone == "+15555550131"
