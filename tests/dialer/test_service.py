"""DialerService as `carrier serve` builds it: records, calendar, gateway boundary."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest

from carrier.call import DialFailure, DialOutcome
from carrier.call import DialRequest as GatewayRequest
from carrier.dialer.ports import Outcome
from carrier.dialer.service import DialerService, result_from_handler
from carrier.records.store import Records
from carrier.settings import load_settings
from tests.dialer.test_integration_records import add_appointment


def test_handler_results_map_to_dial_results() -> None:
    assert (
        result_from_handler(SimpleNamespace(outcome="machine_message", amd="machine")).outcome
        is Outcome.MACHINE
    )
    r = result_from_handler(SimpleNamespace(outcome="confirmed", amd="human"))
    assert (r.outcome, r.confirmed, r.cancelled) == (Outcome.ANSWERED, True, False)
    assert result_from_handler(SimpleNamespace(outcome="cancelled", amd=None)).cancelled
    assert result_from_handler(None).outcome is Outcome.ANSWERED


@dataclass
class FakeGateway:
    """The gateway's boundary: dial() -> Call | DialFailure, run_outbound(call, context)."""

    fail_first: DialOutcome | None = None
    requests: list[GatewayRequest] = field(default_factory=list)
    contexts: list[dict[str, Any]] = field(default_factory=list)

    async def dial(self, req: GatewayRequest) -> Any:
        self.requests.append(req)
        if self.fail_first is not None and len(self.requests) == 1:
            return DialFailure(self.fail_first, None, "", req.trunk)
        return SimpleNamespace(context=dict(req.context))

    async def run_outbound(self, call: Any, context: dict[str, Any]) -> Any:
        self.contexts.append(context)
        return SimpleNamespace(outcome="confirmed", amd="human")


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
    stack = SimpleNamespace(settings=load_settings("config"), records=records, gateway=gateway)
    service = DialerService.from_stack(stack)
    # Pin the wall clock to a weekday morning in New York, whatever the real time is.
    fixed = dt.datetime(2026, 11, 17, 15, 0, tzinfo=dt.UTC)
    service.runner.clock = lambda: fixed
    await pool.execute("UPDATE sched_appointments SET start_at = $1", fixed + dt.timedelta(hours=2))
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop, interval=0.05))
    for _ in range(300):  # bounded wait on the real database
        if gateway.contexts:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 30)
    assert len(gateway.requests) == 1
    req = gateway.requests[0]
    assert (req.to, req.trunk, req.max_duration_s) == ("+12125550188", "demo", 60.0)
    assert gateway.contexts[0]["workflow"] == "appointment_reminder"
    assert gateway.contexts[0]["max_duration_s"] == 60
    [status] = await service.runner.store.status(fixed)
    assert status.confirmed == 1
