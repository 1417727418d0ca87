"""Issue 12: refill reminders use real prescription data (the clinic file's prescriptions,
seeded into the agent's encrypted table), and "request sent" reaches someone: a staff
task, recorded with an audit entry, before the patient hears it was sent."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from agent.scheduling.prescriptions import PostgresRefillDesk, prescriptions_from
from agent.workflow.effects import Action, Effect, Say, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.host import ActionHost, MemorySink
from agent.workflow.loader import load_workflow
from agent.workflow.records import ClinicFileSource, build_record
from carrier.records.store import Records

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
CLINIC = ROOT / "config" / "clinic.yaml"
NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)


async def _refill_call(records: Records, desk: PostgresRefillDesk, turns: list[str]
                       ) -> tuple[list[Say], MemorySink]:
    source = ClinicFileSource(CLINIC)
    record = build_record(source.clinic(), source.patient("pat-1002"), None, {})
    conv = Conversation(load_workflow(ROOT / "config/workflows/refill_reminder.yaml"), record,
                        call_id="call-rx-1")
    sink = MemorySink()
    host = ActionHost(source.calendar(NOW), sink, patient_id="pat-1002", appointment_id=None,
                      tz=ZoneInfo("America/New_York"), verified=lambda: conv.verified,
                      refills=desk, call_id="call-rx-1")
    said: list[Say] = []
    queue: list[Effect] = conv.start(NOW)
    inputs = iter(turns)
    while queue:
        effect = queue.pop(0)
        if isinstance(effect, Say):
            said.append(effect)
        elif isinstance(effect, Action):
            queue = conv.handle(await host.execute(effect, NOW), NOW) + queue
        elif type(effect).__name__ == "Listen":
            turn = next(inputs, None)
            if turn is None:
                break
            queue = conv.handle(Utterance(turn), NOW) + queue
    return said, sink


async def test_refill_call_names_the_medication_from_the_data_and_creates_a_task(
        records: Records) -> None:
    rows = yaml.safe_load(CLINIC.read_text(encoding="utf-8"))["prescriptions"]
    desk = PostgresRefillDesk(records)
    assert await desk.load(prescriptions_from(rows), NOW) == len(rows)
    # stored encrypted: the medication is not in the table in clear
    raw = await records.pool.fetchval(
        "SELECT medication_ct FROM agent_prescriptions WHERE id = 'rx-1'")
    assert b"lisinopril" not in bytes(raw)

    said, sink = await _refill_call(records, desk, [
        "yes", "November twentieth nineteen fifty five", "yes please"])
    due = next(s for s in said if s.prompt_id == "refill_due")
    assert "lisinopril ten milligrams" in due.text
    assert "Main Street Pharmacy" in due.text
    assert said[-1].prompt_id == "requested"

    [task] = await desk.open_tasks("pharmacy")
    assert (task.kind, task.patient_id, task.prescription_id, task.call_id) == (
        "refill_request", "pat-1002", "rx-1", "call-rx-1")
    audit = await records.pool.fetch(
        "SELECT reason, details FROM audit_log WHERE action = 'staff_task.created'")
    assert [r["reason"] for r in audit] == ["refill_request"]
    assert "lisinopril" not in audit[0]["details"]  # no PHI in the audit entry
    assert [p for p, k, _ in sink.saved if k == "refill_request"] == ["pat-1002"]


async def test_declined_refill_creates_no_task(records: Records) -> None:
    rows = yaml.safe_load(CLINIC.read_text(encoding="utf-8"))["prescriptions"]
    desk = PostgresRefillDesk(records)
    await desk.load(prescriptions_from(rows), NOW)
    said, _ = await _refill_call(records, desk, [
        "yes", "November twentieth nineteen fifty five", "no thanks"])
    assert said[-1].prompt_id == "declined"
    assert await desk.open_tasks() == []


# A carrier's own Call-ID is often digits ("3848276298220188511@10.0.0.1"), as is a web
# chat's random hex now and then. It is no PHI, but the audit's PHI guard read it as a
# phone number in the details: the task row was written, its audit entry refused, and the
# request failed (in the web chat the opt-out behind it was lost).
NUMERIC_CALL_ID = "3848276298220188511@10.0.0.1"


async def test_a_refill_task_from_a_call_with_a_numeric_call_id_is_created_and_audited(
        records: Records) -> None:
    rows = yaml.safe_load(CLINIC.read_text(encoding="utf-8"))["prescriptions"]
    desk = PostgresRefillDesk(records)
    await desk.load(prescriptions_from(rows), NOW)
    [rx] = [p for p in prescriptions_from(rows) if p.id == "rx-1"]
    task = await desk.request(rx, call_id=NUMERIC_CALL_ID, now=NOW)
    assert task.call_id == NUMERIC_CALL_ID
    assert await records.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'staff_task.created'"
        " AND record_id = $1", str(task.id)) == 1
