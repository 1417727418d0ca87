"""Every PHI the console shows is an audit entry, on the pages as on the API: here the
coming appointments (patient ids and times) the patients page lists, over real HTTPS."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from agent.scheduling.outreach import CalendarAppointments
from carrier.console.app import ConsoleContext
from carrier.console.server import client_context
from carrier.records.operators import Operators
from tests.console.conftest import Clock, code_at

pytestmark = pytest.mark.postgres


async def test_the_patients_page_audits_the_appointments_it_lists(
        console: ConsoleContext, served: str, clock: Clock) -> None:
    pid = await console.records.add_patient("Testa Patientson", "+15555550123", actor="test",
                                            reason="fixture")
    pool = console.records.pool
    await pool.execute("INSERT INTO sched_providers (id, name) VALUES ('dr', 'Dr Synthetic')")
    start = clock() + dt.timedelta(days=2)
    await pool.execute(
        "INSERT INTO sched_appointments (id, patient_id, provider_id, start_at, end_at, status,"
        " updated_at) VALUES ('ap-1', $1, 'dr', $2, $3, 'booked', $2)",
        str(pid), start, start + dt.timedelta(minutes=30))
    console.appointments = CalendarAppointments(pool)
    issued = await Operators(pool, console.records.keys).add("sched", "scheduler", now=clock())
    async with httpx.AsyncClient(base_url=served, verify=client_context(console.settings)) as c:
        r = await c.post("/api/v1/session", json={"name": "sched", "password": issued.password,
                                                  "totp": code_at(issued, clock())})
        assert r.status_code == 200
        page = await c.get("/patients")
        assert page.status_code == 200
        assert str(pid) in page.text  # the appointment's patient, shown
        api = await c.get("/api/v1/appointments")
        assert [a["patient_id"] for a in api.json()] == [str(pid)]
    await console.records.drain_spool()
    rows = await pool.fetch("SELECT actor, action, details FROM audit_log"
                            " WHERE action = 'appointments.read' ORDER BY seq")
    assert [(r["actor"], r["action"]) for r in rows] == [
        ("console:sched", "appointments.read")] * 2  # the page's view, then the API's
    assert [json.loads(r["details"])["rows"] for r in rows] == [1, 1]
