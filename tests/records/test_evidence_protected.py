"""Dialing evidence and the do-not-call lists, protected in the database as the ledgers are.

Before: only the audit chain and the consent ledger refused the application role's DELETE
(migration 0001). With the role ``carrier_app`` (the one every node holds), anyone could
``DELETE FROM dnc_org`` (every opt-out gone, the next dial goes out), ``TRUNCATE
dialer_attempts``, rewrite a gate decision (``allowed``, ``rule``) or a call detail record,
and no audit entry said so. Now the role may not delete, truncate or rewrite them (the
columns the dialer fills in after a dial excepted), a trigger refuses even the owner, and
the one delete path is the retention purge (``purge_evidence()``, never under four years,
audited). That purge also counts the transcripts that go with a call record (before: its
``retention.purge`` entry counted the call records alone; the transcripts deleted with them
by the foreign key were in no entry).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from carrier.records.retention import RetentionPolicy, run_retention
from carrier.records.store import Records
from carrier.settings_retention import SIX_YEARS_DAYS

pytestmark = pytest.mark.postgres
NOW = dt.datetime.now(dt.UTC)
OLD = NOW - dt.timedelta(days=1700)


async def _seed(su: asyncpg.Connection) -> None:
    await su.execute("INSERT INTO dnc_org (phone_bidx, added_at, source, actor)"
                     " VALUES ('\\x01', now(), 'call', 't')")
    iid = await su.fetchval("INSERT INTO dnc_national_imports (imported_at, source, row_count)"
                            " VALUES (now(), 'ftc', 1) RETURNING id")
    await su.execute("INSERT INTO dnc_national (phone_bidx, import_id, area_code)"
                     " VALUES ('\\x02', $1, '555')", iid)
    await su.execute("INSERT INTO dnc_national_areas (area_code, import_id, imported_at)"
                     " VALUES ('555', $1, now())", iid)
    await su.execute("INSERT INTO dialer_campaigns (id, purpose) VALUES ('c', 'reminder')")
    oid = await su.fetchval(
        "INSERT INTO dialer_outreach (campaign_id, appointment_id, patient_id, purpose, label,"
        " due_at, not_after, state, created_at, updated_at) VALUES ('c', 'a-1', 'p-1',"
        " 'reminder', '24h', $1, $1, 'done', $1, $1) RETURNING id", OLD)
    await su.execute(
        "INSERT INTO dialer_attempts (outreach_id, patient_id, subject, at, allowed, rule,"
        " lease_token) VALUES ($1, 'p-1', 'reminder', $2, false, 'dnc', $3)", oid, OLD, uuid4())
    await su.execute("INSERT INTO call_records (call_id, direction, started_at, ended_at)"
                     " VALUES ('call-old', 'outbound', $1, $1)", OLD)
    await su.execute("INSERT INTO call_details (call_id, direction, started_at, ended_at,"
                     " hangup_cause) VALUES ('call-old', 'outbound', $1, $1, 'remote_bye')", OLD)
    for seq in (0, 1):  # transcribed late: younger than transcript_days, gone with the call
        await su.execute("INSERT INTO call_transcripts (call_id, seq, speaker, text_ct)"
                         " VALUES ('call-old', $1, 'agent', '\\x00')", seq)


REFUSED = (
    "DELETE FROM dnc_org",
    "TRUNCATE dnc_org",
    "UPDATE dnc_org SET source = 'x'",
    "DELETE FROM dnc_national_imports",
    "UPDATE dnc_national_imports SET row_count = 0",
    "TRUNCATE dnc_national",
    "DELETE FROM dnc_national",  # outside an import's transaction
    "UPDATE dnc_national_areas SET imported_at = now()",
    "UPDATE dnc_national SET area_code = '556'",
    "DELETE FROM dialer_attempts",
    "TRUNCATE dialer_attempts CASCADE",
    "UPDATE dialer_attempts SET allowed = true, rule = 'ok'",
    "DELETE FROM dialer_outreach",
    "DELETE FROM call_records",
    "TRUNCATE call_records CASCADE",
    "UPDATE call_records SET started_at = now(), stir_status = 'A'",
    "DELETE FROM call_details",
    "UPDATE call_details SET hangup_cause = 'busy'",
)


async def test_the_app_role_cannot_delete_or_rewrite_dnc_or_dial_evidence(
        records: Records, db_url: str) -> None:
    su = await asyncpg.connect(db_url)
    try:
        await _seed(su)
        async with records.pool.acquire() as conn:
            assert await conn.fetchval("SELECT current_user") == "carrier_app"
            for sql in REFUSED:
                async with conn.transaction():
                    await conn.execute("SET LOCAL carrier.retention_purge = 'on'")
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await conn.execute(sql)
            # what the dialer writes after a dial still goes in
            await conn.execute("UPDATE dialer_attempts SET trunk = 't1', outcome = 'answered',"
                               " finished_at = now()")
            await conn.execute("UPDATE call_records SET ended_at = now(), outcome = 'done'")
        for sql in ("DELETE FROM dnc_org", "DELETE FROM dialer_attempts",
                    "UPDATE call_records SET patient_id = 'p-2'",
                    "DELETE FROM call_details", "UPDATE dnc_org SET source = 'x'"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):  # even the owner
                await su.execute(sql)
        assert await su.fetchval("SELECT count(*) FROM dnc_org") == 1
        assert await su.fetchval("SELECT count(*) FROM dialer_attempts WHERE NOT allowed") == 1
        # an import replaces an area code's copy (its own row stays, and is the trace)
        await records.import_national_dnc(["+12125550100"], source="ftc", actor="t")
        await records.import_national_dnc(["+12125550101"], source="ftc", actor="t")
        assert await su.fetchval("SELECT count(*) FROM dnc_national WHERE area_code = '212'") == 1
        assert await su.fetchval("SELECT count(*) FROM dnc_national_imports") == 3
    finally:
        await su.close()


async def test_the_purge_removes_old_evidence_and_audits_the_transcripts_with_it(
        records: Records, db_url: str, tmp_path: Path) -> None:
    su = await asyncpg.connect(db_url)
    try:
        await _seed(su)
        policy = RetentionPolicy.from_days(
            audit_days=SIX_YEARS_DAYS, consent_days=SIX_YEARS_DAYS, transcript_days=365,
            recording_days=30, dial_evidence_days=1500, call_record_days=1600)
        results = {r.table: r.rows for r in await run_retention(records, policy, now=NOW)}
        assert results["call_records"] == 1
        assert results["dialer_attempts"] == 1
        assert results["call_details"] == 1
        assert results["dialer_outreach"] == 1
        assert await su.fetchval("SELECT count(*) FROM call_transcripts") == 0
        entries = {r["record_id"]: json.loads(r["details"]) for r in await su.fetch(
            "SELECT record_id, details FROM audit_log WHERE action = 'retention.purge'")}
        assert entries["call_records"]["rows"] == 1
        assert entries["call_transcripts"]["rows"] == 2, entries
        assert entries["call_transcripts"]["with"] == "call_records"
        assert await su.fetchval("SELECT count(*) FROM dnc_org") == 1  # never a target
        async with records.pool.acquire() as conn:  # the purge path deletes nothing younger
            got = await conn.fetchrow("SELECT * FROM purge_evidence('dialer_attempts', now())")
            assert (got["purged"], got["with_it"]) == (0, 0)
    finally:
        await su.close()


async def test_the_app_role_cannot_rewrite_or_add_data_keys(records: Records,
                                                             db_url: str) -> None:
    """Before: any holder of ``carrier_app`` could overwrite a wrapped data key (every value
    under it unreadable for ever: the records erased without a DELETE) or add a version no
    node unwraps (every node refusing to start). Now the role may only insert the first
    version on a new database; rotation and retirement are the owner's."""
    async with records.pool.acquire() as conn:
        for sql in ("UPDATE data_keys SET wrapped = '\\x00'",
                    "TRUNCATE data_keys",
                    "DELETE FROM data_keys",
                    "INSERT INTO data_keys (purpose, version, wrapped, kek_id)"
                    " VALUES ('field', 99, '\\x00', 'x')"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
    su = await asyncpg.connect(db_url)
    try:
        assert await su.fetchval("SELECT count(*) FROM data_keys") == 2
    finally:
        await su.close()


async def test_the_app_role_cannot_erase_a_patient(records: Records) -> None:
    """Before: ``DELETE FROM patients`` as ``carrier_app`` erased a patient's record with no
    audit entry (no code path deletes one)."""
    pid = await records.add_patient("Testa Patientson", "+15550100173", actor="t",
                                    reason="fixture")
    async with records.pool.acquire() as conn:
        for sql in ("DELETE FROM patients", "TRUNCATE patients CASCADE"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
    got = await records.get_patient(pid, actor="t", reason="test")
    assert got is not None
    assert got.name == "Testa Patientson"
