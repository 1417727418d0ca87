"""Issue 11 item 7: the chains are anchored outside the database.

Before: a database superuser who deleted the tail and rewrote ``chain_heads``, or rewrote
one row and recomputed every later hash and the head, left chains that pass ``verify``
(shown below: ``verify_chain`` still returns no fault). Signed checkpoints in a file the
database never sees, and earlier signed exports, catch both; ``carrier audit verify`` says
what was found.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from carrier.cli import main
from carrier.records import chain as chainmod
from carrier.records.anchor import (
    Anchor,
    AnchorInvalid,
    check_bundle,
    check_checkpoints,
    read_checkpoints,
)
from carrier.records.export import export_audit, load_or_create_signing_key
from carrier.records.store import Records, verify_chain
from tests.records.test_cli import synthetic_patient

pytestmark = pytest.mark.postgres


async def delete_tail(su: asyncpg.Connection, keep: int) -> None:
    """The superuser's first attack: drop every row after ``keep``, move the head back."""
    async with su.transaction():
        await su.execute("SET LOCAL session_replication_role = replica")  # skip the triggers
        await su.execute("DELETE FROM audit_log WHERE seq > $1", keep)
        last = await su.fetchval("SELECT row_hash FROM audit_log WHERE seq = $1", keep)
        await su.execute(
            "UPDATE chain_heads SET seq = $1, row_hash = $2 WHERE chain = 'audit'", keep, last)


async def rewrite_row(su: asyncpg.Connection, seq: int, reason: str) -> None:
    """The second: change one row, then recompute every later hash and the head."""
    async with su.transaction():
        await su.execute("SET LOCAL session_replication_role = replica")
        rows = [dict(r) for r in await su.fetch(
            "SELECT * FROM audit_log WHERE seq >= $1 ORDER BY seq", seq)]
        prev = bytes(rows[0]["prev_hash"])
        rows[0]["reason"] = reason
        for row in rows:
            row["prev_hash"] = prev
            prev = row["row_hash"] = chainmod.row_hash("audit", prev, row)
            await su.execute(
                "UPDATE audit_log SET reason = $2, prev_hash = $3, row_hash = $4 WHERE seq = $1",
                row["seq"], row["reason"], row["prev_hash"], row["row_hash"])
        await su.execute("UPDATE chain_heads SET seq = $1, row_hash = $2 WHERE chain = 'audit'",
                         rows[-1]["seq"], prev)


@pytest.fixture
def anchor(tmp_path: Path) -> Anchor:
    return Anchor(tmp_path / "audit" / "checkpoints.jsonl",
                  load_or_create_signing_key(tmp_path / "keys" / "audit_signing.pem"))


