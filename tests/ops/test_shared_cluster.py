"""Several processes on one embedded cluster: only its owner stops it, as its last user.

Each "other process" is a real Python process holding an ``EmbeddedPostgres`` on the same
folder, as ``carrier db status`` does beside ``carrier serve``. Before the fix, whichever
process closed its handle first ran ``pg_ctl stop`` and took the database from under the
others (the first test failed: the cluster was down after the attached process exited).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from carrier.errors import OperatorError
from carrier.records.embedded import EmbeddedPostgres

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]
REPO = Path(__file__).resolve().parents[2]

# Start (or attach), say whether this process owns the cluster, wait for a line, close.
HOLDER = """
import sys
import time
from carrier.errors import OperatorError
from carrier.records.embedded import EmbeddedPostgres
server = EmbeddedPostgres(sys.argv[1], sync_init=False)
server.start()
print("owner" if server.owner else "attached", flush=True)
sys.stdin.readline()
server.close()
print("closed", flush=True)
"""


class Holder:
    """Another process holding the cluster until ``release()`` (or ``kill()``)."""

    def __init__(self, pgdata: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(pgdata)], cwd=REPO, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.role = self.proc.stdout.readline().strip()  # blocks until started or failed
        assert self.role in ("owner", "attached"), self.proc.stderr.read()  # type: ignore[union-attr]

    def release(self) -> None:
        out, err = self.proc.communicate("\n", timeout=60)
        assert self.proc.returncode == 0, err
        assert out.strip() == "closed"

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=60)


@pytest.fixture
def pgdata(cluster_base: Path) -> Iterator[Path]:
    path = cluster_base / "var" / "pg"
    yield path
    # Whatever a failing test left running.
    leftover = EmbeddedPostgres(path)
    if leftover.running:
        leftover.start()
        leftover.stop(mode="immediate")
        leftover.close()


async def _answers(server: EmbeddedPostgres) -> bool:
    conn = await asyncpg.connect(server.uri())
    try:
        return bool(await conn.fetchval("SELECT true"))
    finally:
        await conn.close()


async def test_an_attached_process_never_stops_the_owners_cluster(pgdata: Path) -> None:
    owner = EmbeddedPostgres(pgdata, sync_init=False)
    owner.start()
    assert owner.owner
    other = Holder(pgdata)
    assert other.role == "attached"
    other.release()
    assert owner.running, "an attached process stopped the cluster when it left"
    assert await _answers(owner)
    owner.close()
    assert not owner.running  # the owner, as last user, stops it


def test_the_owner_leaves_it_running_while_another_process_is_attached(pgdata: Path) -> None:
    first = Holder(pgdata)
    assert first.role == "owner"
    second = Holder(pgdata)
    assert second.role == "attached"
    first.release()
    probe = EmbeddedPostgres(pgdata)
    assert probe.running, "the owner stopped the cluster under an attached process"
    second.release()
    # The attached process never stops it; the next process adopts it (owner gone).
    probe.start()
    assert probe.owner
    probe.close()
    assert not probe.running


def test_a_cluster_whose_owner_was_killed_is_adopted_and_stopped(pgdata: Path) -> None:
    dead = Holder(pgdata)
    assert dead.role == "owner"
    dead.kill()  # SIGKILL: no clean-up ran; the server is still up
    probe = EmbeddedPostgres(pgdata)
    assert probe.running
    adopter = Holder(pgdata)
    assert adopter.role == "owner"
    adopter.release()
    assert not probe.running


def test_a_command_that_started_the_cluster_stops_it_when_done(pgdata: Path) -> None:
    alone = Holder(pgdata)
    assert alone.role == "owner"
    alone.release()
    assert not EmbeddedPostgres(pgdata).running


def _stopped_cluster(pgdata: Path) -> None:
    """Initialise the cluster and leave it stopped (a later start reuses it)."""
    alone = EmbeddedPostgres(pgdata, sync_init=False)
    alone.start()
    alone.close()
    assert not alone.running


def _stale_pid_file(pgdata: Path, pid: int, started: int) -> None:
    # postmaster.pid as a server killed by a power cut leaves it: its pid, folder, start
    # time, port, socket folder, listen address, shared memory key and status lines.
    lines = [str(pid), str(pgdata), str(started), "5432", str(pgdata), "", "0 0", "ready"]
    (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")


def test_a_server_killed_but_not_yet_reaped_is_waited_for_then_a_new_one_starts(
    pgdata: Path
) -> None:
    """A killed postmaster stays a zombie until its parent (init) reaps it, up to a couple
    of seconds here; psutil calls a zombie running. Before, ``serve`` started right after
    a crash "attached" to the dead server, ran on the spool alone and failed its own
    ``pg_ctl stop`` at exit (tests/ops/test_one_serve_per_folder.py failed that way)."""
    _stopped_cluster(pgdata)
    dead = subprocess.Popen(["true"])  # exits at once; never reaped until .wait() below
    os.waitid(os.P_PID, dead.pid, os.WEXITED | os.WNOWAIT)  # exited, still a zombie
    _stale_pid_file(pgdata, dead.pid, int(time.time()))
    probe = EmbeddedPostgres(pgdata, sync_init=False, reap_wait_s=0.2)
    assert not probe.running
    with pytest.raises(OperatorError) as refused:
        probe.start()
    assert f"pid {dead.pid}" in str(refused.value)
    assert "not reaped" in str(refused.value)
    dead.wait()  # its parent reaps it, as init does
    server = EmbeddedPostgres(pgdata, sync_init=False, reap_wait_s=0.2)
    server.start()
    try:
        assert server.owner
        assert server._info().pid != dead.pid
        assert asyncio.run(_answers(server))
    finally:
        server.close()
    assert not server.running


def test_a_pid_file_naming_another_live_process_is_stale(pgdata: Path) -> None:
    """After a power cut the pid in postmaster.pid may belong to an unrelated process
    (a reboot reuses pids). Before, the cluster counted as running: a command attached to
    a server that was not there, and PostgreSQL itself refused to start on the lock file."""
    _stopped_cluster(pgdata)
    other = subprocess.Popen(["sleep", "600"])
    try:
        _stale_pid_file(pgdata, other.pid, int(time.time()) - 3600)  # started an hour ago
        server = EmbeddedPostgres(pgdata, sync_init=False)
        assert not server.running
        server.start()
        try:
            assert server.owner
            assert server._info().pid != other.pid
            assert asyncio.run(_answers(server))
        finally:
            server.close()
        assert other.poll() is None  # the unrelated process was left alone
    finally:
        other.kill()
        other.wait()
