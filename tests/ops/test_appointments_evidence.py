"""The agent's appointments (``sched_appointments``: patient ids with times, dialing evidence
kept ``retention.dial_evidence_days``), protected in the database as the dialer's are.

Before: the application role could ``DELETE FROM sched_appointments`` or truncate it (no
code path deletes an appointment; a cancellation is a status), and the past appointments
were gone with no audit entry. Now the role may not delete or truncate them, a trigger
refuses the owner too, and the one delete path is the retention purge through
``purge_app_evidence()`` (never an appointment still ahead, never under four years), which
commits only with its ``retention.purge`` audit entry (migration 0844).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import asyncpg
import pytest

from carrier.records.audit_tx import append_audit
from carrier.records.store import Records
from tests.conftest import TEST_KEK
from tests.ops.conftest import Operator

pytestmark = pytest.mark.postgres
NOW = dt.datetime.now(dt.UTC)
YEAR = dt.timedelta(days=366)


async def _audited(conn: asyncpg.Connection, rows: int) -> int:
    async with conn.transaction():
        got = await conn.fetchval(
            "SELECT purge_app_evidence('sched_appointments', now() + interval '1 year')")
        await append_audit(conn, actor="t", action="retention.purge",
                           record=("table", "sched_appointments"), reason="retention policy",
                           at=NOW, details={"rows": rows})
        return int(got)


async def test_the_app_role_cannot_delete_appointments(operator: Operator, db_url: str,
                                                       tmp_path: Path) -> None:
    assert operator.run("db", "migrate").code == 0  # the agent's tables too
    su = await asyncpg.connect(db_url)
    records = await Records.open(db_url, TEST_KEK, tmp_path / "spool")
    try:
        await su.execute("INSERT INTO sched_providers (id, name) VALUES ('dr', 'Dr Proba')")
        for name, start in (("old", NOW - 5 * YEAR), ("new", NOW - YEAR),
                            ("ahead", NOW + YEAR)):
            await su.execute(
                "INSERT INTO sched_appointments (id, patient_id, provider_id, start_at,"
                " end_at, status, updated_at) VALUES ($1, 'p-1', 'dr', $2, $2, 'booked', $2)",
                f"a-{name}", start)
        async with records.pool.acquire() as conn:
            assert await conn.fetchval("SELECT current_user") == "carrier_app"
            for sql in ("DELETE FROM sched_appointments",
                        "TRUNCATE sched_appointments CASCADE"):
                async with conn.transaction():
                    await conn.execute("SET LOCAL carrier.retention_purge = 'on'")
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await conn.execute(sql)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):  # not audited: refused
                await conn.execute(
                    "SELECT purge_app_evidence('sched_appointments', now())")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):  # not registered
                await conn.execute("SELECT purge_app_evidence('patients', now())")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # even the owner
            await su.execute("DELETE FROM sched_appointments")
        async with records.pool.acquire() as conn:  # the old one goes, audited; never under
            assert await _audited(conn, 1) == 1    # four years, never one still ahead
        left = sorted(r["id"] for r in await su.fetch("SELECT id FROM sched_appointments"))
        assert left == ["a-ahead", "a-new"]
        # what the code does to an appointment (a status) still goes in
        async with records.pool.acquire() as conn:
            await conn.execute("UPDATE sched_appointments SET status = 'cancelled'"
                               " WHERE id = 'a-ahead'")
    finally:
        await records.close()
        await su.close()
