"""After a data-key rotation, ``carrier keys reencrypt`` moves every encrypted value to the
newest data key, and ``carrier keys status`` says what is left under older ones, so an
operator can retire an old data key.

Before, ``reencrypt`` rewrote only the ``patients`` table: transcripts, recordings, the raw
answers, staff tasks (details and notes), prescriptions, conversation memory, the feed MRNs
and write-back payloads and the console operators' TOTP secrets stayed under the old data
key forever, and nothing told the operator so: dropping the old key would have made all of
them unreadable. Each value is written here through the code that writes it in service,
and read back after the old key is gone through the code that reads it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import asyncpg
import pytest

from agent.callback import create_callback_task
from agent.memory import PostgresMemoryStore, Turn
from agent.runtime import VoiceAgent
from agent.scheduling.prescriptions import PostgresRefillDesk, Prescription
from agent.staff_tasks import close_task, read_task
from carrier.records.calls import CallRecord
from carrier.records.operators import Operators
from carrier.records.sealed import sealed_columns
from carrier.records.store import Records
from tests.conftest import TEST_KEK
from tests.ops.conftest import Operator
from tests.ops.live import one_line_error

# About eight `carrier` runs, each a subprocess opening the database.
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
PHONE = "+15550100161"


async def _seed(records: Records) -> dict[str, Any]:
    """One value in every encrypted column, written as the service writes it (key v1)."""
    pid = await records.add_patient("Testa Patientson", PHONE, actor="test", reason="test")
    await records.record_call(CallRecord("c-rekey", "inbound", NOW, NOW),
                              [("caller", "my name is [NAME]")], recording=b"\x01\x02" * 80)
    await records.add_call_answers("c-rekey", "intake", str(pid), {"reason": "checkup"})
    task = await create_callback_task(records, queue="front_desk", patient_id=str(pid),
                                      call_id="c-rekey", number="+15550100162", now=NOW)
    await close_task(records, task, actor="test", note="called back", now=NOW)
    await PostgresRefillDesk(records).load(
        [Prescription("rx-1", str(pid), "Testamine 10 mg", "Test Pharmacy")], NOW)
    await PostgresMemoryStore(records.pool, keys=records.keys).note(
        Turn(str(pid), "sms", "reminder", "patient", "yes please", NOW))
    issued = await Operators(records.pool, records.keys).add("opsy", "admin", now=NOW)
    bidx = b"\x07" * 32
    key = "c-rekey:hl7:confirmed"
    async with records.pool.acquire() as conn:
        await conn.execute(  # as carrier/feeds/store.py links a source's MRN
            "INSERT INTO feed_patients (ref_bidx, authority, ref_ct, patient_id, updated_at,"
            " source_ts) VALUES ($1, 'EHR', $2, $3, $4, $4)", bidx,
            records.keys.encrypt("MRN-0001", "feed_patients", "ref_ct", bidx.hex()), pid, NOW)
        await conn.execute(  # as carrier/feeds/writeback.py queues an outcome
            "INSERT INTO feed_outbox (dedup_key, destination, kind, payload_ct, next_at,"
            " created_at) VALUES ($1, 'hl7', 'confirmed', $2, $3, $3)", key,
            records.keys.encrypt(json.dumps({"kind": "confirmed"}), "feed_outbox", "payload",
                                 key), NOW)
    return {"pid": pid, "task": task, "bidx": bidx, "outbox": key, "totp": issued}


async def _read_all(records: Records, seeded: dict[str, Any]) -> None:
    """Every value read back by the code that reads it in service."""
    pid = seeded["pid"]
    got = await records.get_patient(pid, actor="test", reason="test")
    assert got is not None
    assert (got.name, got.phone) == ("Testa Patientson", PHONE)
    assert await records.call_transcript("c-rekey") == [("caller", "my name is [NAME]")]
    audio = await records.call_recording("c-rekey")
    assert audio is not None
    assert audio[0] == b"\x01\x02" * 80
    assert [k for k, _ in await records.call_answers("c-rekey")] == ["intake"]
    task = await read_task(records, seeded["task"], actor="test")
    assert (task.details, task.note) == ("+15550100162", "called back")
    rx = await PostgresRefillDesk(records).due(str(pid), NOW)
    assert rx is not None
    assert (rx.medication, rx.pharmacy) == ("Testamine 10 mg", "Test Pharmacy")
    view = await PostgresMemoryStore(records.pool, keys=records.keys).load(str(pid))
    assert [t.text for t in view.turns] == ["yes please"]
    account = await Operators(records.pool, records.keys).find("opsy")
    assert account is not None
    assert account.totp_secret
    row = await records.pool.fetchrow("SELECT ref_ct FROM feed_patients")
    assert records.keys.decrypt_str(bytes(row["ref_ct"]), "feed_patients", "ref_ct",
                                    seeded["bidx"].hex()) == "MRN-0001"
    row = await records.pool.fetchrow("SELECT payload_ct FROM feed_outbox")
    assert json.loads(records.keys.decrypt_str(bytes(row["payload_ct"]), "feed_outbox",
                                               "payload", seeded["outbox"]))


def _status(operator: Operator) -> dict[str, Any]:
    done = operator.run("keys", "status", "--json")
    assert done.code == 0, done.err
    return json.loads(done.out)


async def test_reencrypt_moves_every_encrypted_column_and_the_old_key_can_go(
        operator: Operator, db_url: str, tmp_path: Any) -> None:
    seeding = await Records.open(db_url, TEST_KEK, tmp_path / "seed-spool")
    try:
        seeded = await _seed(seeding)
    finally:
        await seeding.close()

    done = operator.run("keys", "rotate")
    assert done.code == 0, done.err
    before = _status(operator)
    assert before["active_version"] == 2
    old = {f"{c['table']}.{c['column']}": c["old"] for c in before["columns"]}
    for name in ("patients.phone_ct", "patients.name_ct", "call_transcripts.text_ct",
                 "call_recordings.audio_ct", "call_answers.answers_ct",
                 "staff_tasks.details_ct", "staff_tasks.note_ct",
                 "agent_prescriptions.medication_ct", "agent_prescriptions.pharmacy_ct",
                 "conversation_memory.text_enc", "console_operators.totp_secret_ct",
                 "feed_patients.ref_ct", "feed_outbox.payload_ct"):
        assert old[name] == 1, (name, before)
    assert before["old_values"] >= 13

    refused = one_line_error(operator.run("keys", "retire", "1"))
    assert "still encrypts" in refused, refused

    done = operator.run("keys", "reencrypt")
    assert done.code == 0, done.err
    assert "Traceback" not in done.err
    after = _status(operator)
    assert after["old_values"] == 0, after
    assert all(c["old"] == 0 for c in after["columns"]), after
    assert after["versions"] == {"1": 0, "2": after["values"]}, after
    # Audited with counts only.
    conn = await asyncpg.connect(db_url)
    try:
        details = json.loads(await conn.fetchval(
            "SELECT details FROM audit_log WHERE action = 'keys.reencrypt'"
            " ORDER BY seq DESC LIMIT 1"))
    finally:
        await conn.close()
    assert details["rows"] >= 12  # the patient row once, each other value once
    assert "Testa" not in json.dumps(details)

    assert "active one" in one_line_error(operator.run("keys", "retire", "2"))
    # Writes waiting in a spool may be under the old key: not while they wait.
    waiting = tmp_path / "var" / "spool" / "outbox.jsonl"
    waiting.parent.mkdir(parents=True, exist_ok=True)
    waiting.write_text('{"op": "answers"}\n')
    assert "spool" in one_line_error(operator.run("keys", "retire", "1"))
    waiting.write_text("")
    done = operator.run("keys", "retire", "1")
    assert done.code == 0, done.err
    # The old data key is gone: every value still reads.
    records = await Records.open(db_url, TEST_KEK, tmp_path / "read-spool")
    try:
        assert sorted(records.keys.field_keys) == [2]
        await _read_all(records, seeded)
    finally:
        await records.close()


async def test_every_ciphertext_column_is_known_to_reencrypt(db_url: str) -> None:
    """Every bytea column of the migrated schema (the carrier's and the application's) that
    holds data-key ciphertext is listed for reencrypt and status (one nobody lists would keep
    an old data key alive); the others are hashes, blind indexes and wrapped keys."""
    not_ciphertext = {("data_keys", "wrapped"), ("chain_heads", "row_hash"),
                      ("chain_heads", "anchor_hash"), ("consent_ledger", "prev_hash"),
                      ("consent_ledger", "row_hash"), ("audit_log", "prev_hash"),
                      ("audit_log", "row_hash"), ("patients", "phone_bidx"),
                      ("dnc_org", "phone_bidx"), ("dnc_national", "phone_bidx"),
                      ("feed_patients", "ref_bidx"), ("feed_messages", "digest"),
                      ("feed_merged", "ref_bidx"), ("feed_key_conflicts", "ref_bidx")}
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type = 'bytea'")
    finally:
        await conn.close()
    found = {(r["table_name"], r["column_name"]) for r in rows} - not_ciphertext
    listed = {(c.table, c.column) for c in sealed_columns(VoiceAgent())}
    assert found - listed == set()
    assert listed - found == set()


async def test_a_running_node_reads_values_reencrypted_under_a_version_it_never_loaded(
        operator: Operator, db_url: str, tmp_path: Any) -> None:
    """A node running since before ``keys rotate`` holds the old data keys only. When only
    patients were re-encrypted it met the new version there alone (and reloaded); now every
    column moves, so a returning caller's conversation memory (read with the key ring the
    agent took at start) named a version the node lacked and the call failed. ``keys
    rotate`` and ``reencrypt`` now notify the nodes, which load new versions into the key
    ring they already hold."""
    live = await Records.open(db_url, TEST_KEK, tmp_path / "live-spool", watch_keys=True)
    try:
        memory = PostgresMemoryStore(live.pool, keys=live.keys)  # as the agent holds it
        await memory.note(Turn("p-1", "sms", "reminder", "patient", "yes please", NOW))
        for step in (("keys", "rotate"), ("keys", "reencrypt")):
            done = operator.run(*step)
            assert done.code == 0, done.err
        async with asyncio.timeout(60):  # a bound on a hang, not a measurement
            await live.keys_reloaded.wait()  # set by the notification, not by a timer
        view = await memory.load("p-1")
        assert [t.text for t in view.turns] == ["yes please"]
    finally:
        await live.close()
