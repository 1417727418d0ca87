"""Migrations: applied once, idempotent, recorded with checksums, changes refused."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from carrier.errors import OperatorError
from carrier.records.migrate import Migration, load_migrations, migrate, status

pytestmark = pytest.mark.postgres


async def test_migrate_is_idempotent(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        assert await migrate(conn) == []  # the template already holds everything
        assert await migrate(conn) == []
        rows = await status(conn)
        assert [r.version for r in rows] == [m.version for m in load_migrations()]
        assert all(r.applied_at is not None and r.checksum_ok for r in rows)
        recorded = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        assert {r["version"]: r["checksum"] for r in recorded} == {
            m.version: m.checksum for m in load_migrations()
        }
    finally:
        await conn.close()


async def test_fresh_database_migrates_in_order_then_is_up_to_date(pg_cluster) -> None:
    admin = await asyncpg.connect(pg_cluster.uri())
    await admin.execute("DROP DATABASE IF EXISTS fresh_migrate")
    await admin.execute("CREATE DATABASE fresh_migrate")
    try:
        conn = await asyncpg.connect(pg_cluster.uri("fresh_migrate"))
        try:
            applied = await migrate(conn)
            assert [m.version for m in applied] == sorted(m.version for m in applied)
            assert applied[0].version == 1
            assert await migrate(conn) == []
        finally:
            await conn.close()
    finally:
        await admin.execute("DROP DATABASE fresh_migrate WITH (FORCE)")
        await admin.close()


async def test_changed_migration_is_refused(db_url: str) -> None:
    changed = [Migration(m.version, m.name, m.sql + "\n-- edited") for m in load_migrations()]
    conn = await asyncpg.connect(db_url)
    try:
        with pytest.raises(OperatorError, match="changed after it was applied"):
            await migrate(conn, changed)
        assert not all(r.checksum_ok for r in await status(conn, changed))
    finally:
        await conn.close()


async def test_new_migration_file_is_applied(db_url: str, tmp_path: Path) -> None:
    for m in load_migrations():
        (tmp_path / f"{m.version:04d}_{m.name}.sql").write_text(m.sql, encoding="utf-8")
    (tmp_path / "0399_extra.sql").write_text("CREATE TABLE extra_t (id int);", encoding="utf-8")
    conn = await asyncpg.connect(db_url)
    try:
        applied = await migrate(conn, load_migrations(tmp_path))
        assert [m.version for m in applied] == [399]
        assert await conn.fetchval("SELECT has_table_privilege('carrier_app', 'extra_t', 'INSERT')")
    finally:
        await conn.close()


def test_bad_file_name_refused(tmp_path: Path) -> None:
    (tmp_path / "1_bad.sql").write_text("", encoding="utf-8")
    with pytest.raises(OperatorError, match="NNNN_name"):
        load_migrations(tmp_path)
