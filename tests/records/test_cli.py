"""The operator commands against a real database (the session cluster)."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import asyncpg
import pytest

from carrier.cli import main
from carrier.records.crypto import LocalKek
from carrier.records.embedded import EmbeddedPostgres, open_database
from carrier.records.store import Records
from tests.conftest import TEST_KEK

pytestmark = pytest.mark.postgres


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path, test_kek: LocalKek):
    monkeypatch.setenv("CARRIER_DATABASE_URL", db_url)
    monkeypatch.setenv("CARRIER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CARRIER_KEK", base64.b64encode(test_kek.secret).decode())
    return tmp_path


def test_db_status_and_migrate(env, capsys) -> None:
    assert main(["db", "status"]) == 0
    out = capsys.readouterr().out
    assert "0001_records_core  applied" in out
    assert "agent/0100_scheduling  applied" in out  # the application's own folder
    assert "pending" not in out
    assert main(["db", "migrate"]) == 0
    assert "up to date" in capsys.readouterr().out


async def synthetic_patient(db_url: str, spool: Path) -> str:
    """A patient in the records (consent commands refuse an unknown patient id)."""
    records = await Records.open(db_url, TEST_KEK, spool)
    try:
        return str(await records.add_patient("Testa Patientson", "+15550109999",
                                             actor="test", reason="fixture"))
    finally:
        await records.close()


def test_consent_grant_show_revoke_verify(env, db_url, capsys) -> None:
    pid = asyncio.run(synthetic_patient(db_url, env / "fixture-spool"))
    grant = ["consent", "grant", pid, "--channel", "voice", "--kind", "tcpa_express_written"]
    assert main([*grant, "--source", "web_form", "--evidence", "form-7"]) == 0
    revoke = ["consent", "revoke", pid, "--channel", "voice"]
    assert main([*revoke, "--source", "ivr", "--evidence", "call-9"]) == 0
    capsys.readouterr()
    assert main(["consent", "show", pid]) == 0
    out = capsys.readouterr().out
    assert "grant  voice tcpa_express_written" in out
    assert "revoke voice all" in out
    assert "now: voice tcpa_express_written: not granted" in out
    assert main(["consent", "verify"]) == 0
    assert main(["audit", "verify-chain"]) == 0


def test_verify_chain_fails_after_tampering(env, db_url: str, capsys) -> None:
    pid = asyncio.run(synthetic_patient(db_url, env / "fixture-spool"))
    args = ["--channel", "sms", "--kind", "tcpa_express", "--source", "s", "--evidence", "e"]
    assert main(["consent", "grant", pid, *args]) == 0

    async def tamper() -> None:
        conn = await asyncpg.connect(db_url)
        await conn.execute("ALTER TABLE consent_ledger DISABLE TRIGGER USER")
        await conn.execute("UPDATE consent_ledger SET evidence_ref = 'forged'")
        await conn.close()

    asyncio.run(tamper())
    capsys.readouterr()
    assert main(["consent", "verify"]) != 0
    assert "hash mismatch" in capsys.readouterr().out


def test_keys_rotate_and_export_round_trip(env, capsys, monkeypatch) -> None:
    assert main(["keys", "rotate"]) == 0
    assert "data key version 2 created; 3 data keys re-wrapped" in capsys.readouterr().out
    old_kek, new_kek = env / "kek1.bin", env / "kek2.bin"
    old_kek.write_bytes(base64.b64decode(os.environ["CARRIER_KEK"]))
    new_kek.write_bytes(os.urandom(32))
    new_kek.chmod(0o600)
    monkeypatch.delenv("CARRIER_KEK")
    monkeypatch.setenv("CARRIER_KEYS__KEK_FILE", str(new_kek))
    assert main(["keys", "rotate", "--old-kek-file", str(old_kek)]) == 0
    assert "3 data keys re-wrapped" in capsys.readouterr().out
    assert main(["keys", "reencrypt"]) == 0
    assert "0 patient rows re-encrypted" in capsys.readouterr().out
    bundle = env / "audit.jsonl"
    assert main(["audit", "export", "--from", "2000-01-01", "--to", "2100-01-01", str(bundle)]) == 0
    pub = env / "var" / "keys" / "audit_signing.pub.pem"
    assert main(["audit", "verify", str(bundle), "--public-key", str(pub)]) == 0
    assert main(["retention", "run"]) == 0
    out = capsys.readouterr().out
    assert "transcripts: before" in out


def test_bad_kek_is_one_line(monkeypatch, env, capsys) -> None:
    monkeypatch.setenv("CARRIER_KEK", "not base64!")
    assert main(["consent", "verify"]) == 0  # verification needs no key
    assert main(["keys", "rotate"]) != 0
    assert "CARRIER_KEK" in capsys.readouterr().err


async def test_open_database_embedded_initialises_then_reuses(cluster_base: Path) -> None:
    data_dir = cluster_base / "var"
    async with open_database(None, data_dir) as dsn:
        conn = await asyncpg.connect(dsn)
        await conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
        await conn.close()
    server = EmbeddedPostgres(data_dir / "pg")
    assert not server.running  # stopped cleanly on exit
    async with open_database(None, data_dir) as dsn:
        conn = await asyncpg.connect(dsn)
        assert await conn.fetchval("SELECT n FROM kept") == 42
        await conn.close()
    assert not server.running
    async with open_database("postgresql://example.invalid/db", data_dir) as dsn:
        assert dsn == "postgresql://example.invalid/db"
