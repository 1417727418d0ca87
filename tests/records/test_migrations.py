"""Migrations: applied once, idempotent, recorded with checksums, changes refused."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from agent import MIGRATIONS as AGENT_MIGRATIONS
from carrier.errors import OperatorError
from carrier.records.migrate import Migration, load_migrations, migrate, plan, status

pytestmark = pytest.mark.postgres


async def test_migrate_is_idempotent(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        both = plan(AGENT_MIGRATIONS)
        assert await migrate(conn, both) == []  # the template already holds everything
        assert await migrate(conn, both) == []
        rows = await status(conn, both)
        assert [r.version for r in rows] == [m.version for m in both]
        assert all(r.applied_at is not None and r.checksum_ok for r in rows)
        recorded = await conn.fetch("SELECT source, version, checksum FROM schema_migrations")
        assert {(r["source"], r["version"]): r["checksum"] for r in recorded} == {
            (m.source, m.version): m.checksum for m in both
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
            applied = await migrate(conn, plan(AGENT_MIGRATIONS))
            # The carrier's set in order, then the agent's (its own folder) in order.
            carrier = [m.version for m in applied if m.source == "carrier"]
            agent = [m.version for m in applied if m.source == "agent"]
            assert applied[0].version == 1
            assert carrier == sorted(carrier)
            assert agent == [100, 101, 105, 110, 115, 860]
            sources = ["carrier"] * len(carrier) + ["agent"] * len(agent)
            assert [m.source for m in applied] == sources
            for table in ("patients", "dialer_outreach", "call_records",
                          "sched_appointments", "conversation_memory", "staff_tasks"):
                assert await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table)
            history = await conn.fetch("SELECT source, version FROM schema_migrations")
            assert {(r["source"], r["version"]) for r in history} == {
                (m.source, m.version) for m in applied}
            assert await migrate(conn, plan(AGENT_MIGRATIONS)) == []
        finally:
            await conn.close()
    finally:
        await admin.execute("DROP DATABASE fresh_migrate WITH (FORCE)")
        await admin.close()


async def test_changed_migration_is_refused(db_url: str) -> None:
    changed = [Migration(m.version, m.name, m.sql + "\n-- edited", m.source)
               for m in plan(AGENT_MIGRATIONS)]
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
        applied = await migrate(conn, load_migrations(tmp_path)
                                + load_migrations(AGENT_MIGRATIONS, "agent"))
        assert [m.version for m in applied] == [399]
        assert await conn.fetchval("SELECT has_table_privilege('carrier_app', 'extra_t', 'INSERT')")
    finally:
        await conn.close()


def test_bad_file_name_refused(tmp_path: Path) -> None:
    (tmp_path / "1_bad.sql").write_text("", encoding="utf-8")
    with pytest.raises(OperatorError, match="NNNN_name"):
        load_migrations(tmp_path)


async def test_database_migrated_under_the_old_layout_is_recognised(pg_cluster) -> None:
    """Before the agent's tables moved to ``agent/migrations``, one folder held every file
    and the history was keyed by version alone: that database is adopted, nothing re-run."""
    old_layout = sorted(plan(AGENT_MIGRATIONS), key=lambda m: m.version)
    admin = await asyncpg.connect(pg_cluster.uri())
    await admin.execute("DROP DATABASE IF EXISTS old_layout")
    await admin.execute("CREATE DATABASE old_layout")
    try:
        conn = await asyncpg.connect(pg_cluster.uri("old_layout"))
        try:
            await conn.execute(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            for m in old_layout:  # what the single-folder migrator did
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute("INSERT INTO schema_migrations (version, name, checksum)"
                                       " VALUES ($1, $2, $3)", m.version, m.name, m.checksum)
            rows = await status(conn, plan(AGENT_MIGRATIONS))  # read-only: nothing pending
            assert all(r.applied_at is not None and r.checksum_ok for r in rows)
            assert await migrate(conn, plan(AGENT_MIGRATIONS)) == []  # none re-run
            history = await conn.fetch("SELECT source, version FROM schema_migrations")
            assert {(r["source"], r["version"]) for r in history} == {
                (m.source, m.version) for m in old_layout}
            assert {r["source"] for r in history if r["version"] in (100, 101, 105)} == {"agent"}
            assert all(r.checksum_ok and r.applied_at for r in await status(
                conn, plan(AGENT_MIGRATIONS)))
        finally:
            await conn.close()
    finally:
        await admin.execute("DROP DATABASE old_layout WITH (FORCE)")
        await admin.close()
