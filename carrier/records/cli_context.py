"""What every database command works on: the settings ``carrier serve`` reads.

A command that touches the records resolves, once, through :func:`where`: the settings
from ``--config-dir`` (``load_settings``, the same loader and environment overrides as
``serve``), the database (``database.url``; without one the embedded cluster in
``<data_dir>/pg``, attached to when ``serve`` runs it and never stopped from here), the
data folder (``data_dir``), the key-encryption key (``keys.kek_env``, then
``keys.kek_file``) and the audit anchor (``keys.audit_signing_key``,
``keys.checkpoints_file``). ``--database-url`` and ``--data-dir`` on the command line
override the settings for that one run; with one of them and no config folder at all
(neither named nor ``./config``), the built-in defaults stand in for the folder.

A command's own writes go through a spool of its own (``<data_dir>/spool/cli-<pid>``), never
the spool of a ``serve`` running beside it: two processes replaying and emptying one spool
file would lose each other's rows. What a command could not deliver stays there, and the
next command takes the folder over and replays it. A folder holding anything (rows waiting,
rows the database refused, a corrupt spool set aside) is never removed.

When the database does not take a write and the disk refuses its spool too (full), the
command ends with :class:`NotRecorded` (exit 74): what was not recorded, by kind and
count, and the folder; what was spooled before stays there.

Database failures become one-line :class:`OperatorError` messages here
(:func:`database_failure`), named by what went wrong (unreachable, refused login, no such
database, no schema), never a traceback; :func:`carrier.cli.main` applies the same to a
command that ran its coroutine some other way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import json
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from carrier import logs
from carrier.errors import DiskFull, NotRecorded, OperatorError
from carrier.records.anchor import Anchor
from carrier.records.crypto import DecryptError, LocalKek, key_file_exposure
from carrier.records.embedded import no_temporary_folder, open_database, process_token
from carrier.records.kek_source import kek_source
from carrier.records.migrate import Migration, after_migrations, migrate, plan
from carrier.records.spool import SpoolUnwritable
from carrier.records.store import Records
from carrier.settings import Settings, default_config_dir, load_settings

T = TypeVar("T")
log = logging.getLogger(__name__)


def add_database_args(parser: argparse.ArgumentParser) -> None:
    """``--database-url``/``--data-dir`` (overrides of the settings) and ``--config-dir``."""
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL (default: database.url from the settings; none = embedded)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data folder (default: data_dir from the settings)",
    )
    # Also accepted after the sub-command; SUPPRESS keeps the one given before it.
    parser.add_argument("--config-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.set_defaults(uses_settings=True)


def config_dir(args: argparse.Namespace) -> Path:
    # `carrier call` has its own --config (kept for compatibility): it names the same thing.
    given = getattr(args, "config", None) or getattr(args, "config_dir", None)
    return Path(given) if given else default_config_dir()


@dataclass(frozen=True)
class Where:
    settings: Settings
    """The settings, with command-line overrides applied (paths follow ``data_dir``)."""

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)

    @property
    def database_url(self) -> str | None:
        return self.settings.database.url


def where(args: argparse.Namespace) -> Where:
    """The settings this command runs on (loaded once per command)."""
    found = getattr(args, "_where", None)
    if isinstance(found, Where):
        return found
    settings = _load(args)
    if getattr(args, "data_dir", None) is not None:
        settings = dataclasses.replace(settings, data_dir=str(args.data_dir))
    if getattr(args, "database_url", None):
        settings = dataclasses.replace(
            settings, database=dataclasses.replace(settings.database, url=args.database_url))
    found = Where(settings)
    args._where = found
    return found


def _load(args: argparse.Namespace) -> Settings:
    cdir = config_dir(args)
    named = (getattr(args, "config", None) or getattr(args, "config_dir", None)
             or os.environ.get("CARRIER_CONFIG_DIR"))
    overridden = getattr(args, "data_dir", None) is not None or getattr(
        args, "database_url", None)
    if cdir.is_dir() or named or not overridden:
        return load_settings(cdir)  # a folder that is named but missing is refused
    # No config folder anywhere, and the command line says where the data is (a fresh
    # install running `carrier db migrate --data-dir ...`): the built-in defaults and the
    # environment, validated as ever, exactly as an empty carrier.yaml would give.
    try:
        with tempfile.TemporaryDirectory(prefix="carrier-no-config-") as empty:
            (Path(empty) / "carrier.yaml").write_text("", encoding="utf-8")
            return load_settings(empty)
    except OSError as exc:  # a full disk: no temporary folder takes the empty file
        raise no_temporary_folder("the built-in settings") from exc


def apply_settings(args: argparse.Namespace) -> None:
    """Fill ``args.data_dir``/``args.database_url`` from the settings when not given, for
    commands that read them directly (``carrier campaign``, ``carrier call``)."""
    w = where(args)
    args.data_dir = w.data_dir
    args.database_url = w.database_url


def kek_for(settings: Settings, *, create: bool = True) -> LocalKek:
    """The key-encryption key (:func:`kek_source`); a key file is created 0600 on first use
    unless ``create`` is false (a running node reading it again never makes a key of its
    own)."""
    source = kek_source(settings)
    if source.path is None:
        try:
            return LocalKek.from_base64(source.text or "")
        except ValueError as exc:
            raise OperatorError(f"{source.what.split()[0]}: {exc}") from None
    path = source.path
    try:
        exposed = key_file_exposure(path)
    except OSError as exc:  # a data folder that is a file, or unreadable: named, one line
        raise OperatorError(f"{source.what}: {exc.strerror}") from None
    if exposed is not None:
        raise OperatorError(f"{source.what.split()[0]}: {exposed}")
    try:
        return LocalKek.load_or_create(path) if create else LocalKek(path.read_bytes())
    except OSError as exc:
        raise OperatorError(f"{source.what}: {exc.strerror}") from None
    except ValueError as exc:
        raise OperatorError(f"{source.what.split()[0]}: {exc}") from None


def anchor_for(settings: Settings) -> Anchor:
    try:
        return Anchor.from_settings(settings)
    except OSError as exc:
        raise OperatorError(f"keys.audit_signing_key: {exc.filename}: {exc.strerror}") from None
    except (TypeError, ValueError) as exc:
        path = settings.path(settings.keys.audit_signing_key, "keys/audit_signing.pem")
        raise OperatorError(f"keys.audit_signing_key: {path} is not an Ed25519 private key"
                            f" in PEM ({type(exc).__name__})") from None


_SCHEMA_MISSING = (asyncpg.UndefinedTableError, asyncpg.UndefinedFunctionError)
# What a command may meet at the database edge; :func:`carrier.cli.main` turns each into
# one line through :func:`database_failure`, whichever command ran into it.
# A stored value that does not decrypt (a data key not held, a damaged value) is met there
# too: one line, never the value.
DATABASE_FAILURES: tuple[type[Exception], ...] = (asyncpg.PostgresError, asyncpg.InterfaceError,
                                                  DecryptError)


def database_failure(exc: Exception) -> OperatorError:
    """One operator line for a database failure, named by its kind (never its message
    text, which may quote a row's values), or for a stored value that does not decrypt."""
    if isinstance(exc, DecryptError):  # its text names a key version, never the value
        return OperatorError(f"a stored value does not decrypt with the data keys held ({exc});"
                             " carrier keys status counts values per data-key version")
    return _database_failure(exc)


def _database_failure(exc: Exception) -> OperatorError:
    name = exc.__class__.__name__
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return OperatorError(f"database refused the login ({name})")
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return OperatorError("the database named in database.url does not exist")
    if isinstance(exc, _SCHEMA_MISSING):
        return OperatorError(f"the database has no records schema ({name});"
                             " run `carrier db migrate`")
    if isinstance(exc, asyncpg.ClientConfigurationError):
        return OperatorError(f"database.url: {exc}")
    if isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                        asyncpg.InterfaceError)):
        return OperatorError(f"database unreachable or connection lost ({name})")
    code = getattr(exc, "sqlstate", None)
    return OperatorError(f"the database refused the command ({name}, SQLSTATE {code})")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; database failures become one operator line. The loop's
    uncaught-error reports name the error's class only (``logs.loop_error``). Ctrl-C
    (SIGINT) cancels the coroutine and always ends in ``KeyboardInterrupt`` (exit 130),
    whatever the coroutine made of the cancellation."""
    interrupted: list[int] = []

    async def guarded() -> T:
        loop = asyncio.get_running_loop()
        logs.guard_loop(loop)
        task = asyncio.current_task()

        def on_sigint() -> None:  # asyncio.run's own handler, which also remembers it
            interrupted.append(signal.SIGINT)
            if task is not None:
                task.cancel()

        with contextlib.suppress(ValueError, RuntimeError):  # not the main thread
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        try:
            return await coro
        finally:
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)

    try:
        result = asyncio.run(guarded())
    except asyncio.CancelledError:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    except DATABASE_FAILURES as exc:
        if interrupted:  # the failure is the interrupt's (a query cancelled half-way)
            raise KeyboardInterrupt from None
        raise database_failure(exc) from None
    except ValueError as exc:  # not the URL (see _connect): its text may quote a record
        if interrupted:
            raise KeyboardInterrupt from None
        raise OperatorError(f"the command failed ({type(exc).__name__}); no detail is shown,"
                            " as it may quote a record") from None
    if interrupted:
        # Ctrl-C came and the coroutine finished anyway: Python 3.11's asyncio can lose a
        # cancellation (wait_for racing an inner task that completes, as in asyncpg's
        # connect) and asyncio.run then returns as if nothing happened. Interrupted is 130.
        raise KeyboardInterrupt
    return result


async def _connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=15)
    except (OSError, TimeoutError, asyncpg.PostgresConnectionError,
            asyncpg.CannotConnectNowError) as exc:
        raise OperatorError(f"database unreachable ({exc.__class__.__name__})") from None
    except ValueError:  # urllib's verdict on a URL asyncpg could not split (a bad port)
        raise OperatorError("database.url: not a PostgreSQL URL") from None


async def with_conn(args: argparse.Namespace,
                    fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """``fn`` on one owner connection (verification, migrations, checkpoints)."""
    w = where(args)
    async with open_database(w.database_url, w.data_dir) as dsn:
        conn = await _connect(dsn)
        try:
            await after_migrations(conn)  # another process's, under way: not "no schema"
            return await fn(conn)
        finally:
            await conn.close()


def migrations_for(settings: Settings) -> list[Migration]:
    """The carrier's migrations, then those of the configured application
    (``agent.application``'s ``migrations`` folder), as ``carrier serve`` applies them."""
    from carrier.app import load_application  # noqa: PLC0415 - the application, only here

    return plan(getattr(load_application(settings), "migrations", None))


async def with_records(
    args: argparse.Namespace,
    fn: Callable[[Records], Awaitable[T]],
    *,
    prepare: Callable[[asyncpg.Connection, LocalKek], Awaitable[None]] | None = None,
) -> T:
    """``fn`` on the records facade, as the application role, with a private spool.
    ``prepare(conn, kek)`` runs after the migrations, before the data keys are loaded."""
    w = where(args)
    kek = kek_for(w.settings)
    spool = command_spool(w.data_dir)
    async with open_database(w.database_url, w.data_dir) as dsn:
        conn = await _connect(dsn)
        try:
            await after_migrations(conn)  # bounded, named: migrate's own wait is not
            await migrate(conn, migrations_for(w.settings))
            if prepare is not None:
                await prepare(conn, kek)
        finally:
            await conn.close()
        try:
            records = await Records.open(dsn, kek, spool, min_size=1, max_size=2)
        except (OSError, asyncpg.PostgresConnectionError) as exc:
            raise OperatorError(f"database unreachable ({exc.__class__.__name__})") from None
        finished = False
        try:
            if records.spooled():  # a folder taken over: land it before the command reads
                await records.drain_spool()
            return await fn(records)
        except SpoolUnwritable as exc:
            finished = True
            await _finish(records, spool, raise_waiting=False)
            raise _not_recorded(records, spool, exc) from None
        finally:
            if not finished:  # done, failed or interrupted: replay, close, tidy
                await _finish(records, spool)


def disk_failure(exc: OSError) -> OperatorError:
    """One line for a file or folder the command could not use (never the database): a
    full disk or quota is :class:`DiskFull` (exit 74); else the path and the reason."""
    reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
    where_ = f"{exc.filename}: " if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or isinstance(
            exc, SpoolUnwritable):
        return DiskFull(f"{where_}the disk refused a write ({reason}): free space, then run"
                        " the command again")
    return OperatorError(f"{where_}{reason}")


_KINDS = {"audit": ("audit entry", "audit entries"),
          "consent": ("consent entry", "consent entries"),
          "outbox": ("record write", "record writes")}


def _not_recorded(records: Records, spool: Path, exc: OSError) -> NotRecorded:
    counts = records.unrecorded() or {"outbox": 1}
    kinds = ", ".join(f"{n} {_KINDS.get(name, (name, name))[n != 1]}"
                      for name, n in sorted(counts.items()))
    reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
    waiting = records.spooled()
    kept = (f"; {waiting} write(s) made before are kept there for the next records command"
            if waiting else "")
    return NotRecorded(f"not recorded: {kinds}: the database did not take them and the disk"
                       f" refused the spool in {spool} ({reason}){kept}")


async def _finish(records: Records, spool: Path, *, raise_waiting: bool = True) -> None:
    """Replay what waits, close, and leave the spool folder (removed only when empty)."""
    try:
        drained = await records.drain_spool()
    finally:
        await records.close()
    aside = sum(h.quarantined for h in records.health().writers)
    if aside:
        log.warning("%d record(s) set aside in %s for the operator (refused by the database,"
                    " or a corrupt spool)", aside, spool)
    leave_spool(spool)
    if not drained and raise_waiting:
        raise OperatorError(f"some writes could not reach the database; they are kept in"
                            f" {spool} and replayed by the next records command")


_OWNER = "owner.json"  # in a command's spool folder: its pid and start time


def command_spool(data_dir: Path) -> Path:
    """A spool folder for this command alone (``<data_dir>/spool/cli-<pid>``). Folders of
    commands that are gone are removed when empty; the first one still holding writes is
    taken over, so opening the records replays them. A folder names its command by pid and
    start time (``owner.json``): after a reboot its pid may be another process's."""
    parent = data_dir / "spool"
    mine = parent / f"cli-{os.getpid()}"
    claimed = False
    for old in sorted(parent.glob("cli-*")) if parent.is_dir() else ():
        if old == mine or not old.name.removeprefix("cli-").isdigit() or _running(old):
            continue
        with contextlib.suppress(OSError):  # another command got there first
            if not _holds_anything(old):
                shutil.rmtree(old)
            elif not claimed:
                old.rename(mine)
                claimed = True
    # On a full disk the command still runs (its spool reports what it cannot keep); a
    # folder without owner.json is judged by its pid alone, as before the token.
    with contextlib.suppress(OSError):
        mine.mkdir(parents=True, exist_ok=True)
        (mine / _OWNER).write_text(json.dumps(process_token(os.getpid())), encoding="utf-8")
    return mine


def _running(folder: Path) -> bool:
    """The command that made ``folder`` still runs (a zombie does not)."""
    pid = int(folder.name.removeprefix("cli-"))
    now = process_token(pid)
    try:
        recorded = json.loads((folder / _OWNER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        # none (a folder from before owner.json, or a full disk) or torn: by pid alone
        return now is not None
    return now is not None and now == recorded


def leave_spool(spool: Path) -> None:
    """At a command's end: its spool folder goes when nothing waits in it; else it stays
    for the next command (:func:`command_spool` takes it over and replays it)."""
    if spool.is_dir() and not _holds_anything(spool):
        shutil.rmtree(spool, ignore_errors=True)


def _holds_anything(folder: Path) -> bool:
    """Rows waiting, rows the database refused (``*.dead.jsonl``), a corrupt spool set
    aside (``*.corrupt-N``): any file with content is the operator's to see (the folder's
    ``owner.json`` aside)."""
    return any(f.is_file() and f.name != _OWNER and f.stat().st_size for f in folder.iterdir())


def emit(args: argparse.Namespace, doc: Any, lines: Iterable[str]) -> None:
    """Print ``doc`` as one JSON document with ``--json``, else the human ``lines``."""
    if getattr(args, "json", False):
        print(json.dumps(doc, default=str, sort_keys=True))
        return
    for line in lines:
        print(line)


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")
