"""A retention purge the database refuses unless it is audited in the same transaction.

Before: ``purge_evidence()`` and ``purge_chain_prefix()`` are granted to ``carrier_app`` (the
retention run calls them), so any holder of the role could call one directly, commit, and
old dialing evidence or an old audit prefix was gone with no ``retention.purge`` entry
saying so. Now a purge that removed rows commits only if the transaction also appended a
``retention.purge`` audit entry for that table stating that row count; the retention run
(which writes that entry after each purge, in the purge's transaction) is unchanged.
"""

from __future__ import annotations

import datetime as dt
from uuid import uuid4

import asyncpg
import pytest

from carrier.records.audit_tx import append_audit
from carrier.records.store import Records

pytestmark = pytest.mark.postgres
NOW = dt.datetime.now(dt.UTC)
YEAR = dt.timedelta(days=366)


async def _old_rows(records: Records, su: asyncpg.Connection) -> None:
    for age in (8 * YEAR, 7 * YEAR, YEAR):
        await records.audit("t", "patient.read", ("patient", uuid4()), "care", at=NOW - age)
    await su.execute("INSERT INTO dialer_campaigns (id, purpose) VALUES ('c', 'reminder')")
    oid = await su.fetchval(
        "INSERT INTO dialer_outreach (campaign_id, appointment_id, patient_id, purpose, label,"
        " due_at, not_after, state, created_at, updated_at) VALUES ('c', 'a-1', 'p-1',"
        " 'reminder', '24h', $1, $1, 'done', $1, $1) RETURNING id", NOW - 5 * YEAR)
    await su.execute(
        "INSERT INTO dialer_attempts (outreach_id, patient_id, subject, at, allowed, rule,"
        " lease_token) VALUES ($1, 'p-1', 'reminder', $2, false, 'dnc', $3)",
        oid, NOW - 5 * YEAR, uuid4())


async def _entry(conn: asyncpg.Connection, action: str, table: str, rows: int) -> None:
    await append_audit(conn, actor="t", action=action, record=("table", table),
                       reason="retention policy", at=NOW,
                       details={"rows": rows, "cutoff": NOW.isoformat()})


async def _purge_with(conn: asyncpg.Connection, sql: str,
                      *entries: tuple[str, str, int]) -> None:
    async with conn.transaction():
        await conn.execute(sql)
        for action, table, rows in entries:
            await _entry(conn, action, table, rows)


async def test_a_purge_without_its_audit_entry_is_refused(records: Records,
                                                          db_url: str) -> None:
    su = await asyncpg.connect(db_url)
    try:
        await _old_rows(records, su)
        audit_rows = await su.fetchval("SELECT count(*) FROM audit_log")
        async with records.pool.acquire() as conn:
            assert await conn.fetchval("SELECT current_user") == "carrier_app"
            for sql in ("SELECT purge_chain_prefix('audit', now())",
                        "SELECT * FROM purge_evidence('dialer_attempts', now())"):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):  # no entry at all
                    await conn.execute(sql)
                with pytest.raises(asyncpg.InsufficientPrivilegeError):  # another kind
                    await _purge_with(conn, sql, ("patient.read", "audit_log", 2),
                                      ("retention.purge", "call_records", 1))
            with pytest.raises(asyncpg.InsufficientPrivilegeError):  # a wrong count
                await _purge_with(conn, "SELECT purge_chain_prefix('audit', now())",
                                  ("retention.purge", "audit_log", 1))
        assert await su.fetchval("SELECT count(*) FROM audit_log") == audit_rows
        assert await su.fetchval("SELECT count(*) FROM dialer_attempts") == 1
        async with records.pool.acquire() as conn:  # audited in its transaction: it goes
            async with conn.transaction():
                assert await conn.fetchval("SELECT purge_chain_prefix('audit', now())") == 2
                await _entry(conn, "retention.purge", "audit_log", 2)
            async with conn.transaction():
                got = await conn.fetchrow(
                    "SELECT * FROM purge_evidence('dialer_attempts', now())")
                assert got["purged"] == 1
                await _entry(conn, "retention.purge", "dialer_attempts", 1)
            # nothing to purge: nothing to audit
            assert await conn.fetchval("SELECT purge_chain_prefix('audit', now())") == 0
        assert await su.fetchval("SELECT count(*) FROM dialer_attempts") == 0
    finally:
        await su.close()
