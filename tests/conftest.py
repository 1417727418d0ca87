"""Shared fixtures: one throwaway embedded PostgreSQL per test session.

* ``pg_cluster`` (session): the ``EmbeddedPostgres`` server, started in a tmp dir.
* ``cluster_base`` (function): empty folder where code under test may start a cluster.
* ``make_cluster`` (function): factory of extra clusters a test may stop and restart.
* ``pg_url`` (session): its superuser URL (database ``postgres``).
* ``pg_template`` (session): name of a database holding every migration, the template that
  ``db_url`` copies (``CREATE DATABASE ... TEMPLATE`` takes ~50 ms, far less than migrating).
* ``db_url`` (function): superuser URL of a fresh migrated database, dropped afterwards.
* ``test_kek``: the fixed key-encryption key the ``records`` fixture uses.
* ``records`` (function): a ``Records`` on that database, connected as ``carrier_app``,
  with the fixed ``TEST_KEK`` and its spool under ``tmp_path / "spool"``.
* ``speech_models`` (session): Whisper and Piper loaded once for every test that runs the
  agent with speech (``tests/shared_speech.py``; loaded on first use).

Tests using these should carry ``pytest.mark.postgres``.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from agent import MIGRATIONS as AGENT_MIGRATIONS
from carrier.records.crypto import LocalKek
from carrier.records.embedded import EmbeddedPostgres, pg_binary
from carrier.records.migrate import migrate, plan
from carrier.records.store import Records

TEST_KEK = LocalKek(bytes(range(32)))
TEMPLATE_DB = "carrier_template"
_db_numbers = itertools.count(1)


def cluster_dir() -> Path:
    """A folder for a throwaway cluster, outside pytest's ``tmp_path`` tree.

    As root the server runs as the user ``embedded_postgres``, which must traverse every
    parent folder; a concurrently starting pytest session resets ``/tmp/pytest-of-root`` to
    mode 0700, which would lock the server out of its own files mid-run.
    """
    return Path(tempfile.mkdtemp(prefix="carrier-pg-"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EmbeddedPostgres]:
    base = cluster_dir()
    server = EmbeddedPostgres(base / "data", sync_init=False)
    try:
        server.start()
        _not_durable(server)
        yield server
    finally:
        server.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def cluster_base() -> Iterator[Path]:
    """An empty folder outside pytest's tmp tree, for code that starts its own cluster."""
    base = cluster_dir()
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def make_cluster() -> Iterator[Callable[[], EmbeddedPostgres]]:
    """Factory for extra, started clusters a test may stop and restart (fault tests)."""
    made: list[tuple[EmbeddedPostgres, Path]] = []

    def make() -> EmbeddedPostgres:
        base = cluster_dir()
        server = EmbeddedPostgres(base / "data", sync_init=False)
        made.append((server, base))
        server.start()
        _not_durable(server)
        return server

    yield make
    for server, base in made:
        server.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_url(pg_cluster: EmbeddedPostgres) -> str:
    return pg_cluster.uri()


def _not_durable(server: EmbeddedPostgres) -> None:
    """Throwaway clusters skip fsync: a lost machine loses nothing a test needs, and disk
    flushes are what make a busy CI box slow."""
    sql = "".join(
        f"ALTER SYSTEM SET {name} = off;"
        for name in ("fsync", "synchronous_commit", "full_page_writes")
    )
    subprocess.run(
        [
            str(pg_binary("psql")),
            "-q",
            "-d",
            server.uri(),
            "-c",
            sql,
            "-c",
            "SELECT pg_reload_conf()",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


async def _make_template(pg_cluster: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(pg_cluster.uri())
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
        await conn.execute(f"CREATE DATABASE {TEMPLATE_DB}")
    finally:
        await conn.close()
    conn = await asyncpg.connect(pg_cluster.uri(TEMPLATE_DB))
    try:
        await migrate(conn, plan(AGENT_MIGRATIONS))  # the carrier's tables, then the agent's
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_template(pg_cluster: EmbeddedPostgres) -> str:
    asyncio.run(_make_template(pg_cluster))
    return TEMPLATE_DB


@pytest.fixture
async def db_url(pg_cluster: EmbeddedPostgres, pg_template: str) -> AsyncIterator[str]:
    name = f"test_{next(_db_numbers)}"
    admin = await asyncpg.connect(pg_cluster.uri())
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    finally:
        await admin.close()
    yield pg_cluster.uri(name)
    admin = await asyncpg.connect(pg_cluster.uri())
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def speech_models() -> Iterator[Any]:
    from tests.shared_speech import SpeechModels  # noqa: PLC0415 - only speech tests load it

    models = SpeechModels()
    try:
        yield models
    finally:
        models.close()


@pytest.fixture
def test_kek() -> LocalKek:
    return TEST_KEK


@pytest.fixture
async def records(db_url: str, tmp_path: Path) -> AsyncIterator[Records]:
    recs = await Records.open(db_url, TEST_KEK, tmp_path / "spool")
    try:
        yield recs
    finally:
        await recs.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One rerun for a phone call with real speech (Whisper + Piper) that fails: over
    pjsua2, or over a loopback media leg (marked ``call_speech``).

    These calls are real: a synthetic caller speaks into real RTP, the endpointer and
    Whisper hear it, and the outcome depends on where 20 ms frames fall against each
    other. About one run in a few hundred Whisper mis-hears a caller's date of birth or
    a turn is split, and the agent then (correctly) hands the call to staff: a failure of
    the test's scripted caller, not of the product. A rerun that fails again fails the
    suite, and every rerun is reported in pytest's summary (``R``), so none is hidden.
    Any other test with a pjsua2 peer is rerun once only if that peer process crashed by a
    signal while shutting down (``PeerCrashed``: pjsip, the independent test peer, not the
    product; seen once in CI). Nothing else is rerun.
    """
    for item in items:
        if item.get_closest_marker("call_speech") or (
                item.get_closest_marker("pjsua2") and item.get_closest_marker("models")):
            item.add_marker(pytest.mark.flaky(reruns=1))
        elif item.get_closest_marker("pjsua2"):
            item.add_marker(pytest.mark.flaky(reruns=1, only_rerun=["PeerCrashed"]))


_RERUN_REASONS: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep why each rerun test failed its first attempt (CI shows only the test's name)."""
    if report.outcome == "rerun":
        crash = getattr(report.longrepr, "reprcrash", None)
        reason = crash.message if crash is not None else str(report.longrepr)
        _RERUN_REASONS.append(f"{report.nodeid}: {reason.splitlines()[0][:300]}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _RERUN_REASONS:
        terminalreporter.section("why the reruns failed first")
        for line in _RERUN_REASONS:
            terminalreporter.line(line)
