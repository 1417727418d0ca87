"""A records command run while another process migrates the database for the first time,
run as an operator runs it (a subprocess, a real PostgreSQL).

Before: a command that does not migrate (``consent verify``, ``campaign status``)
met tables not yet made and said "the database has no records schema; run `carrier db
migrate`" while the migration was under way. Now it waits, bounded, for the migration (the
migrators' advisory lock) and then runs on the migrated schema.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from carrier.errors import OperatorError
from carrier.records.migrate import _LOCK_KEY, after_migrations, migrate, plan
from tests.conftest import EmbeddedPostgres
from tests.ops.conftest import Operator
from tests.ops.live import acarrier

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]


async def _waiting_on_the_lock(admin: asyncpg.Connection) -> None:
    """Until another session waits on the migrators' lock (pg_locks: not granted)."""
    query = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
             " AND ((classid::bigint << 32) | objid::bigint) = $1")
    for _ in range(2400):  # another process's wait: polled in pg_locks, bounded
        if await admin.fetchval(query, _LOCK_KEY):
            return
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("argv", [("consent", "verify"), ("campaign", "status")])
async def test_a_command_during_a_first_migration_waits_for_it(
    operator: Operator, pg_cluster: EmbeddedPostgres, tmp_path: Path, argv: tuple[str, ...]
) -> None:
    name = f"midmig_{argv[0]}_{tmp_path.name[-12:].replace('-', '_')}".lower()
    admin = await asyncpg.connect(pg_cluster.uri())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = pg_cluster.uri(name)
    migrator = await asyncpg.connect(url)  # another process's first migration, under way
    try:
        await migrator.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        command = asyncio.ensure_future(acarrier(
            *argv, "--database-url", url, config=operator.cfg, cwd=operator.cwd,
            env=operator.env))
        waiting = asyncio.ensure_future(_waiting_on_the_lock(migrator))
        await asyncio.wait([command, waiting], return_when=asyncio.FIRST_COMPLETED)
        assert not command.done(), command.result()  # it ended before the migration did
        await migrate(migrator, plan())  # the migration's work (the lock is re-entrant),
        await migrator.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)  # then let go
        done = await command
    finally:
        await migrator.close()
    assert done.code == 0, done.err
    assert "schema" not in done.err, done.err


async def test_a_migration_that_does_not_finish_is_named_not_waited_for_forever(
        db_url: str) -> None:
    migrator, command = await asyncpg.connect(db_url), await asyncpg.connect(db_url)
    try:
        await migrator.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        with pytest.raises(OperatorError) as refused:
            await after_migrations(command, wait_s=0.2)
        assert "being migrated by another process" in str(refused.value)
        assert "try again" in str(refused.value)
        await migrator.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
        await after_migrations(command, wait_s=0.2)  # free: returns, holding nothing
        assert await migrator.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_KEY)
    finally:
        await migrator.close()
        await command.close()
