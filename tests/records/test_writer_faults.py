"""Issue 11 item 1 (writer part): one hostile value never stops a writer.

Before: an audit entry whose Call-ID held a byte that is not UTF-8 (the SIP parser keeps it
as a ``surrogateescape`` character) raised ``UnicodeEncodeError`` while the batch was hashed,
inside the writer task: the task died and every later append failed (every call got 500).
A value Postgres refuses (NUL in text, a duplicate key) failed its whole batch, innocent
rows with it. Now identifiers are made safe at the facade, and a writer quarantines what the
database refuses, keeps serving, and is restarted (and says so in ``health()``) if it dies.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest

from carrier.records.dbedge import WriterStopped
from carrier.records.safe import safe_text
from carrier.records.store import Records, verify_chain

pytestmark = pytest.mark.postgres

# What the SIP parser makes of b"abc\xff\x00def@host" (errors="surrogateescape").
HOSTILE_CALL_ID = b"abc\xff\x00def@host".decode("utf-8", "surrogateescape")


def _row(record_id: str, reason: str = "fault test", entry_id=None) -> dict:
    return {
        "entry_id": entry_id or uuid4(),
        "at": datetime.now(UTC),
        "actor": "gateway",
        "action": "test.append",
        "record_type": "call",
        "record_id": record_id,
        "reason": reason,
        "details": "{}",
    }


async def _chain_ok(db_url: str) -> list[str]:
    conn = await asyncpg.connect(db_url)
    try:
        assert await verify_chain(conn, "audit") == []
        rows = await conn.fetch(
            "SELECT record_id FROM audit_log WHERE action = 'test.append' ORDER BY seq")
        return [r["record_id"] for r in rows]
    finally:
        await conn.close()


def test_safe_text_keeps_the_bytes_visible() -> None:
    assert safe_text(HOSTILE_CALL_ID) == "abc\\xff\\x00def@host"
    assert safe_text("plain-call-id@10.0.0.1") == "plain-call-id@10.0.0.1"
    assert safe_text("\ud800x") == "\\ud800x"  # a lone surrogate from anywhere else
    assert len(safe_text("x" * 5000)) == 512
    safe_text(HOSTILE_CALL_ID).encode("utf-8")  # encodable, as Postgres needs


async def test_hostile_call_id_through_the_facade(records: Records, db_url: str) -> None:
    """The attack of issue 11 item 1: the entry lands (escaped), the writer lives on."""
    await records.audit("gateway", "call.refused", ("call", HOSTILE_CALL_ID), HOSTILE_CALL_ID,
                        {"call_id": HOSTILE_CALL_ID})
    for i in range(5):
        await records.audit("t", "test.append", ("n", i), "after")
    assert await _chain_ok(db_url) == [str(i) for i in range(5)]
    conn = await asyncpg.connect(db_url)
    try:
        stored = await conn.fetchval(
            "SELECT record_id FROM audit_log WHERE action = 'call.refused'")
    finally:
        await conn.close()
    assert stored == "abc\\xff\\x00def@host"
    assert records.health().ok


async def test_writer_quarantines_what_the_database_refuses(
    records: Records, db_url: str, tmp_path
) -> None:
    """Straight to the writer (no facade cleaning): an unhashable Call-ID, a NUL, and a
    duplicate entry id Postgres refuses in the middle of a batch of good rows."""
    writer = records.audit_writer
    await writer.append(_row(HOSTILE_CALL_ID))  # could not even be hashed: the old crash
    await writer.append(_row("nul", reason="bad\x00reason"))  # Postgres refuses NUL
    taken = uuid4()
    await writer.append(_row("0", entry_id=taken))
    # One batch: good rows around a row whose entry id is already taken (23505).
    await asyncio.gather(*(writer.append(_row(str(i))) for i in range(1, 4)),
                         writer.append(_row("dup", entry_id=taken)),
                         *(writer.append(_row(str(i))) for i in range(4, 7)))
    await writer.append(_row("7"))

    assert await _chain_ok(db_url) == [str(i) for i in range(8)]
    health = records.health()
    audit = next(w for w in health.writers if w.name == "audit")
    assert audit.alive
    assert audit.quarantined == 3
    assert not health.ok
    assert "3 row(s) in the dead-letter file" in health.problems()[0]
    dead = (tmp_path / "spool" / "audit.dead.jsonl").read_text().splitlines()
    reasons = [json.loads(line.split(" ", 1)[1])["reason"] for line in dead]
    assert reasons == ["UnstorableText", "UnstorableText", "UniqueViolationError"]


async def test_a_dead_writer_is_restarted(records: Records, db_url: str) -> None:
    writer = records.audit_writer
    writer.restart_delay = 0.0
    real = writer._write_batch
    calls = 0

    async def broken_once(batch):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug in the writer")
        await real(batch)

    writer._write_batch = broken_once  # type: ignore[method-assign]
    with pytest.raises(WriterStopped):
        await records.audit("t", "test.append", ("n", "lost"), "in flight when it died")
    health = next(w for w in records.health().writers if w.name == "audit")
    assert health.restarts == 1
    assert health.last_error == "RuntimeError"
    assert not health.alive  # the health check sees it until the restart has happened
    for i in range(3):
        await records.audit("t", "test.append", ("n", i), "after the restart")
    assert writer.alive
    assert records.health().ok
    assert await _chain_ok(db_url) == ["0", "1", "2"]


async def test_queued_append_is_acknowledged_from_the_spool(
    records: Records, db_url: str
) -> None:
    """A routine entry returns once fsync'd; the writer commits it right after."""
    writer = records.audit_writer
    ids = [await records.audit("t", "test.append", ("n", i), "queued", queued=True)
           for i in range(20)]
    assert writer.spool_writes >= 1  # acknowledged from the spool, not from a commit
    assert await records.drain_spool()
    assert await _chain_ok(db_url) == [str(i) for i in range(20)]
    conn = await asyncpg.connect(db_url)
    try:
        landed = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE entry_id = ANY($1::uuid[])", ids)
    finally:
        await conn.close()
    assert landed == 20


