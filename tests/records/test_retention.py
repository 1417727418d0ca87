"""Retention: expired rows purged, audit/consent never under six years, purges audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest

from carrier.records.audit_tx import append_audit
from carrier.records.retention import SIX_YEARS_DAYS, PurgeTarget, RetentionPolicy, run_retention
from carrier.records.store import Channel, ConsentKind, Records, verify_chain

pytestmark = pytest.mark.postgres
YEAR = timedelta(days=366)


def test_policy_floor_is_six_years() -> None:
    policy = RetentionPolicy(audit_days=30, consent_days=1)
    assert policy.audit_days == policy.consent_days == SIX_YEARS_DAYS
    policy = RetentionPolicy.from_days(
        audit_days=3000, consent_days=5, transcript_days=365, recording_days=30
    )
    assert (policy.audit_days, policy.consent_days) == (3000, SIX_YEARS_DAYS)
    assert [(t.table, t.days) for t in policy.targets][:2] == [
        ("call_transcripts", 365),
        ("call_recordings", 30),
    ]
    with pytest.raises(ValueError, match="identifier"):
        PurgeTarget("transcripts; DROP TABLE x", "created_at", 5)


async def test_retention_run(records: Records, db_url: str) -> None:
    now = datetime.now(UTC)
    a, b = (
        await records.add_patient("Testa Patientson", "+15555550101", actor="t", reason="r"),
        await records.add_patient("Proba Patientsdottir", "+15555550102", actor="t", reason="r"),
    )
    written, voice = ConsentKind.TCPA_EXPRESS_WRITTEN, Channel.VOICE
    for pid, age in ((a, 8 * YEAR), (a, 7 * YEAR), (b, 7 * YEAR), (a, YEAR)):
        await records.consent_grant(
            pid, voice, written, source="web_form", evidence_ref="f", actor="t", at=now - age
        )
    head = await records.pool.fetchval("SELECT seq FROM chain_heads WHERE chain = 'audit'")
    for age in (7 * YEAR, 7 * YEAR, 5 * YEAR, 7 * YEAR):
        await records.audit("t", "patient.read", ("patient", a), "care", at=now - age)
    su = await asyncpg.connect(db_url)
    try:
        # an older audit prefix from the fixture's own writes is all "now"; make a clean case:
        await su.execute("CREATE TABLE transcripts (id int, created_at timestamptz)")
        await su.execute(
            "INSERT INTO transcripts VALUES (1, $1), (2, $2)",
            now - timedelta(days=400),
            now - timedelta(days=10),
        )
        results = await run_retention(
            records,
            RetentionPolicy(
                audit_days=1,
                consent_days=1,
                targets=(
                    PurgeTarget("transcripts", "created_at", 365),
                    PurgeTarget("recordings", "created_at", 30),
                ),
            ),
            now=now,
        )
        by_table = {r.table: r for r in results}
        assert by_table["transcripts"].rows == 1
        assert by_table["recordings"].skipped
        assert by_table["consent_ledger"].rows == 2  # a's two superseded old grants
        # audit rows written "now" by add_patient/consent come first in the chain, so the
        # old rows behind them are not a prefix: nothing may be purged out of order.
        assert by_table["audit_log"].rows == 0
        assert await su.fetchval("SELECT array_agg(id) FROM transcripts") == [2]
        assert await records.has_consent("+15555550102", voice)  # b's old grant kept
        assert await records.has_consent("+15555550101", voice)
        assert await verify_chain(su, "consent") == []
        assert await verify_chain(su, "audit") == []
        purges = await su.fetch(
            "SELECT record_id, details FROM audit_log WHERE action = 'retention.purge' ORDER BY seq"
        )
        assert [r["record_id"] for r in purges] == ["transcripts", "consent_ledger"]
        assert head > 0
    finally:
        await su.close()


async def test_audit_prefix_purge_keeps_rows_under_six_years(records: Records, db_url: str) -> None:
    now = datetime.now(UTC)
    for age in (8 * YEAR, 7 * YEAR, 7 * YEAR, 5 * YEAR, 7 * YEAR, YEAR):
        await records.audit("t", "patient.read", ("patient", uuid4()), "care", at=now - age)
    async with records.pool.acquire() as conn:  # as carrier_app, asking for far too much
        async with conn.transaction():  # a purge commits with its entry (migration 0844)
            assert await conn.fetchval("SELECT purge_chain_prefix('audit', now())") == 3
            await append_audit(conn, actor="t", action="retention.purge",
                               record=("table", "audit_log"), reason="retention policy",
                               at=now, details={"rows": 3})
        assert await conn.fetchval("SELECT purge_chain_prefix('audit', now())") == 0
        left = await conn.fetch("SELECT seq, at FROM audit_log ORDER BY seq")
        assert [r["seq"] for r in left] == [4, 5, 6, 7]
        assert await verify_chain(conn, "audit") == []
        anchor = await conn.fetchval("SELECT anchor_seq FROM chain_heads WHERE chain = 'audit'")
        assert anchor == 3
    await records.audit("t", "patient.read", ("patient", 1), "care")
    su = await asyncpg.connect(db_url)
    try:
        assert await verify_chain(su, "audit") == []
        # a superuser deleting the new first row after the anchor is still caught
        await su.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        await su.execute("DELETE FROM audit_log WHERE seq = 4")
        assert await verify_chain(su, "audit")
    finally:
        await su.close()
