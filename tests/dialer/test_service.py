"""DialerService as `carrier serve` builds it: records, the application's appointment
source, the gateway boundary, and the typed `CallOutcome` -> `DialResult` mapping."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest

from agent.scheduling.model import AppointmentStatus
from agent.scheduling.outreach import STATE_OF, CalendarAppointments
from carrier.call import DialFailure, DialOutcome, DialRequest, Direction
from carrier.dialer.ports import Outcome
from carrier.dialer.service import Backoff, DialerService, dial_result, is_outage
from carrier.plugin import AmdResult, CallContext, CallOutcome, OutcomeKind
from carrier.records.store import Records
from carrier.settings import load_settings
from carrier.trunk_service import Placed
from tests.dialer.test_integration_records import add_appointment


def test_call_outcomes_map_to_dial_results() -> None:
    machine = CallOutcome("c1", OutcomeKind.MACHINE_MESSAGE, amd=AmdResult.MACHINE)
    assert dial_result(machine).outcome is Outcome.MACHINE
    r = dial_result(CallOutcome("c2", OutcomeKind.CONFIRMED, amd=AmdResult.HUMAN))
    assert (r.outcome, r.confirmed, r.cancelled) == (Outcome.ANSWERED, True, False)
    assert dial_result(CallOutcome("c3", OutcomeKind.CANCELLED)).cancelled
    assert dial_result(None).outcome is Outcome.ANSWERED  # cut at its length limit
    with pytest.raises(TypeError):
        CallOutcome("c4", "confirmed")  # type: ignore[arg-type] - no duck-typed results


def test_outage_errors_are_recognised_inside_the_dialling_task_group() -> None:
    assert is_outage(ConnectionResetError())
    assert is_outage(ExceptionGroup("pass", [OSError(), asyncpg.InterfaceError("closed")]))
    assert not is_outage(ExceptionGroup("pass", [OSError(), KeyError("bug")]))
    assert not is_outage(ValueError())


def test_backoff_is_exponential_and_bounded() -> None:
    b = Backoff(base=1.0, cap=60.0)
    assert [b.delay(n) for n in (1, 2, 3, 4, 7, 50)] == [1, 2, 4, 8, 60, 60]


@dataclass
class FakeGateway:
    """The gateway's boundary: place() -> Placed, run_outbound(call, context) -> outcome."""

    fail_first: DialOutcome | None = None
    requests: list[DialRequest] = field(default_factory=list)
    contexts: list[dict[str, Any]] = field(default_factory=list)
    ran: asyncio.Event = field(default_factory=asyncio.Event)  # a call has run

    async def place(self, req: DialRequest) -> Placed[Any]:
        self.requests.append(req)
        if self.fail_first is not None and len(self.requests) == 1:
            return Placed(DialFailure(self.fail_first, None, "", req.trunk), req.trunk, ())
        return Placed(SimpleNamespace(context=CallContext(
            direction=Direction.OUTBOUND, patient_id=req.patient_id, purpose=req.purpose,
            appointment_id=req.appointment_id, max_duration_s=req.max_duration_s)),
            req.trunk, ())

    async def run_outbound(self, call: Any, context: dict[str, Any]) -> CallOutcome:
        self.contexts.append(context)
        self.ran.set()
        return CallOutcome("c1", OutcomeKind.CONFIRMED, amd=AmdResult.HUMAN)


@pytest.mark.postgres
async def test_service_dials_through_the_gateway_and_stops_on_confirmation(
    pool: asyncpg.Pool, records: Records
) -> None:
    pid = await records.add_patient("Test Patient", "+12125550188", actor="t", reason="t")
    await records.consent_grant(
        pid, "voice", "tcpa_express", source="intake", evidence_ref="form-1", actor="t"
    )
    now = dt.datetime.now(dt.UTC)
    await add_appointment(pool, "a1", str(pid), now + dt.timedelta(hours=2), updated=now)
    gateway = FakeGateway()
    service = DialerService.build(load_settings("config"), records, gateway,
                                  CalendarAppointments(pool))
    # Pin the wall clock to a weekday morning in New York, whatever the real time is.
    fixed = dt.datetime(2026, 11, 17, 15, 0, tzinfo=dt.UTC)
    service.runner.clock = lambda: fixed
    await pool.execute("UPDATE sched_appointments SET start_at = $1", fixed + dt.timedelta(hours=2))
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop, interval=0.05))
    with contextlib.suppress(TimeoutError):  # bounded: the dialer's pass on the real database
        await asyncio.wait_for(gateway.ran.wait(), timeout=6)
    stop.set()
    await asyncio.wait_for(task, 30)
    assert len(gateway.requests) == 1
    req = gateway.requests[0]
    assert (req.to, req.trunk, req.max_duration_s) == ("+12125550188", "demo", 60.0)
    assert req.clearance is not None
    assert req.clearance.rule == "allowed"
    # The carrier names the purpose; which workflow serves it is the application's choice.
    assert gateway.contexts[0]["purpose"] == "appointment_reminder"
    assert gateway.contexts[0]["appointment_id"] == "a1"
    assert gateway.contexts[0]["max_duration_s"] == 60
    [status] = await service.runner.store.status(fixed)
    assert status.confirmed == 1
    assert service.liveness.health().ok


def test_every_calendar_status_has_a_dialer_state() -> None:
    """The dialer's own status list drifted ('no_show' was never a status); now the
    calendar maps each of its statuses onto the port's states, and none is missing."""
    assert set(STATE_OF) == set(AppointmentStatus)


@dataclass
class CrashingGateway(FakeGateway):
    """The application's handler fails on the first answered call (a bug, a bad record)."""

    crashes: int = 1

    async def run_outbound(self, call: Any, context: dict[str, Any]) -> CallOutcome:
        if self.crashes:
            self.crashes -= 1
            self.contexts.append(context)
            raise KeyError("application bug")
        return await super().run_outbound(call, context)


@pytest.mark.postgres
async def test_one_calls_handler_failure_does_not_stop_the_pass(
    pool: asyncpg.Pool, records: Records
) -> None:
    """Before: the handler's exception ended the pass's TaskGroup (the other calls in
    flight were cut) and the service's loop with it. Now that call counts as answered and
    the pass goes on to the next patient."""
    fixed = dt.datetime(2026, 11, 17, 15, 0, tzinfo=dt.UTC)
    for i, number in enumerate(("+12125550186", "+12125550187")):
        pid = await records.add_patient("Testa Patientson", number, actor="t", reason="t")
        await records.consent_grant(
            pid, "voice", "tcpa_express", source="intake", evidence_ref="form-1", actor="t")
        await add_appointment(pool, f"a{i}", str(pid),
                              fixed + dt.timedelta(hours=2, minutes=i - 1), updated=fixed)
    gateway = CrashingGateway()
    service = DialerService.build(load_settings("config"), records, gateway,
                                  CalendarAppointments(pool))
    service.runner.clock = lambda: fixed
    _, report = await service.run_pass()
    assert len(gateway.requests) == 2
    assert report.dialled == 2
    assert report.outcomes == {"answered": 1, "confirmed": 1}
