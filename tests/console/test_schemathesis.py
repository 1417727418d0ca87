"""The API against its own OpenAPI description (schemathesis), signed in as each role.

Lean on purpose (CI budget): a few generated requests per operation for a role that may
call it, one for a role that may not (its answer must be the documented 403). Every answer
must be documented (status, content type, schema) and none may be a server error. The app
runs on uvicorn on 127.0.0.1 in a thread with its own loop, on a real database. The lookup
budget is small, so the searches by number also answer their documented 429."""

from __future__ import annotations

import asyncio
import datetime as dt
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agent.callback import create_callback_task
from agent.staff_tasks import RecordsStaffTasks
from carrier.console.app import ConsoleContext, build_app
from carrier.console.roles import Role
from carrier.console.server import serve_app
from carrier.dialer.store import OutreachStore
from carrier.records.cdr import CallDetail
from carrier.records.operators import Operators
from carrier.records.store import Records
from tests.conftest import TEST_KEK
from tests.console.conftest import START, Clock, StubAppointments, StubLive, code_at, settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
ALLOWED_EXAMPLES = 4


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    ready: queue.Queue[Any] = queue.Queue()
    stop: list[Any] = []

    async def main() -> None:
        records = await Records.open(db_url, TEST_KEK, tmp_path / "spool")
        try:
            # A small lookup budget: the searches by number run past it, so their 429 is
            # met (it was not in the description) as well as their 200.
            ctx = ConsoleContext(settings(tmp_path, tls=False, phi_lookups_per_hour=2),
                                 records=records,
                                 live=StubLive(), campaigns=OutreachStore(records.pool),
                                 appointments=StubAppointments(), now=Clock(START))
            await ctx.campaigns.ensure_campaign("reminders", "appointment_reminder")
            await records.record_cdr(CallDetail(  # a call record for /calls to answer with
                "cdr-1", "outbound", START, START + dt.timedelta(seconds=30), "local_bye",
                from_number="+15550100100", to_number="+15550100101", answered_at=START,
                sip_status=200, outcome="confirmed", verstat="TN-Validation-Passed"))
            ctx.application = SimpleNamespace(staff_tasks=RecordsStaffTasks(records))
            await create_callback_task(records, queue="front_desk", patient_id="p-1",
                                       call_id="cdr-1", number="+15550100101", now=START)
            await records.drain_spool()
            ops = Operators(records.pool, records.keys)
            issued = {r: await ops.add(f"st-{r.value}", r.value, now=START) for r in Role}
            app = build_app(ctx)
            done = asyncio.Event()
            loop = asyncio.get_running_loop()
            stop.append(lambda: loop.call_soon_threadsafe(done.set))
            async with serve_app(app, "127.0.0.1", 0) as port:
                ready.put((f"http://127.0.0.1:{port}", issued, app.openapi()))
                await done.wait()
        finally:
            await records.close()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    yield ready.get(timeout=60)
    stop[0]()
    thread.join(timeout=30)


def _session(base: str, issued: Any) -> requests.Session:
    s = requests.Session()
    r = s.post(f"{base}/api/v1/session", json={
        "name": issued.name, "password": issued.password, "totp": code_at(issued, START)},
        timeout=10)
    assert r.status_code == 200, r.text
    s.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return s


def test_api_conforms_to_its_spec_for_every_role(served: Any) -> None:
    base, issued, spec = served
    schema = schemathesis.openapi.from_dict(spec)
    sessions = {role: _session(base, issued[role]) for role in Role}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/v1/session":
            continue  # signing in and out would end the sessions under test
        for role, session in sessions.items():
            probe = session.request(operation.method.upper(), base + _example_path(operation),
                                    timeout=10)
            allowed = probe.status_code != 403
            examples = ALLOWED_EXAMPLES if allowed else 1

            try:
                _fuzz(operation, base, session, examples)
            except Exception as exc:  # noqa: BLE001 - collected: one report for all
                failures.append(f"{role.value} {operation.method.upper()} {operation.path}:"
                                f" {str(exc)[:400]}")
    assert not failures, "\n".join(failures)


def _fuzz(operation: Any, base: str, session: requests.Session, examples: int) -> None:
    @hypothesis.settings(max_examples=examples, deadline=None, database=None,
                         phases=[Phase.explicit, Phase.generate],
                         suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        case.call_and_validate(base_url=base, session=session, checks=CHECKS)

    run()


def _example_path(operation: Any) -> str:
    return "/".join("x" if part.startswith("{") else part
                    for part in operation.path.split("/"))
