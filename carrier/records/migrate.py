"""Versioned SQL migrations: ``migrations/NNNN_name.sql`` applied in order, once each.

Each file runs in its own transaction and is recorded in ``schema_migrations`` with the
SHA-256 of its text; a file changed after it was applied is refused rather than silently
skipped. A session advisory lock serialises concurrent migrators (several gateway nodes
starting at once). Number ranges: 0001-0099 records, 0100-0199 scheduling/calendar,
0200-0299 dialer, 0300-0399 calls/transcripts; the migrator simply applies every file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

from carrier.errors import OperatorError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x63617272_6D696772  # "carrmigr": one advisory lock for all migrators

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class MigrationStatus:
    version: int
    name: str
    applied_at: datetime | None  # None: pending
    checksum_ok: bool


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise OperatorError(f"migration file name {path.name!r} is not NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise OperatorError(f"two migrations share number {version:04d}")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def migrate(
    conn: asyncpg.Connection, migrations: list[Migration] | None = None
) -> list[Migration]:
    """Apply every pending migration; return those applied now (empty when up to date)."""
    migrations = load_migrations() if migrations is None else migrations
    applied_now: list[Migration] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(_CREATE_TABLE)
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        done = {r["version"]: r["checksum"] for r in rows}
        for mig in migrations:
            if mig.version in done:
                if done[mig.version] != mig.checksum:
                    raise OperatorError(
                        f"migration {mig.version:04d}_{mig.name} was changed after it was applied"
                    )
                continue
            async with conn.transaction():
                await conn.execute(mig.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
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
    migrations = load_migrations() if migrations is None else migrations
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    rows = (
        await conn.fetch("SELECT version, name, checksum, applied_at FROM schema_migrations")
        if exists
        else []
    )
    applied = {r["version"]: r for r in rows}
    out = [
        MigrationStatus(
            m.version,
            m.name,
            applied[m.version]["applied_at"] if m.version in applied else None,
            m.version not in applied or applied[m.version]["checksum"] == m.checksum,
        )
        for m in migrations
    ]
    known = {m.version for m in migrations}
    out += [
        MigrationStatus(v, r["name"], r["applied_at"], checksum_ok=False)
        for v, r in sorted(applied.items())
        if v not in known
    ]
    return out