async def test_a_corrupt_spool_is_set_aside_and_the_writer_serves(
    db_url: str, tmp_path, test_kek
) -> None:
    """A damaged line in the middle of a spool used to stop the writer at every start."""
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "audit.jsonl").write_bytes(b"0000 {}\nffff {}\n")  # checksums do not match
    records = await Records.open(db_url, test_kek, spool)
    try:
        await records.audit("t", "test.append", ("n", 0), "after")
        audit = next(w for w in records.health().writers if w.name == "audit")
        assert audit.alive
        assert audit.quarantined == 2
        assert (spool / "audit.jsonl.corrupt-1").exists()
    finally:
        await records.close()
    assert await _chain_ok(db_url) == ["0"]


async def test_a_quarantined_consent_entry_blocks_dialling(records: Records) -> None:
    """A refused consent entry may be a revocation: until an operator looks, no consent."""
    from carrier.records.store import Channel, ConsentKind  # noqa: PLC0415

    phone = "+15555550177"
    pid = await records.add_patient("Testa Patientson", phone, actor="t", reason="r")
    entry = await records.consent_grant(pid, Channel.VOICE, ConsentKind.TCPA_EXPRESS_WRITTEN,
                                        source="web_form", evidence_ref="f", actor="t")
    assert await records.has_consent(phone, Channel.VOICE)
    await records.consent_writer.append({  # the same entry id again: refused (23505)
        "entry_id": entry, "at": datetime.now(UTC), "patient_id": pid, "channel": "voice",
        "kind": "all", "event": "revoke", "source": "s", "evidence_ref": "e", "actor": "t"})
    assert records.consent_writer.quarantined == 1
    assert not await records.has_consent(phone, Channel.VOICE)