async def _fill(records: Records, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        await records.audit("t", "test.append", ("n", i), "anchor test")


async def _problems(db_url: str, anchor: Anchor) -> list[str]:
    su = await asyncpg.connect(db_url)
    try:
        return await check_checkpoints(su, read_checkpoints(anchor.path, anchor.public_key))
    finally:
        await su.close()


async def test_deleted_tail_is_caught_by_a_checkpoint(
    records: Records, db_url: str, anchor: Anchor
) -> None:
    records.anchor = anchor
    await _fill(records, 20)
    assert await records.checkpoint() == 1  # the audit head (consent has no entries)
    assert await _problems(db_url, anchor) == []
    su = await asyncpg.connect(db_url)
    try:
        await delete_tail(su, keep=12)
        assert await verify_chain(su, "audit") == []  # the old check is fooled
    finally:
        await su.close()
    problems = await _problems(db_url, anchor)
    assert len(problems) == 1
    assert "the live chain ends at seq 12; 8 signed entries are missing from its end" in (
        problems[0])


async def test_rewritten_row_is_caught_by_a_checkpoint(
    records: Records, db_url: str, anchor: Anchor
) -> None:
    records.anchor = anchor
    await _fill(records, 20)
    await records.checkpoint()
    await _fill(records, 5, start=20)  # rows after the checkpoint
    su = await asyncpg.connect(db_url)
    try:
        await rewrite_row(su, 7, "nothing to see")
        assert await verify_chain(su, "audit") == []  # the old check is fooled
    finally:
        await su.close()
    problems = await _problems(db_url, anchor)
    assert len(problems) == 1
    assert "the live entry's hash differs; the chain was rewritten at or before seq 20" in (
        problems[0])


async def test_bundle_comparison(records: Records, db_url: str, anchor: Anchor,
                                 tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415

    await _fill(records, 10)
    now = datetime.now(UTC)
    bundle = tmp_path / "export.jsonl"
    su = await asyncpg.connect(db_url)
    try:
        await export_audit(su, now - timedelta(days=1), now + timedelta(days=1), bundle,
                           anchor.key, now=now)
        await _fill(records, 3, start=10)
        assert await check_bundle(su, bundle, anchor.public_key) == ([], 10)
        await rewrite_row(su, 4, "forged")
        problems, _ = await check_bundle(su, bundle, anchor.public_key)
        assert problems[0] == "audit seq 4 differs from the bundle"
        assert "does not extend the bundle's head (seq 10 differs)" in problems[-1]
        await delete_tail(su, keep=6)
        problems, _ = await check_bundle(su, bundle, anchor.public_key)
        assert "audit seq 7 from the bundle is missing from the live chain" in problems
        assert any("ends at seq 6, before the head seq 10" in p for p in problems)
    finally:
        await su.close()


def test_a_forged_checkpoint_line_is_refused(anchor: Anchor, tmp_path: Path) -> None:
    anchor.record("audit", 5, bytes(32), source="periodic")
    text = anchor.path.read_text().replace('"seq":5', '"seq":4')
    anchor.path.write_text(text)
    with pytest.raises(AnchorInvalid, match="signature does not verify"):
        read_checkpoints(anchor.path, anchor.public_key)
    other = load_or_create_signing_key(tmp_path / "other.pem")
    Anchor(tmp_path / "b.jsonl", other).record("audit", 1, bytes(32), source="periodic")
    with pytest.raises(AnchorInvalid, match="signed by another key"):
        read_checkpoints(tmp_path / "b.jsonl", anchor.public_key)


# -- end to end: the operator's commands ---------------------------------------------------


def _carrier(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("carrier")
    return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_operator_verifies_the_chain_against_checkpoints_and_a_bundle(
    db_url: str, tmp_path: Path, test_kek, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "CARRIER_DATABASE_URL": db_url,
           "CARRIER_DATA_DIR": str(tmp_path / "var"),
           "CARRIER_KEK": base64.b64encode(test_kek.secret).decode()}
    for key in ("CARRIER_DATABASE_URL", "CARRIER_DATA_DIR", "CARRIER_KEK"):
        monkeypatch.setenv(key, env[key])  # data in-process (quicker); audit commands below
        # run as the operator runs them, as processes
    # Consent commands refuse an unknown patient: one synthetic patient (one audit entry).
    pid = asyncio.run(synthetic_patient(db_url, tmp_path / "fixture-spool"))
    for _ in range(6):  # each consent change writes an audit entry too
        assert main(["consent", "grant", pid, "--channel", "voice", "--kind",
                     "tcpa_express_written", "--source", "web_form", "--evidence", "f"]) == 0
    bundle = tmp_path / "export.jsonl"
    done = _carrier(env, "audit", "export", "--from", "2000-01-01", "--to", "2100-01-01",
                    str(bundle))
    assert done.returncode == 0, done.stderr
    done = _carrier(env, "audit", "checkpoint")
    assert done.returncode == 0, done.stderr
    assert "2 chain head(s) signed" in done.stdout
    done = _carrier(env, "audit", "verify", "--against", str(bundle))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "consistent with 3 signed checkpoint(s)" in done.stdout
    assert "export.jsonl: 7 entries present unchanged" in done.stdout  # 6 grants, 1 patient

    async def attack() -> None:
        su = await asyncpg.connect(db_url)
        try:
            await delete_tail(su, keep=4)
        finally:
            await su.close()

    asyncio.run(attack())
    done = _carrier(env, "audit", "verify-chain")
    assert done.returncode == 0  # the chain alone still looks intact
    done = _carrier(env, "audit", "verify", "--against", str(bundle))
    assert done.returncode != 0
    assert "TAMPERED: audit chain, signed checkpoint of" in done.stdout
    assert "signed entries are missing from its end" in done.stdout
    assert "export.jsonl: audit seq 5 from the bundle is missing" in done.stdout
    assert "do not match what was signed" in done.stderr
