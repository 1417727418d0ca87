"""Versioned SQL migrations: ``migrations/NNNN_name.sql`` applied in order, once each.

Two sources, in this order: the carrier's own folder (``carrier/records/migrations``) and
the hosted application's (``Application.migrations``, e.g. ``agent/migrations``), named by
the package that holds it. Each file runs in its own transaction and is recorded in
``schema_migrations`` under (source, version) with the SHA-256 of its text; a file changed
after it was applied is refused rather than silently skipped. A database migrated before
the application's tables moved out of the carrier (its rows have no source, read as
``carrier``) is recognised: a row whose version, name and checksum match an application
migration is relabelled, not re-run. A session advisory lock serialises concurrent
migrators (several gateway nodes starting at once). Carrier number ranges: 0001-0099
records, 0200-0299 dialer, 0300-0399 calls/transcripts; the application's own (the agent:
0100-0199) are its business, kept apart so the old single-folder history stays readable.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from carrier.errors import OperatorError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x63617272_6D696772  # "carrmigr": one advisory lock for all migrators
log = logging.getLogger(__name__)

CARRIER = "carrier"  # the source name of the carrier's own migrations

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    source      text NOT NULL DEFAULT 'carrier',
    version     integer NOT NULL,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, version)
)
"""
# The history table of the single-folder layout: version alone was the key.
_ADD_SOURCE = (
    "ALTER TABLE schema_migrations ADD COLUMN source text NOT NULL DEFAULT 'carrier'",
    "ALTER TABLE schema_migrations DROP CONSTRAINT schema_migrations_pkey",
    "ALTER TABLE schema_migrations ADD PRIMARY KEY (source, version)",
)
_HAS_SOURCE = """
SELECT EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_name = 'schema_migrations' AND column_name = 'source'
                 AND table_schema = current_schema())
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    source: str = CARRIER

    @property
    def label(self) -> str:
        """``0001_records_core`` for the carrier's, ``agent/0100_scheduling`` otherwise."""
        stem = f"{self.version:04d}_{self.name}"
        return stem if self.source == CARRIER else f"{self.source}/{stem}"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationStatus:
    version: int
    name: str
    applied_at: datetime | None  # None: pending
    checksum_ok: bool
    source: str = CARRIER

    @property
    def label(self) -> str:
        return Migration(self.version, self.name, "", self.source).label


def load_migrations(directory: Path = MIGRATIONS_DIR, source: str = CARRIER
                    ) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise OperatorError(f"migration file name {path.name!r} is not NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise OperatorError(f"two migrations share number {version:04d}")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"),
                                   source)
    return [found[v] for v in sorted(found)]


def plan(application: Path | None = None) -> list[Migration]:
    """The carrier's migrations, then those of the application's folder (if it has one),
    named by the package holding the folder (``agent/migrations`` -> ``agent``)."""
    own = load_migrations()
    if application is None:
        return own
    source = application.parent.name
    if source == CARRIER:
        raise OperatorError(f"application migrations {application} cannot be named {CARRIER!r}")
    return own + load_migrations(application, source)


async def _history(conn: asyncpg.Connection, migrations: list[Migration]
                   ) -> dict[tuple[str, int], Any]:
    """Create or upgrade the history table; adopt old-layout rows; (source, version) -> row."""
    await conn.execute(_CREATE_TABLE)
    if not await conn.fetchval(_HAS_SOURCE):
        async with conn.transaction():
            for sql in _ADD_SOURCE:
                await conn.execute(sql)
    rows = await conn.fetch("SELECT source, version, name, checksum FROM schema_migrations")
    done = {(r["source"], r["version"]): r for r in rows}
    for mig in _adopt(done, migrations):
        await conn.execute(
            "UPDATE schema_migrations SET source = $1 WHERE source = $2 AND version = $3",
            mig.source, CARRIER, mig.version)
    return done


def _adopt(applied: dict[tuple[str, int], Any], migrations: list[Migration]) -> list[Migration]:
    """Application migrations applied when their file still sat in the carrier's folder (a
    ``carrier`` row of the same version and name, no carrier file of that version): moved
    to their own key in ``applied``, and returned for the caller to relabel."""
    own = {m.version for m in migrations if m.source == CARRIER}
    adopted = []
    for mig in migrations:
        old = applied.get((CARRIER, mig.version))
        if (mig.source != CARRIER and (mig.source, mig.version) not in applied
                and old is not None and mig.version not in own and old["name"] == mig.name):
            applied[(mig.source, mig.version)] = applied.pop((CARRIER, mig.version))
            adopted.append(mig)
    return adopted


