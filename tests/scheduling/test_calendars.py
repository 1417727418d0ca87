"""The calendar interface, on every implementation: in-memory, Postgres, FHIR R4."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from agent.scheduling import (
    Appointment,
    AppointmentStatus,
    Calendar,
    InMemoryCalendar,
    NotFound,
    Provider,
    SchedulingError,
    SlotTaken,
    working_hour_slots,
)
from agent.scheduling.fhir import FhirCalendar
from agent.scheduling.postgres import PostgresCalendar

from .fhir_server import FhirStore, serve

TZ = ZoneInfo("America/New_York")
NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)  # Monday 10:00 local
PROVIDERS = [Provider("prov-1", "Dr. Ada Testwell", "family medicine"),
             Provider("prov-2", "Dr. Ben Samplewood", "cardiology")]
APPT_START = dt.datetime(2026, 11, 24, 10, 30, tzinfo=TZ)


def _slots() -> list[Any]:
    return working_hour_slots(PROVIDERS, first_day=dt.date(2026, 11, 23), days=7,
                              start=dt.time(9), end=dt.time(12), minutes=30,
                              weekdays=[0, 1, 2, 3, 4], tz=TZ)


def _seed() -> tuple[list[Any], list[Appointment]]:
    slots = _slots()
    booked = next(s for s in slots if s.provider_id == "prov-1" and s.start == APPT_START)
    slots = [s if s.id != booked.id else type(s)(s.id, s.provider_id, s.start, s.end, free=False)
             for s in slots]
    appt = Appointment("appt-1", "pat-1001", "prov-1", APPT_START,
                       APPT_START + dt.timedelta(minutes=30), AppointmentStatus.BOOKED, booked.id)
    return slots, [appt]


def _fhir_seed(store: FhirStore) -> None:
    slots, appts = _seed()
    for p in PROVIDERS:
        store.put({"resourceType": "Practitioner", "id": p.id, "name": [{"text": p.name}]})
        store.put({"resourceType": "Schedule", "id": f"sched-{p.id}",
                   "actor": [{"reference": f"Practitioner/{p.id}"}]})
    for s in slots:
        store.put({"resourceType": "Slot", "id": s.id,
                   "schedule": {"reference": f"Schedule/sched-{s.provider_id}"},
                   "status": "free" if s.free else "busy", "start": s.start.isoformat(),
                   "end": s.end.isoformat()})
    for a in appts:
        store.put({"resourceType": "Appointment", "id": a.id, "status": "booked",
                   "start": a.start.isoformat(), "end": a.end.isoformat(),
                   "slot": [{"reference": f"Slot/{a.slot_id}"}],
                   "participant": [
                       {"actor": {"reference": "Patient/pat-1001"}, "status": "needs-action"},
                       {"actor": {"reference": "Practitioner/prov-1"}, "status": "accepted"}]})
    store.put({"resourceType": "Patient", "id": "pat-1001", "birthDate": "1980-03-05",
               "name": [{"given": ["Testa"], "family": "Patientson"}],
               "telecom": [{"system": "phone", "value": "+15550100123"}]})


@pytest.fixture
def fhir() -> Iterator[tuple[FhirStore, str]]:
    store = FhirStore()
    _fhir_seed(store)
    server, url = serve(store)
    try:
        yield store, url
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def pg_pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


async def test_in_memory_calendar_contract() -> None:
    slots, appts = _seed()
    await _contract(InMemoryCalendar(PROVIDERS, slots, appts, tz=TZ))


@pytest.mark.postgres
async def test_postgres_calendar_contract(pg_pool: asyncpg.Pool) -> None:
    cal = PostgresCalendar(pg_pool, tz=TZ)
    slots, appts = _seed()
    await cal.load(PROVIDERS, slots, appts, NOW)
    await cal.load(PROVIDERS, slots, appts, NOW)  # seeding twice changes nothing
    await _contract(cal)


async def test_fhir_calendar_contract(fhir: tuple[FhirStore, str]) -> None:
    await _contract(FhirCalendar(fhir[1], tz=TZ))


async def _contract(cal: Calendar) -> None:
    assert [p.id for p in await cal.providers()] == ["prov-1", "prov-2"]
    appt = await cal.appointment("appt-1")
    assert (appt.patient_id, appt.provider_id, appt.status) == (
        "pat-1001", "prov-1", AppointmentStatus.BOOKED)
    assert appt.start == APPT_START

    first = await cal.free_slots(after=NOW + dt.timedelta(minutes=50), limit=3)
    assert [s.start.astimezone(TZ).strftime("%a %H:%M") for s in first] == [
        "Mon 11:00", "Mon 11:00", "Mon 11:30"]
    tuesday = await cal.free_slots(after=NOW, limit=10, day=dt.date(2026, 11, 24),
                                   provider_id="prov-1")
    assert APPT_START not in [s.start for s in tuesday]  # the booked slot is not offered
    assert all(s.provider_id == "prov-1" for s in tuesday)
    assert len(tuesday) == 5
    assert await cal.free_slots(after=NOW, part_of_day="afternoon") == []

    confirmed = await cal.set_status("appt-1", AppointmentStatus.CONFIRMED, NOW)
    assert confirmed.status == AppointmentStatus.CONFIRMED
    assert (await cal.appointment("appt-1")).status == AppointmentStatus.CONFIRMED

    target = tuesday[0]
    new = await cal.reschedule("appt-1", target.id, NOW)
    assert new.start == target.start
    assert new.patient_id == "pat-1001"
    assert (await cal.appointment("appt-1")).status == AppointmentStatus.CANCELLED
    # the old slot is free again, the new one is not
    again = await cal.free_slots(after=NOW, limit=20, day=dt.date(2026, 11, 24),
                                 provider_id="prov-1")
    assert APPT_START in [s.start for s in again]
    assert target.start not in [s.start for s in again]
    with pytest.raises(SlotTaken):
        await cal.book("pat-1002", target.id, NOW)
    mine = await cal.appointments_for("pat-1001")
    assert {a.id for a in mine} == {"appt-1", new.id}
    with pytest.raises(NotFound):
        await cal.appointment("appt-missing")


async def test_fhir_concurrent_slot_update_is_refused(fhir: tuple[FhirStore, str]) -> None:
    store, url = fhir
    cal = FhirCalendar(url, tz=TZ)
    slot = (await cal.free_slots(after=NOW, limit=1))[0]
    # another client books the slot between our read and our write: version moves on
    original = FhirCalendar._request_sync

    def racing(self: FhirCalendar, method: str, path: str, body: Any,
               extra: dict[str, str]) -> Any:
        if method == "PUT" and path == f"Slot/{slot.id}":
            res = dict(store.resources["Slot"][slot.id])
            res["status"] = "busy"
            store.put(res)
        return original(self, method, path, body, extra)

    FhirCalendar._request_sync = racing  # type: ignore[method-assign]
    try:
        with pytest.raises(SlotTaken):
            await cal.book("pat-1002", slot.id, NOW)
    finally:
        FhirCalendar._request_sync = original  # type: ignore[method-assign]
    assert not any(r["status"] == "booked" and r["id"] != "appt-1"
                   for r in store.resources["Appointment"].values())


async def test_fhir_patient_read_and_wire_format(fhir: tuple[FhirStore, str]) -> None:
    store, url = fhir
    cal = FhirCalendar(url, tz=TZ)
    patient = await cal.patient("pat-1001")
    assert patient == {"id": "pat-1001", "first_name": "Testa", "last_name": "Patientson",
                       "dob": "1980-03-05", "phone": "+15550100123"}
    slot = (await cal.free_slots(after=NOW, limit=1))[0]
    new = await cal.book("pat-1001", slot.id, NOW)
    created = store.resources["Appointment"][new.id]
    assert created["resourceType"] == "Appointment"
    assert created["status"] == "booked"
    assert created["slot"] == [{"reference": f"Slot/{slot.id}"}]
    assert {p["actor"]["reference"] for p in created["participant"]} == {
        "Patient/pat-1001", "Practitioner/prov-1"}
    assert store.resources["Slot"][slot.id]["status"] == "busy"
    await cal.set_status(new.id, AppointmentStatus.CONFIRMED, NOW)
    accepted = next(p for p in store.resources["Appointment"][new.id]["participant"]
                if p["actor"]["reference"] == "Patient/pat-1001")
    assert accepted["status"] == "accepted"
    with pytest.raises(NotFound):
        await cal.patient("nobody")


async def test_fhir_unreachable_server_is_a_scheduling_error() -> None:
    cal = FhirCalendar("http://127.0.0.1:9", tz=TZ, timeout=2)
    with pytest.raises(SchedulingError):
        await cal.providers()


@pytest.mark.postgres
async def test_postgres_double_booking_race_has_one_winner(pg_pool: asyncpg.Pool) -> None:
    cal = PostgresCalendar(pg_pool, tz=TZ)
    slots, appts = _seed()
    await cal.load(PROVIDERS, slots, appts, NOW)
    slot = (await cal.free_slots(after=NOW, limit=1))[0]
    results = await asyncio.gather(*(cal.book(f"pat-{i}", slot.id, NOW) for i in range(4)),
                                   return_exceptions=True)
    winners = [r for r in results if isinstance(r, Appointment)]
    assert len(winners) == 1
    assert all(isinstance(r, SlotTaken) for r in results if not isinstance(r, Appointment))


async def test_fhir_patient_write(fhir: tuple[FhirStore, str]) -> None:
    store, url = fhir
    cal = FhirCalendar(url, tz=TZ)
    new_id = await cal.save_patient(None, first_name="Sample", last_name="Person",
                                    dob=dt.date(1990, 1, 2), phone="+15550100150")
    assert await cal.patient(new_id) == {"id": new_id, "first_name": "Sample",
                                         "last_name": "Person", "dob": "1990-01-02",
                                         "phone": "+15550100150"}
    await cal.save_patient("pat-1001", first_name="Testa", last_name="Patientson-Renamed")
    assert store.resources["Patient"]["pat-1001"]["name"][0]["family"] == "Patientson-Renamed"
    assert store.resources["Patient"]["pat-1001"]["birthDate"] == "1980-03-05"  # kept
    assert store.resources["Patient"]["pat-1001"]["meta"]["versionId"] == "2"
