"""Signed audit export: verifies offline, fails after any single byte changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from carrier.cli import main
from carrier.records.export import (
    BundleInvalid,
    export_audit,
    load_or_create_signing_key,
    verify_bundle,
)
from carrier.records.store import Records

pytestmark = pytest.mark.postgres
T0 = datetime(2026, 3, 1, tzinfo=UTC)


async def _bundle(records: Records, path: Path, key: Ed25519PrivateKey, n: int = 6) -> None:
    for i in range(n):
        await records.audit(
            "op:test",
            "patient.read",
            ("patient", i),
            "care",
            {"call_id": f"c{i}"},
            at=T0 + timedelta(hours=i),
        )
    async with records.pool.acquire() as conn:
        report = await export_audit(
            conn,
            T0 + timedelta(hours=1),
            T0 + timedelta(hours=4),
            path,
            key,
            now=T0 + timedelta(days=1),
        )
    assert (report.count, report.first_seq, report.last_seq) == (3, 2, 4)


async def test_bundle_verifies_and_any_byte_change_fails(records: Records, tmp_path: Path) -> None:
    key = load_or_create_signing_key(tmp_path / "keys" / "audit_signing.pem")
    path = tmp_path / "audit.bundle"
    await _bundle(records, path, key)
    report = verify_bundle(path)
    assert report.count == 3
    raw = path.read_bytes()
    for i in range(len(raw)):
        damaged = bytearray(raw)
        damaged[i] ^= 0x01
        path.write_bytes(bytes(damaged))
        with pytest.raises(BundleInvalid):
            verify_bundle(path)
    for damaged in (raw[:-1], raw + b"\n", raw + b"x", raw[: len(raw) // 2]):
        path.write_bytes(damaged)
        with pytest.raises(BundleInvalid):
            verify_bundle(path)


async def test_a_pinned_key_refuses_another_signer(records: Records, tmp_path: Path) -> None:
    path = tmp_path / "audit.bundle"
    await _bundle(records, path, Ed25519PrivateKey.generate())
    with pytest.raises(BundleInvalid, match="other than the trusted"):
        verify_bundle(path, Ed25519PrivateKey.generate().public_key())


async def test_cli_verify_offline(records: Records, tmp_path: Path, capsys) -> None:
    key = load_or_create_signing_key(tmp_path / "k.pem")
    path = tmp_path / "audit.bundle"
    await _bundle(records, path, key)
    assert main(["audit", "verify", str(path), "--public-key", str(tmp_path / "k.pub.pem")]) == 0
    assert "valid, 3 rows" in capsys.readouterr().out
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x04
    path.write_bytes(bytes(raw))
    assert main(["audit", "verify", str(path)]) != 0
    assert "INVALID" in capsys.readouterr().err