def _refuse_newer(done: dict[tuple[str, int], Any], migrations: list[Migration]) -> None:
    """A database a newer release migrated (a version past the newest this program has, of
    a source it knows) is refused: this older code would run on a schema it was not
    written for. ``carrier db status`` still lists it."""
    newest: dict[str, int] = {}
    for mig in migrations:
        newest[mig.source] = max(newest.get(mig.source, 0), mig.version)
    ahead = sorted((s, v) for s, v in done if s in newest and v > newest[s])
    if ahead:
        source, version = ahead[-1]
        label = Migration(version, done[(source, version)]["name"], "", source).label
        raise OperatorError(
            f"the database schema is newer than this program: migration {label} is applied,"
            f" this program knows up to {newest[source]:04d} ({source}); run the release"
            " that migrated it (carrier db status lists what is applied)")


MIGRATION_WAIT_S = 120  # how long a command waits for another process's migration


async def after_migrations(conn: asyncpg.Connection, wait_s: float = MIGRATION_WAIT_S) -> None:
    """Return once no other process is migrating (the migrators' lock is free), waiting at
    most ``wait_s``: a command that does not migrate otherwise meets a schema half-made and
    reads it as none. The lock is taken shared and let go at once (it holds up no one)."""
    if await conn.fetchval("SELECT pg_try_advisory_lock_shared($1)", _LOCK_KEY):
        await conn.execute("SELECT pg_advisory_unlock_shared($1)", _LOCK_KEY)
        return
    log.warning("another process is migrating the database; waiting for it (up to %.0f s)",
                wait_s)
    try:
        async with conn.transaction():  # the session lock outlives it; the timeout does not
            await conn.execute(f"SET LOCAL lock_timeout = '{int(wait_s * 1000)}ms'")
            await conn.execute("SELECT pg_advisory_lock_shared($1)", _LOCK_KEY)
    except asyncpg.LockNotAvailableError:
        raise OperatorError(f"the database is being migrated by another process (waited"
                            f" {wait_s:.0f} s); try again when it finishes") from None
    await conn.execute("SELECT pg_advisory_unlock_shared($1)", _LOCK_KEY)


async def migrate(
    conn: asyncpg.Connection, migrations: list[Migration] | None = None
) -> list[Migration]:
    """Apply every pending migration of ``migrations`` (default: the carrier's own; pass
    :func:`plan` of the application's folder for both); return those applied now."""
    migrations = plan() if migrations is None else migrations
    applied_now: list[Migration] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        done = await _history(conn, migrations)
        _refuse_newer(done, migrations)
        for mig in migrations:
            key = (mig.source, mig.version)
            if key in done:
                if done[key]["checksum"] != mig.checksum:
                    raise OperatorError(f"migration {mig.label} was changed after it was applied")
                continue
            async with conn.transaction():
                await conn.execute(mig.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (source, version, name, checksum)"
                    " VALUES ($1, $2, $3, $4)",
                    mig.source,
                    mig.version,
                    mig.name,
                    mig.checksum,
                )
            applied_now.append(mig)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def status(
    conn: asyncpg.Connection, migrations: list[Migration] | None = None
) -> list[MigrationStatus]:
    migrations = plan() if migrations is None else migrations
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    rows = []
    if exists:
        src = "source" if await conn.fetchval(_HAS_SOURCE) else "'carrier' AS source"
        rows = await conn.fetch(
            f"SELECT {src}, version, name, checksum, applied_at FROM schema_migrations")  # noqa: S608 - a fixed column or literal
    applied = {(r["source"], r["version"]): r for r in rows}
    _adopt(applied, migrations)  # old-layout rows count as their application's
    out = []
    for m in migrations:
        row = applied.get((m.source, m.version))
        out.append(MigrationStatus(m.version, m.name, row["applied_at"] if row else None,
                                   row is None or row["checksum"] == m.checksum, m.source))
    known = {(m.source, m.version) for m in migrations}
    out += [
        MigrationStatus(v, r["name"], r["applied_at"], checksum_ok=False, source=s)
        for (s, v), r in sorted(applied.items())
        if (s, v) not in known
    ]
    return out
