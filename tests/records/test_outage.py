"""Issue 11 item 4: nothing that must not be lost is written straight to the database.

Before: the call record, transcript, answers and DNC entry went to Postgres with plain
INSERTs, so during an outage every call was answered and dropped (the patient lookup raised)
and what the call produced was lost. Now the patient lookup degrades to an unknown caller,
and the call's record, encrypted transcript, answers, DNC entry, consent change and audit
entries are spooled (fsync'd) and land, each once, when the database returns.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from uuid import UUID

import asyncpg
import pytest

from agent.call_setup import patient_for as _patient_for
from carrier.records.store import (
    CallRecord,
    Channel,
    ConsentKind,
    Records,
    RecordsUnavailable,
    verify_chain,
)

pytestmark = pytest.mark.postgres

PHONE = "+15555550142"


def _call(call_id: str, number: str = PHONE) -> SimpleNamespace:
    return SimpleNamespace(call_id=call_id, caller=SimpleNamespace(number=number))


async def test_a_call_during_an_outage_is_recorded_when_the_database_returns(
    make_cluster, tmp_path: Path, test_kek
) -> None:
    cluster = make_cluster()
    conn = await asyncpg.connect(cluster.uri())
    from agent import MIGRATIONS as AGENT_MIGRATIONS  # noqa: PLC0415
    from carrier.records.migrate import migrate, plan  # noqa: PLC0415

    await migrate(conn, plan(AGENT_MIGRATIONS))  # the carrier's tables, then the agent's
    await conn.close()
    records = await Records.open(cluster.uri(), test_kek, tmp_path / "spool",
                                 retry_interval=3600)  # replay only when asked
    rt = SimpleNamespace(records=records)
    try:
        pid = await records.add_patient("Testa Patientson", PHONE, actor="t", reason="r")
        await records.consent_grant(pid, Channel.VOICE, ConsentKind.TCPA_EXPRESS_WRITTEN,
                                    source="web_form", evidence_ref="f", actor="t")
        assert (await _patient_for(rt, _call("before"), {}))[0] == str(pid)

        await asyncio.to_thread(cluster.stop)
        with pytest.raises(RecordsUnavailable):
            await records.find_patients_by_phone(PHONE, actor="t", reason="r")
        # The call goes on as with an unknown caller (no exception) ...
        assert await _patient_for(rt, _call("outage-1"), {}) == (None, None)
        # ... and everything it produces is durable before the database is back.
        start = datetime.now(UTC)
        await records.add_call_answers("outage-1", "callback", None, {"when": "morning"})
        await records.dnc_add(PHONE, source="voice_opt_out", actor="agent", reason="opt-out")
        await records.consent_revoke(pid, Channel.VOICE, source="call_voice",
                                     evidence_ref="outage-1", actor="agent")
        await records.record_call(
            CallRecord("outage-1", "inbound", start, start + timedelta(seconds=30),
                       workflow="patient_intake", outcome="opted_out"),
            [("agent", "Hello, this is the clinic."), ("caller", "Stop calling [NAME].")],
            recording=b"\x01\x02" * 8000)
        assert records.outbox.spooled == 3
        assert records.consent_writer.spooled == 1
        assert records.audit_writer.spooled >= 3  # lookup_unavailable, dnc.add, consent.revoke
        assert not await records.drain_spool()  # still down: nothing lost, nothing written

        await asyncio.to_thread(cluster.start)
        assert await records.drain_spool()
        assert await records.drain_spool()  # a second replay changes nothing (idempotent)
        assert records.health().ok

        call = await records.call_record("outage-1")
        assert call is not None
        assert call.outcome == "opted_out"
        assert await records.call_transcript("outage-1") == [
            ("agent", "Hello, this is the clinic."), ("caller", "Stop calling [NAME].")]
        assert await records.call_recording("outage-1") == (b"\x01\x02" * 8000, 16000)
        assert await records.call_answers("outage-1") == [
            ("callback", "[('when', 'morning')]")]
        assert (await records.dnc_status(PHONE)).org
        assert not await records.has_consent(PHONE, Channel.VOICE)
    finally:
        await records.close()
    conn = await asyncpg.connect(cluster.uri())
    try:
        assert await verify_chain(conn, "audit") == []
        assert await verify_chain(conn, "consent") == []
        actions = [r["action"] for r in await conn.fetch("SELECT action FROM audit_log")]
        assert "patient.lookup_unavailable" in actions
        assert "dnc.add" in actions
        assert "consent.revoke" in actions
        assert await conn.fetchval("SELECT count(*) FROM call_transcripts") == 2
        assert await conn.fetchval("SELECT count(*) FROM call_answers") == 1
    finally:
        await conn.close()


async def test_transcripts_are_stored_encrypted_and_still_purged(
    records: Records, db_url: str
) -> None:
    """Issue 11 item 9: before, ``call_transcripts.text`` held the redacted text in clear."""
    from carrier.records.retention import RetentionPolicy, run_retention  # noqa: PLC0415

    now = datetime.now(UTC)
    old = now - timedelta(days=400)
    await records.record_call(CallRecord("c-old", "inbound", old, old), [("caller", "old words")])
    await records.record_call(CallRecord("c-new", "outbound", now, now),
                              [("agent", "Your appointment is on [DATE].")])
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch("SELECT call_id, text, text_ct FROM call_transcripts")
        assert rows
        assert all(r["text"] is None for r in rows)
        assert all(b"appointment" not in bytes(r["text_ct"]) for r in rows)
        assert all(b"old words" not in bytes(r["text_ct"]) for r in rows)
        await conn.execute("UPDATE call_transcripts SET created_at = $1 WHERE call_id = 'c-old'",
                           old)
    finally:
        await conn.close()
    assert await records.call_transcript("c-new") == [("agent", "Your appointment is on [DATE].")]
    results = await run_retention(records, RetentionPolicy(), now=now)
    assert next(r for r in results if r.table == "call_transcripts").rows == 1
    assert await records.call_transcript("c-old") == []
    assert await records.call_transcript("c-new") != []


async def test_patient_address_through_the_facade(records: Records) -> None:
    from carrier.records.store import PatientAddress  # noqa: PLC0415

    pid = await records.add_patient("Testa Patientson", PHONE, actor="t", reason="r",
                                    address=PatientAddress("CA", "America/Los_Angeles"))
    assert await records.patient_address(pid) == PatientAddress("CA", "America/Los_Angeles")
    assert await records.set_patient_address(pid, PatientAddress("NY", "America/New_York"),
                                             actor="t", reason="moved")
    assert await records.patient_address(pid) == PatientAddress("NY", "America/New_York")
    assert await records.patient_exists(pid)
    assert not await records.patient_exists(UUID(int=1))
    assert await records.patient_address(UUID(int=1)) is None


async def test_transcripts_stored_in_clear_before_0302_are_encrypted_by_reencrypt(
    records: Records, db_url: str
) -> None:
    from carrier.records.keys import encrypt_legacy_transcripts  # noqa: PLC0415

    now = datetime.now(UTC)
    su = await asyncpg.connect(db_url)
    try:  # what the agent wrote before: plain text
        await su.execute("INSERT INTO call_records (call_id, direction, started_at)"
                         " VALUES ('legacy', 'inbound', $1)", now)
        await su.execute("INSERT INTO call_transcripts (call_id, seq, speaker, text)"
                         " VALUES ('legacy', 0, 'caller', 'hello [NAME]')")
        assert await records.call_transcript("legacy") == [("caller", "hello [NAME]")]
        assert await encrypt_legacy_transcripts(su, records.keys) == 1
        assert await su.fetchval("SELECT count(*) FROM call_transcripts WHERE text IS NOT NULL"
                                 ) == 0
    finally:
        await su.close()
    assert await records.call_transcript("legacy") == [("caller", "hello [NAME]")]


async def test_outbox_quarantines_a_row_the_database_refuses(
    records: Records, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    # direction violates the table's CHECK: refused as such, never retried, never blocking
    await records.record_call(CallRecord("bad", "sideways", now, now), [("agent", "x")])
    await records.record_call(CallRecord("good", "inbound", now, now), [("agent", "y")])
    assert await records.call_record("bad") is None
    assert await records.call_transcript("good") == [("agent", "y")]
    outbox = next(w for w in records.health().writers if w.name == "outbox")
    assert outbox.alive
    assert outbox.quarantined == 1
    assert outbox.last_error == "CheckViolationError"
    assert (tmp_path / "spool" / "outbox.dead.jsonl").exists()


async def _one_call(records: Records, rt: SimpleNamespace, n: int, pid: UUID) -> None:
    """What one call asks of the records facade, in the order a call asks it."""
    call_id = f"flow-{n}"
    found, _ = await _patient_for(rt, _call(call_id), {})
    start = datetime.now(UTC)
    for step in range(3):
        await records.audit("agent", "workflow.step", ("call", call_id), "patient_intake",
                            {"seq": step}, queued=True)
    await records.add_call_answers(call_id, "intake", found, {"reason": "checkup"})
    if n % 5 == 0:
        await records.consent_revoke(pid, Channel.SMS, source="call_voice",
                                     evidence_ref=call_id, actor="agent")
    await records.record_dial_decision(f"o-{n}", pid, dial=n % 2 == 0, rule="test.rule")
    await records.record_call(
        CallRecord(call_id, "inbound", start, datetime.now(UTC), outcome="completed",
                   patient_id=found), [("agent", f"turn one of {n}"), ("caller", "fine")])


async def test_calls_go_on_while_the_database_stops_mid_stream(
    make_cluster, tmp_path: Path, test_kek
) -> None:
    """Twenty calls' worth of records while the real server stops and starts again."""
    from agent import MIGRATIONS as AGENT_MIGRATIONS  # noqa: PLC0415
    from carrier.records.migrate import migrate, plan  # noqa: PLC0415

    cluster = make_cluster()
    conn = await asyncpg.connect(cluster.uri())
    await migrate(conn, plan(AGENT_MIGRATIONS))  # the carrier's tables, then the agent's
    await conn.close()
    records = await Records.open(cluster.uri(), test_kek, tmp_path / "spool",
                                 retry_interval=0.2)
    rt = SimpleNamespace(records=records)
    try:
        pid = await records.add_patient("Testa Patientson", PHONE, actor="t", reason="r")
        first = [asyncio.create_task(_one_call(records, rt, n, pid)) for n in range(10)]
        stopping = asyncio.create_task(asyncio.to_thread(cluster.stop))
        await asyncio.gather(*first)  # none of them waits for the database
        await stopping
        await asyncio.gather(*(_one_call(records, rt, n, pid) for n in range(10, 20)))
        await asyncio.to_thread(cluster.start)
        assert await records.drain_spool()
        assert records.health().ok
        for n in range(20):
            assert await records.call_transcript(f"flow-{n}") == [
                ("agent", f"turn one of {n}"), ("caller", "fine")]
    finally:
        await records.close()
    conn = await asyncpg.connect(cluster.uri())
    try:
        assert await verify_chain(conn, "audit") == []
        assert await verify_chain(conn, "consent") == []
        count = "SELECT count(*) FROM audit_log WHERE action = $1"
        assert await conn.fetchval(count, "workflow.step") == 60
        assert await conn.fetchval(count, "dial.decision") == 20
        assert await conn.fetchval(count, "consent.revoke") == 4
        assert await conn.fetchval("SELECT count(*) FROM consent_ledger") == 4
        assert await conn.fetchval("SELECT count(*) FROM call_records") == 20
        assert await conn.fetchval("SELECT count(*) FROM call_answers") == 20
    finally:
        await conn.close()
