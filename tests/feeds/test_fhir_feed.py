"""FHIR R4 in and out against a local server that follows the spec (tests/feeds/
fhir_r4_server.py): SMART Backend Services auth with a signed JWT, ``_lastUpdated``
polling with paging, a rate limit, and the write-back of outcomes. Every resource
exchanged is validated with ``fhir.resources`` (R4B models)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot
from fhir.resources.R4B.task import Task

from agent.scheduling.prescriptions import PostgresRefillDesk
from carrier.call import Direction
from carrier.feeds.fhir_client import client_from_settings
from carrier.feeds.fhir_poll import FhirPoller
from carrier.feeds.hl7_out import Outcome
from carrier.feeds.store import FeedStore
from carrier.feeds.writeback import Writeback
from carrier.plugin import CallContext, CallOutcome, OutcomeKind
from carrier.records.store import Records
from carrier.settings import FeedsSettings
from tests.feeds.fhir_r4_server import FhirR4Server

pytestmark = pytest.mark.postgres
MODELS = {"Patient": Patient, "Appointment": Appointment, "Practitioner": Practitioner,
          "Schedule": Schedule, "Slot": Slot, "MedicationRequest": MedicationRequest,
          "Task": Task}


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    MODELS[resource["resourceType"]].model_validate(resource)
    return resource


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path_factory.mktemp("fhir") / "client.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, public


@pytest.fixture
def server(keys: tuple[Path, bytes]) -> Iterator[FhirR4Server]:
    srv = FhirR4Server("carrier-test", keys[1]).start()
    yield srv
    srv.close()


def seed(srv: FhirR4Server, start: dt.datetime) -> None:
    for i in (1, 2):
        srv.put(valid({"resourceType": "Patient", "id": f"p{i}",
                       "identifier": [{"system": "urn:mrn", "value": f"M{i}"}],
                       "name": [{"family": "Testa", "given": [f"Pat{i}"]}],
                       "telecom": [{"system": "phone", "value": f"+1555555010{i}"}],
                       "birthDate": "1970-01-01", "address": [{"state": "CA"}]}))
    srv.put(valid({"resourceType": "Practitioner", "id": "dr1",
                   "name": [{"prefix": ["Dr."], "family": "Demo"}]}))
    srv.put(valid({"resourceType": "Schedule", "id": "s1",
                   "actor": [{"reference": "Practitioner/dr1"}]}))
    srv.put(valid({"resourceType": "Slot", "id": "sl1", "schedule": {"reference": "Schedule/s1"},
                   "status": "busy", "start": start.isoformat(),
                   "end": (start + dt.timedelta(minutes=30)).isoformat()}))
    srv.put(valid({"resourceType": "Appointment", "id": "a1", "status": "booked",
                   "start": start.isoformat(),
                   "end": (start + dt.timedelta(minutes=30)).isoformat(),
                   "participant": [{"actor": {"reference": "Patient/p1"}, "status": "accepted"},
                                   {"actor": {"reference": "Practitioner/dr1"},
                                    "status": "accepted"}]}))
    srv.put(valid({"resourceType": "MedicationRequest", "id": "rx1", "status": "active",
                   "intent": "order", "subject": {"reference": "Patient/p1"},
                   "medicationCodeableConcept": {"text": "Atorvastatin 20 mg"},
                   "dispenseRequest": {"performer": {"display": "Main Street Pharmacy"},
                                       "validityPeriod": {"end": dt.date.today().isoformat()}}}))


def settings_for(srv: FhirR4Server, pem: Path) -> FeedsSettings:
    return FeedsSettings(fhir_base_url=srv.base, fhir_token_url=srv.token_url,
                         fhir_client_id="carrier-test", fhir_key_file=str(pem),
                         writeback_fhir=True)


async def test_poll_pages_rate_limits_and_applies(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(microsecond=0)
    seed(server, start)
    client = client_from_settings(settings_for(server, keys[0]))
    paused: list[float] = []

    async def sleep(seconds: float) -> None:  # the client's back-off, under test control
        paused.append(seconds)

    client._sleep = sleep
    server.rate_limit = 1
    poller = FhirPoller(client, feed_store, page=1)
    counts = await poller.poll_once(dt.datetime.now(dt.UTC))
    assert counts == {"Patient:applied": 2, "Practitioner:read": 1, "Schedule:read": 1,
                      "Slot:read": 1, "Appointment:applied": 1, "MedicationRequest:applied": 1}
    assert paused == [0.0]  # the 429's Retry-After: 0 was honoured, once
    assert ("POST", "/token", 200) in server.log
    assert sum(1 for m, p, _ in server.log if p == "/fhir/Patient") == 3  # 2 pages + 429
    row = await records.pool.fetchrow(
        "SELECT a.status, a.start_at, p.name FROM sched_appointments a JOIN sched_providers p"
        " ON p.id = a.provider_id WHERE a.id = 'feed:fhir:a1'")
    assert (row["status"], row["start_at"], row["name"]) == ("booked", start, "Dr. Demo")
    pid = await records.pool.fetchval("SELECT patient_id FROM feed_appointments")
    rx = await PostgresRefillDesk(records).due(str(pid), dt.datetime.now(dt.UTC))
    assert rx is not None
    assert (rx.medication, rx.pharmacy) == ("Atorvastatin 20 mg", "Main Street Pharmacy")
    # Nothing changed: the cursor holds; a cancellation on the server arrives next poll.
    assert await poller.poll_once(dt.datetime.now(dt.UTC)) == {}
    appt = server.resources["Appointment"]["a1"]
    server.put(valid({**appt, "status": "cancelled"}))
    assert await poller.poll_once(dt.datetime.now(dt.UTC)) == {"Appointment:applied": 1}
    status = await records.pool.fetchval(
        "SELECT status FROM sched_appointments WHERE id = 'feed:fhir:a1'")
    assert status == "cancelled"


async def test_write_back_updates_the_appointment_and_files_one_task(
        server: FhirR4Server, keys: tuple[Path, bytes]) -> None:
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(microsecond=0)
    seed(server, start)
    client = client_from_settings(settings_for(server, keys[0]))
    at = dt.datetime.now(dt.UTC)
    await client.send(Outcome("confirmed", "fhir", "fhir", "p1", "a1", "call-1", at, "CWB1"))
    appt = valid(server.resources["Appointment"]["a1"])
    assert appt["status"] == "booked"
    assert appt["meta"]["versionId"] == "2"
    assert appt["participant"][0]["status"] == "accepted"
    server.tokens.clear()  # the token was revoked: the client gets a new one after the 401
    refill = Outcome("refill_request", "fhir", "fhir", "p1", None, "call-2", at, "CWB2")
    await client.send(refill)
    await client.send(refill)  # a resend (lost answer) files no second task
    tasks = list(server.resources["Task"].values())
    assert len(tasks) == 1
    valid(tasks[0])
    assert tasks[0]["code"]["coding"][0]["code"] == "refill_request"
    assert sum(1 for m, p, s in server.log if p == "/token") == 2


async def test_a_reschedule_updates_the_appointment_to_the_new_slot(
        server: FhirR4Server, keys: tuple[Path, bytes]) -> None:
    """A versioned Appointment update with the new start/end, still booked (was: the
    appointment was cancelled and the new slot never reached the server)."""
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(microsecond=0)
    seed(server, start)
    client = client_from_settings(settings_for(server, keys[0]))
    new = start + dt.timedelta(days=2, hours=1)
    await client.send(Outcome("rescheduled", "fhir", "fhir", "p1", "a1", "call-r",
                              dt.datetime.now(dt.UTC), "CWBR", new_start=new,
                              new_end=new + dt.timedelta(minutes=20), new_provider="dr1"))
    appt = valid(server.resources["Appointment"]["a1"])
    model = Appointment.model_validate(appt)
    assert (model.start, model.end) == (new, new + dt.timedelta(minutes=20))
    assert appt["status"] == "booked"
    assert appt["meta"]["versionId"] == "2"
    assert appt["participant"][0]["status"] == "accepted"
    puts = [(p, st) for m, p, st in server.log if m == "PUT"]
    assert len(puts) == 1
    assert puts[0][0].endswith("/Appointment/a1")


async def test_refill_call_speaks_the_feeds_medication_request_and_staff_get_tasks(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    """A MedicationRequest polled from FHIR is what the refill reminder speaks about; the
    patient's yes is a staff task (the agent's queue) and a FHIR Task back at the source."""
    server.put(valid({"resourceType": "Patient", "id": "p2",
                      "name": [{"family": "McSample", "given": ["Fakey"]}],
                      "telecom": [{"system": "phone", "value": "+15550100124"}],
                      "birthDate": "1955-11-20"}))
    server.put(valid({"resourceType": "MedicationRequest", "id": "rx7", "status": "active",
                      "intent": "order", "subject": {"reference": "Patient/p2"},
                      "medicationCodeableConcept": {"text": "atorvastatin twenty milligrams"},
                      "dispenseRequest": {"performer": {"display": "Elm Street Pharmacy"}}}))
    settings = settings_for(server, keys[0])
    client = client_from_settings(settings)
    await FhirPoller(client, feed_store).poll_once(dt.datetime.now(dt.UTC))
    pid = str(await records.pool.fetchval("SELECT patient_id FROM feed_patients"))

    from agent.workflow.effects import Action, Say, Utterance  # noqa: PLC0415
    from agent.workflow.engine import Conversation  # noqa: PLC0415
    from agent.workflow.host import ActionHost, MemorySink  # noqa: PLC0415
    from agent.workflow.loader import load_workflow  # noqa: PLC0415
    from agent.workflow.records import ClinicFileSource, build_record  # noqa: PLC0415
    from tests.safety.test_refills import CLINIC, NOW, ROOT  # noqa: PLC0415

    source = ClinicFileSource(CLINIC)  # the same synthetic person, for the identity check
    record = build_record(source.clinic(), source.patient("pat-1002"), None, {})
    conv = Conversation(load_workflow(ROOT / "config/workflows/refill_reminder.yaml"), record,
                        call_id="call-rx-9")
    desk = PostgresRefillDesk(records)
    host = ActionHost(source.calendar(NOW), MemorySink(), patient_id=pid, appointment_id=None,
                      tz=ZoneInfo("America/New_York"), verified=lambda: conv.verified,
                      refills=desk, call_id="call-rx-9")
    said: list[Say] = []
    queue = conv.start(NOW)
    turns = iter(["yes", "November twentieth nineteen fifty five", "yes please"])
    while queue:
        effect = queue.pop(0)
        if isinstance(effect, Say):
            said.append(effect)
        elif isinstance(effect, Action):
            queue = conv.handle(await host.execute(effect, NOW), NOW) + queue
        elif type(effect).__name__ == "Listen":
            turn = next(turns, None)
            if turn is None:
                break
            queue = conv.handle(Utterance(turn), NOW) + queue
    due = next(s for s in said if s.prompt_id == "refill_due")
    assert "atorvastatin twenty milligrams" in due.text
    assert "Elm Street Pharmacy" in due.text
    [task] = await desk.open_tasks("pharmacy")
    assert (task.patient_id, task.prescription_id) == (pid, "feed:fhir:rx7")

    wb = Writeback(records, {"fhir": client})
    ctx = CallContext(Direction.OUTBOUND, patient_id=pid, purpose="refill")
    await wb.record(CallOutcome("call-rx-9", OutcomeKind.COMPLETED, patient_id=pid,
                                detail="refill_requested"), ctx)
    assert await wb.deliver_due() == 1
    [fhir_task] = server.resources["Task"].values()
    valid(fhir_task)
    assert fhir_task["for"]["identifier"]["value"] == "p2"


async def test_fhir_settings_drive_the_poll_loop_and_destination(
        server: FhirR4Server, keys: tuple[Path, bytes], records: Records) -> None:
    """``fhir_base_url`` starts the poll in ``carrier serve`` every ``fhir_poll_s``;
    ``writeback_fhir`` adds the FHIR destination."""
    from agent.scheduling.feed_apply import FeedCalendar  # noqa: PLC0415
    from carrier.feeds.service import Feeds  # noqa: PLC0415
    from carrier.settings import Settings  # noqa: PLC0415

    class App:
        schedule_feed = FeedCalendar(records)

    feeds_settings = dataclasses.replace(settings_for(server, keys[0]), fhir_poll_s=0.05)
    feeds = Feeds.build(dataclasses.replace(Settings(), feeds=feeds_settings), records, App())
    assert set(feeds.writeback.destinations) == {"fhir"}
    stop = asyncio.Event()

    def polls() -> int:
        return sum(1 for m, p, _ in server.log if p == "/fhir/Patient")

    seen = asyncio.Event()
    loop = asyncio.get_running_loop()
    server.notify = lambda: loop.call_soon_threadsafe(
        lambda: seen.set() if polls() >= 3 else None)
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(feeds.run(stop))
        await asyncio.wait_for(seen.wait(), timeout=20)  # the server thread saw 3 polls
        stop.set()
    assert polls() >= 3


async def test_intake_answers_and_screening_results_go_back_as_questionnaire_responses(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    """What the patient answered on an intake call (demographics, insurance, the visit's
    reason) and a screening's result are each one QuestionnaireResponse at the source,
    queued only for calls that saved such answers, never filed twice."""
    from fhir.resources.R4B.questionnaireresponse import (  # noqa: PLC0415
        QuestionnaireResponse,
    )

    server.put(valid({"resourceType": "Patient", "id": "p3",
                      "name": [{"family": "Sampleton", "given": ["Quin"]}],
                      "telecom": [{"system": "phone", "value": "+15550100125"}],
                      "birthDate": "1966-06-06"}))
    client = client_from_settings(settings_for(server, keys[0]))
    await FhirPoller(client, feed_store).poll_once(dt.datetime.now(dt.UTC))
    pid = str(await records.pool.fetchval("SELECT patient_id FROM feed_patients"))
    await records.add_call_answers("call-in-1", "visit_reason", pid,
                                   {"reason": "a sore knee after a fall"})
    await records.add_call_answers("call-in-1", "insurance", pid, {"carrier": "Acme Health"})
    await records.add_call_answers("call-sc-1", "screening", pid,
                                   {"qualified": True, "answers": {"smoker": "no"}})
    wb = Writeback(records, {"fhir": client})
    inbound = CallContext(Direction.INBOUND, patient_id=pid)
    intake = CallOutcome("call-in-1", OutcomeKind.TRANSFERRED, patient_id=pid,
                         detail="completed")
    assert len(await wb.record(intake, inbound)) == 1
    assert await wb.record(intake, inbound) == []  # the same call again: queued once
    outbound = CallContext(Direction.OUTBOUND, patient_id=pid, purpose="screening")
    assert len(await wb.record(CallOutcome("call-sc-1", OutcomeKind.TRANSFERRED,
                                           patient_id=pid, detail="qualified"),
                               outbound)) == 1
    # a call that saved no answers has none to write back
    assert await wb.record(CallOutcome("call-x", OutcomeKind.COMPLETED, patient_id=pid,
                                       detail="completed"), inbound) == []
    assert await wb.deliver_due() == 2
    kinds = {r["kind"]: r["status"] for r in await records.pool.fetch(
        "SELECT kind, status FROM feed_outbox")}
    assert kinds == {"intake_answers": "sent", "screening_result": "sent"}
    responses = {r["questionnaire"]: r
                 for r in server.resources["QuestionnaireResponse"].values()}
    assert len(responses) == 2
    for qr in responses.values():
        QuestionnaireResponse.model_validate(qr)
        assert qr["subject"]["identifier"]["value"] == "p3"
    answers = {i["linkId"]: i["answer"][0]["valueString"]
               for i in responses["urn:carrier:writeback:intake_answers"]["item"]}
    assert answers == {"visit_reason.reason": "a sore knee after a fall",
                       "insurance.carrier": "Acme Health"}
    screening = {i["linkId"]: i["answer"][0]["valueString"]
                 for i in responses["urn:carrier:writeback:screening_result"]["item"]}
    assert screening["screening.qualified"] == "True"
    await client.send(dataclasses.replace(  # a resend (lost answer) files no second one
        Outcome("intake_answers", "fhir", "fhir", "p3", None, "call-in-1",
                dt.datetime.now(dt.UTC), responses["urn:carrier:writeback:intake_answers"]
                ["identifier"]["value"]), answers=(("a.b", "c"),)))
    assert len(server.resources["QuestionnaireResponse"]) == 2


async def test_absolute_and_versioned_references_find_the_patient(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    """Servers write references as ``Patient/p1``, as the absolute URL
    ``https://.../fhir/Patient/p1`` or versioned (``Patient/p1/_history/1``): all three
    are the same patient (was: the appointment was skipped, or keyed to no patient)."""
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(microsecond=0)
    server.put(valid({"resourceType": "Patient", "id": "p1",
                      "name": [{"family": "Patientson", "given": ["Testa"]}],
                      "telecom": [{"system": "phone", "value": "+15555550101"}]}))
    server.put(valid({"resourceType": "Practitioner", "id": "dr1",
                      "name": [{"prefix": ["Dr."], "family": "Demo"}]}))
    refs = {"a1": f"{server.base}/Patient/p1", "a2": "Patient/p1/_history/1",
            "a3": "Patient/p1"}
    for aid, ref in refs.items():
        server.put(valid({"resourceType": "Appointment", "id": aid, "status": "booked",
                          "start": start.isoformat(),
                          "end": (start + dt.timedelta(minutes=30)).isoformat(),
                          "participant": [
                              {"actor": {"reference": ref}, "status": "accepted"},
                              {"actor": {"reference": f"{server.base}/Practitioner/dr1"},
                               "status": "accepted"}]}))
    client = client_from_settings(settings_for(server, keys[0]))
    counts = await FhirPoller(client, feed_store).poll_once(dt.datetime.now(dt.UTC))
    assert counts["Appointment:applied"] == 3, counts
    rows = await records.pool.fetch(
        "SELECT DISTINCT a.patient_id, p.name FROM sched_appointments a"
        " JOIN sched_providers p ON p.id = a.provider_id")
    assert len(rows) == 1
    assert rows[0]["name"] == "Dr. Demo"
    assert await records.pool.fetchval("SELECT count(*) FROM patients") == 1


async def test_a_cancelled_appointment_without_times_is_cancelled(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    """FHIR lets a cancelled Appointment omit start and end (invariant app-3); it still
    cancels the booked one (was: skipped, the reminders went on)."""
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(microsecond=0)
    seed(server, start)
    poller = FhirPoller(client_from_settings(settings_for(server, keys[0])), feed_store)
    await poller.poll_once(dt.datetime.now(dt.UTC))
    appt = {k: v for k, v in server.resources["Appointment"]["a1"].items()
            if k not in ("start", "end")}
    server.put(valid({**appt, "status": "cancelled"}))
    assert await poller.poll_once(dt.datetime.now(dt.UTC)) == {"Appointment:applied": 1}
    row = await records.pool.fetchrow(
        "SELECT status, start_at FROM sched_appointments WHERE id = 'feed:fhir:a1'")
    assert (row["status"], row["start_at"]) == ("cancelled", start)


async def test_a_change_in_the_same_second_as_the_last_poll_is_not_lost(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    """Servers that keep ``meta.lastUpdated`` to the second: a cancellation written in the
    second the last poll's newest resource has is read by the next poll (was: ``gt`` the
    cursor skipped it for good, and the appointment stayed booked)."""
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(microsecond=0)
    second = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    server.clock = lambda: second
    seed(server, start)
    poller = FhirPoller(client_from_settings(settings_for(server, keys[0])), feed_store)
    await poller.poll_once(dt.datetime.now(dt.UTC))
    assert await poller.poll_once(dt.datetime.now(dt.UTC)) == {}  # nothing new: quiet
    appt = server.resources["Appointment"]["a1"]
    server.put(valid({**appt, "status": "cancelled"}))  # the same second
    assert await poller.poll_once(dt.datetime.now(dt.UTC)) == {"Appointment:applied": 1}
    status = await records.pool.fetchval(
        "SELECT status FROM sched_appointments WHERE id = 'feed:fhir:a1'")
    assert status == "cancelled"


async def test_a_deleted_appointment_stops_being_booked(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    """A search never returns a deleted resource: the poll reads the Appointment history
    for deletions (was: a deleted appointment stayed booked and its reminders went on). A
    server without type-level history does not stop the poll."""
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(microsecond=0)
    seed(server, start)
    poller = FhirPoller(client_from_settings(settings_for(server, keys[0])), feed_store)
    await poller.poll_once(dt.datetime.now(dt.UTC))
    server.delete("Appointment", "a1")
    assert await poller.poll_once(dt.datetime.now(dt.UTC)) == {"Appointment:deleted": 1}
    assert await poller.poll_once(dt.datetime.now(dt.UTC)) == {}  # read once
    row = await records.pool.fetchrow(
        "SELECT status, start_at FROM sched_appointments WHERE id = 'feed:fhir:a1'")
    assert (row["status"], row["start_at"]) == ("cancelled", start)
    server.history = False
    assert await poller.poll_once(dt.datetime.now(dt.UTC)) == {}
