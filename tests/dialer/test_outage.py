"""Issue 11 item 2: the dialer survives a database outage, says so in health, and resumes.

The real embedded Postgres is stopped mid-run: passes fail and are retried with back-off
(never the end of the loop), the loopback health probe answers 503 naming the dialer,
and after the restart passes succeed again, health turns 200 and new outreach is dialled.
Before the fix the loop died on the first failed pass and made no more.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import pytest

from agent import MIGRATIONS as AGENT_MIGRATIONS
from agent.scheduling.outreach import CalendarAppointments
from carrier.cli import main
from carrier.console.server import serve_console
from carrier.dialer.runner import PassReport
from carrier.dialer.service import Backoff, DialerService
from carrier.errors import ConfigError
from carrier.health import HasWriters, Health, Liveness, fetch_health, writers_check
from carrier.records.embedded import EmbeddedPostgres
from carrier.records.migrate import migrate, plan
from carrier.settings import load_settings
from carrier.sip.endpoint import EndpointConfig, SipEndpoint
from tests.dialer.conftest import START, FakeClock, FakeDialer, make_runner
from tests.dialer.test_integration_records import add_appointment

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]


async def _until(cond: Callable[[], bool], what: str, *, seconds: float = 60) -> None:
    """Bounded wait on the real database server going down or coming back."""
    for _ in range(int(seconds / 0.05)):
        if cond():
            return
        await asyncio.sleep(0.05)  # bounded poll: the dialer loop against a real Postgres
    raise AssertionError(f"timed out waiting for {what}")


async def test_dialer_passes_survive_a_database_outage(
    make_cluster: Callable[[], EmbeddedPostgres], caplog: pytest.LogCaptureFixture
) -> None:
    cluster = make_cluster()
    conn = await asyncpg.connect(cluster.uri())
    await migrate(conn, plan(AGENT_MIGRATIONS))  # the carrier's tables, then the agent's
    await conn.close()
    pool = await asyncpg.create_pool(cluster.uri(), min_size=1, max_size=4, timeout=5,
                                     command_timeout=5)
    clock = FakeClock()
    dialer = FakeDialer(clock)
    live = Liveness("dialer", max_failures=2)
    service = DialerService(make_runner(pool, clock, dialer), CalendarAppointments(pool),
                            liveness=live, backoff=Backoff(base=0.05, cap=0.2))
    health = Health()
    health.register("dialer", live.health)
    await add_appointment(pool, "a1", "p1", START + dt.timedelta(hours=2))
    stop = asyncio.Event()
    try:
        async with serve_console(health, "127.0.0.1", 0) as port, asyncio.TaskGroup() as tg:
            task = tg.create_task(service.run(stop, interval=0.05))
            await _until(lambda: [p for p, _, _ in dialer.dials] == ["p1"], "first dial")
            assert (await fetch_health("127.0.0.1", port))[0] == 200

            await asyncio.to_thread(cluster.stop)
            await _until(lambda: live.failures >= 3, "failed passes")
            assert not task.done()  # still looping, backing off
            status, body = await fetch_health("127.0.0.1", port)
            assert status == 503
            assert body["failed"] == ["dialer"]

            await asyncio.to_thread(cluster.start)
            await _until(lambda: live.failures == 0 and live.last_success is not None,
                         "a good pass after the restart")
            await add_appointment(pool, "a2", "p2", START + dt.timedelta(hours=2))
            await _until(lambda: "p2" in [p for p, _, _ in dialer.dials], "dial after restart")
            assert (await fetch_health("127.0.0.1", port))[0] == 200
            stop.set()
    finally:
        await pool.close()
    retries = [r for r in caplog.records if r.getMessage() == "dialer pass failed; retrying"]
    assert retries, "each failed pass is logged"
    for r in retries:  # by error class only: no numbers, no names
        assert set(vars(r)) >= {"error", "failures", "retry_in_s"}
        assert "+1" not in r.getMessage()


async def test_carrier_health_exits_non_zero_naming_the_failed_component(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    live = Liveness("dialer", max_failures=1)
    health = Health()
    health.register("dialer", live.health)
    config = EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None)
    async with SipEndpoint(config) as sip, serve_console(health, "127.0.0.1", 0) as port:
        monkeypatch.setenv("CARRIER_CONSOLE__PORT", str(port))
        monkeypatch.setenv("CARRIER_CONSOLE__TLS", "false")  # this probe-only port is HTTP
        monkeypatch.setenv("CARRIER_SIP__UDP_PORT", str(sip.port("UDP")))
        argv = ["--config-dir", str(REPO / "config"), "health", "--timeout", "3"]
        # The CLI runs its own event loop (asyncio.run); keep it off the test's loop.
        assert await asyncio.to_thread(main, argv) == 0
        live.failure(ConnectionRefusedError())
        assert await asyncio.to_thread(main, argv) == 1
    out = capsys.readouterr().out
    assert "OPTIONS -> 200" in out
    assert "FAIL dialer: 1 failed passes in a row (last: ConnectionRefusedError)" in out
    assert 'health -> 503 ["dialer"]' in out


def test_records_writers_are_reported_by_name() -> None:
    """The records facade's `health()` (its writers' states) joins the registry."""

    @dataclasses.dataclass(frozen=True)
    class Writer:
        name: str
        ok: bool
        last_error: str | None = None

    @dataclasses.dataclass(frozen=True)
    class Report:
        writers: tuple[Writer, ...]

    class FakeRecords:
        def health(self) -> Report:
            return Report((Writer("audit", True), Writer("consent", False, "DataError")))

    records = FakeRecords()
    assert isinstance(records, HasWriters)
    health = Health()
    health.register("records", writers_check(records))
    assert [(c.name, c.ok, c.detail) for c in health.failed()] == [
        ("records.consent", False, "last error DataError")]


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("CONSOLE__PORT", "70000", "out of range"),
    ("HEALTH__DIALER_MAX_FAILURES", "0", "at least 1"),
    ("DIALER__OPERATOR_TEST_NUMBERS", "[5550100199]", "E.164"),
])
def test_health_and_test_list_settings_are_checked(key: str, value: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        load_settings(REPO / "config", env={f"CARRIER_{key}": value})


async def test_a_connection_reset_mid_query_is_an_outage_not_the_end_of_the_loop() -> None:
    """Before: asyncpg's InternalClientError ("cannot switch to state 15; another operation
    is in progress"), raised when a pooled connection is reset as the server goes away,
    was neither an OSError nor an InterfaceError: it ended the dialer loop (seen in
    `test_dialer_passes_survive_a_database_outage` under load)."""
    passes: list[str] = []
    stop = asyncio.Event()

    class Flaky(DialerService):
        async def run_pass(self, *, limit: int = 50, **_: Any) -> Any:  # stop: the outer event
            passes.append("pass")
            if len(passes) == 1:
                raise asyncpg.InternalClientError(
                    "cannot switch to state 15; another operation (2) is in progress")
            stop.set()
            return SimpleNamespace(added=0, stopped=0), PassReport()

    live = Liveness("dialer", max_failures=2)
    service = Flaky(cast(Any, None), cast(Any, None), liveness=live,
                    backoff=Backoff(base=0.01, cap=0.01))
    await asyncio.wait_for(service.run(stop, interval=0.01), timeout=10)
    assert passes == ["pass", "pass"]
    assert live.failures == 0
    assert live.last_success is not None
