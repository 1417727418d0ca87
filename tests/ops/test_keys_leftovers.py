"""What ``carrier keys`` does with values it cannot move, and with writes it cannot see.

* ``keys reencrypt`` met one patient row that does not decrypt and stopped there (a
  ``DecryptError`` out of ``reencrypt_patients``): every other row and column stayed under
  the old data key, nothing was audited. Now it moves everything it can, names the rows left
  (ids only), audits the run with them, and exits non-zero.
* ``keys retire`` looked only at spool files waiting to be replayed: rows the database had
  refused (``*.dead.jsonl``) or a corrupt spool set aside (``*.corrupt-N``) may hold
  ciphertext under the version being retired, and no command would read them again after
  it went. Now it refuses while any holds something, naming how many files and where.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from carrier.records.calls import CallRecord
from carrier.records.store import Records
from tests.conftest import TEST_KEK
from tests.ops.conftest import Operator
from tests.ops.live import one_line_error, operator_env

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


async def _seed(db_url: str, spool: Path) -> tuple[str, str]:
    records = await Records.open(db_url, TEST_KEK, spool)
    try:
        bad = await records.add_patient("Testa Patientson", "+15550100171", actor="t",
                                        reason="fixture")
        good = await records.add_patient("Testo Patientson", "+15550100172", actor="t",
                                         reason="fixture")
        await records.record_call(CallRecord("c-left", "inbound", NOW, NOW),
                                  [("caller", "hello [NAME]")])
        await records.drain_spool()
    finally:
        await records.close()
    return str(bad), str(good)


async def test_reencrypt_moves_what_it_can_and_names_the_rows_it_cannot(
        operator: Operator, db_url: str, tmp_path: Path) -> None:
    bad, good = await _seed(db_url, tmp_path / "seed-spool")
    su = await asyncpg.connect(db_url)
    try:  # one cell damaged at rest: its tag no longer authenticates
        await su.execute("UPDATE patients SET name_ct = overlay(name_ct placing"
                         " '\\x00'::bytea from octet_length(name_ct)) WHERE id = $1::uuid", bad)
        assert operator.run("keys", "rotate").code == 0
        done = operator.run("keys", "reencrypt")
        line = one_line_error(done)
        assert bad in line, line
        assert f"patients.name_ct row {bad}" in done.out
        assert good not in done.out + done.err
        assert "Testa" not in done.out + done.err
        versions = {str(r["id"]): r["key_version"]
                    for r in await su.fetch("SELECT id, key_version FROM patients")}
        assert versions == {bad: 1, good: 2}
        # the bad row's readable cells moved; only the damaged one is left
        left = await su.fetchval(
            "SELECT count(*) FROM patients WHERE substring(phone_ct from 2 for 4) <> int4send(2)")
        assert left == 0
        assert await su.fetchval(
            "SELECT count(*) FROM call_transcripts WHERE substring(text_ct from 2 for 4)"
            " = int4send(2)") == 1
        details = json.loads(await su.fetchval(
            "SELECT details FROM audit_log WHERE action = 'keys.reencrypt'"
            " ORDER BY seq DESC LIMIT 1"))
        named = [(r["record_type"], r["record_id"]) for r in await su.fetch(
            "SELECT record_type, record_id FROM audit_log"
            " WHERE action = 'keys.value_unreadable'")]
    finally:
        await su.close()
    assert details["unreadable"] == 1, details
    assert named == [("patients.name_ct", bad)]
    status = operator.run("keys", "status", "--json")
    assert status.code == 0, status.err
    doc: dict[str, Any] = json.loads(status.out)
    assert doc["old_values"] == 1, doc
    assert "still encrypts 1 values" in one_line_error(operator.run("keys", "retire", "1"))


async def test_retire_refuses_while_dead_letters_or_a_set_aside_spool_hold_rows(
        operator: Operator, db_url: str, tmp_path: Path) -> None:
    await _seed(db_url, tmp_path / "seed-spool")
    for step in (("keys", "rotate"), ("keys", "reencrypt")):
        done = operator.run(*step)
        assert done.code == 0, done.err
    spool = tmp_path / "var" / "spool"
    (spool / "cmd-1").mkdir(parents=True)
    dead = spool / "outbox.dead.jsonl"
    dead.write_text('{"record": {"op": "call_end"}, "reason": "rejected"}\n')
    aside = spool / "cmd-1" / "outbox.jsonl.corrupt-1"
    aside.write_text("{torn\n")
    line = one_line_error(operator.run("keys", "retire", "1"))
    assert "2 " in line, line
    assert str(spool) in line, line
    assert "nothing was retired" in line, line
    aside.write_text("")
    assert "1 " in one_line_error(operator.run("keys", "retire", "1"))
    dead.unlink()
    done = operator.run("keys", "retire", "1")
    assert done.code == 0, done.err


async def test_a_retired_key_is_audited_in_the_transaction_that_deletes_it(
        operator: Operator, db_url: str, tmp_path: Path) -> None:
    """Before: the data key was deleted and committed on the owner's connection, and the
    ``keys.retire`` entry written afterwards through the application role: when that failed
    (the role could not log in here; a crash, a dropped connection alike) the key was gone,
    the command said it failed, and no audit entry recorded the retirement. Now the entry is
    appended in the deleting transaction: both or neither."""
    await _seed(db_url, tmp_path / "seed-spool")
    for step in (("keys", "rotate"), ("keys", "reencrypt")):
        done = operator.run(*step)
        assert done.code == 0, done.err
    su = await asyncpg.connect(db_url)
    try:
        await su.execute("ALTER ROLE carrier_app NOLOGIN")
        try:
            done = operator.run("keys", "retire", "1")
        finally:
            await su.execute("ALTER ROLE carrier_app LOGIN")
        versions = [r["version"] for r in await su.fetch(
            "SELECT version FROM data_keys WHERE purpose = 'field' ORDER BY version")]
        entries = [json.loads(r["details"]) for r in await su.fetch(
            "SELECT details FROM audit_log WHERE action = 'keys.retire'")]
    finally:
        await su.close()
    assert (versions, entries) in (([2], [{"version": 1}]), ([1, 2], [])), (versions, entries)
    assert done.code == 0, done.err
    assert versions == [2]


async def test_a_kek_rotation_is_audited_in_the_transaction_that_rewraps(
        operator: Operator, db_url: str, tmp_path: Path) -> None:
    """Before: the data keys were re-wrapped under the new KEK and committed, and the
    ``keys.rotate`` entry written afterwards through the application role; when that failed
    the keys had moved to another KEK with no audit entry. Now both, or neither."""
    await _seed(db_url, tmp_path / "seed-spool")
    old, new = tmp_path / "old-kek.bin", tmp_path / "new-kek.bin"
    old.write_bytes(TEST_KEK.secret)
    new.write_bytes(os.urandom(32))
    new.chmod(0o600)
    doc = yaml.safe_load((operator.cfg / "carrier.yaml").read_text())
    doc.setdefault("keys", {})["kek_file"] = str(new)
    (operator.cfg / "carrier.yaml").write_text(yaml.safe_dump(doc))
    su = await asyncpg.connect(db_url)
    try:
        await su.execute("ALTER ROLE carrier_app NOLOGIN")
        try:
            operator.run("keys", "rotate", "--old-kek-file", str(old), env=operator_env())
        finally:
            await su.execute("ALTER ROLE carrier_app LOGIN")
        kek_ids = {r["kek_id"] for r in await su.fetch("SELECT kek_id FROM data_keys")}
        entries = [json.loads(r["details"]) for r in await su.fetch(
            "SELECT details FROM audit_log WHERE action = 'keys.rotate'")]
    finally:
        await su.close()
    assert TEST_KEK.key_id not in kek_ids  # moved
    assert [e["new_kek"] for e in entries] == [True], entries


async def test_reencrypt_says_so_when_rows_busy_elsewhere_were_left(
        operator: Operator, db_url: str, tmp_path: Path) -> None:
    """A row another transaction holds is skipped (``SKIP LOCKED``), for the next run.
    Before: the run exited 0 as if done, and only ``keys status`` showed the value left.
    Now it counts what is still under older versions after its passes and, when any value
    it did not name as unreadable is left, exits non-zero telling the operator to run it
    again."""
    await _seed(db_url, tmp_path / "seed-spool")
    assert operator.run("keys", "rotate").code == 0
    su = await asyncpg.connect(db_url)
    try:
        async with su.transaction():
            await su.execute("SELECT 1 FROM call_transcripts FOR UPDATE")
            line = one_line_error(operator.run("keys", "reencrypt"))
        assert "1 values" in line, line
        assert "run carrier keys reencrypt again" in line, line
        done = operator.run("keys", "reencrypt")
        assert done.code == 0, done.err
    finally:
        await su.close()
