"""Signed audit export bundles, verifiable offline.

A bundle is one text file of JSON lines, every line compact JSON with sorted keys:

1. the manifest: range, first/last ``seq``, anchor hash (the first row's predecessor),
   last hash, the SHA-256 of the entry lines, the chain head at export time;
2. one line per audit row (the chain fields, ``at`` in microseconds, hashes in hex);
3. the signature line: Ed25519 over every byte before it, with the public key.

``verify_bundle`` re-serialises every line and requires byte equality, checks the entry
digest, re-walks the hash chain and checks the signature, so changing any single byte of
the file makes it fail. Pass ``trusted_key`` to pin the signer (otherwise the embedded key
is reported by fingerprint for the auditor to compare).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from carrier.records import chain as chainmod

FORMAT = "carrier-audit-export/1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BundleInvalid(Exception):
    """The bundle does not verify; the message says which check failed."""


@dataclass(frozen=True)
class BundleReport:
    count: int
    first_seq: int
    last_seq: int
    key_fingerprint: str
    head_seq: int = 0  # the chain head when the bundle was exported
    head_hash: bytes = b""


def _line(value: Any) -> bytes:
    return (chainmod.canonical_json(value) + "\n").encode()


def fingerprint(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:32]


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The export signing key (PKCS#8 PEM, mode 0600), created on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        path.with_suffix(".pub.pem").write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise TypeError(f"{path} is not an Ed25519 private key")
    return loaded


def entry_of(row: Any) -> dict[str, Any]:
    """An audit row as a bundle holds it."""
    out: dict[str, Any] = {n: row[n] for n in chainmod.AUDIT_FIELDS}
    out["entry_id"] = str(row["entry_id"])
    out["at"] = chainmod.micros(row["at"])
    out["prev_hash"] = bytes(row["prev_hash"]).hex()
    out["row_hash"] = bytes(row["row_hash"]).hex()
    return out


async def export_audit(
    conn: asyncpg.Connection,
    start: datetime,
    end: datetime,
    path: Path,
    key: Ed25519PrivateKey,
    *,
    now: datetime,
) -> BundleReport:
    """Write rows with ``start <= at < end`` (as one contiguous ``seq`` run) to ``path``."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        head = await conn.fetchrow("SELECT seq, row_hash FROM chain_heads WHERE chain = 'audit'")
        bounds = await conn.fetchrow(
            "SELECT min(seq) AS first, max(seq) AS last FROM audit_log WHERE at >= $1 AND at < $2",
            start,
            end,
        )
        rows = []
        if bounds["first"] is not None:
            rows = await conn.fetch(
                "SELECT * FROM audit_log WHERE seq BETWEEN $1 AND $2 ORDER BY seq",
                bounds["first"],
                bounds["last"],
            )
    entries = [entry_of(r) for r in rows]
    body = b"".join(_line(e) for e in entries)
    manifest = {
        "format": FORMAT,
        "chain": "audit",
        "from": start.isoformat(),
        "to": end.isoformat(),
        "created_at": now.isoformat(),
        "count": len(entries),
        "first_seq": entries[0]["seq"] if entries else 0,
        "last_seq": entries[-1]["seq"] if entries else 0,
        "anchor_hash": entries[0]["prev_hash"] if entries else "",
        "last_hash": entries[-1]["row_hash"] if entries else "",
        "entries_sha256": hashlib.sha256(body).hexdigest(),
        "head_seq": head["seq"],
        "head_hash": bytes(head["row_hash"]).hex(),
        "key_fingerprint": fingerprint(key.public_key()),
    }
    signed = _line(manifest) + body
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    signature = {"alg": "Ed25519", "public_key": public.hex(), "signature": key.sign(signed).hex()}
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(signed + _line(signature))
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return BundleReport(
        len(entries), manifest["first_seq"], manifest["last_seq"], manifest["key_fingerprint"],
        head["seq"], bytes(head["row_hash"]),
    )


def _strict(line: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleInvalid(f"{what} is not JSON") from exc
    if not isinstance(value, dict) or _line(value) != line + b"\n":
        raise BundleInvalid(f"{what} is not in canonical form")
    return value


def _hex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise BundleInvalid(f"{what} is not hex")
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise BundleInvalid(f"{what} is not hex") from exc
    if raw.hex() != value:
        raise BundleInvalid(f"{what} is not lower-case hex")
    return raw


def _check_signature(
    raw: bytes, lines: list[bytes], trusted_key: Ed25519PublicKey | None
) -> Ed25519PublicKey:
    sig = _strict(lines[-1], "signature line")
    if sig.get("alg") != "Ed25519" or set(sig) != {"alg", "public_key", "signature"}:
        raise BundleInvalid("signature line has unexpected fields")
    try:
        public = Ed25519PublicKey.from_public_bytes(_hex(sig["public_key"], "public key"))
    except ValueError as exc:
        raise BundleInvalid("public key is malformed") from exc
    signed = raw[: len(raw) - len(lines[-1]) - 1]
    try:
        public.verify(_hex(sig["signature"], "signature"), signed)
    except InvalidSignature as exc:
        raise BundleInvalid("signature does not verify") from exc
    if trusted_key is not None and fingerprint(trusted_key) != fingerprint(public):
        raise BundleInvalid("bundle is signed by a key other than the trusted one")
    return public


def _check_entries(manifest: dict[str, Any], entry_lines: list[bytes]) -> list[dict[str, Any]]:
    body = b"".join(line + b"\n" for line in entry_lines)
    if hashlib.sha256(body).hexdigest() != manifest["entries_sha256"]:
        raise BundleInvalid("entry digest does not match the manifest")
    if len(entry_lines) != manifest["count"]:
        raise BundleInvalid("entry count does not match the manifest")
    rows = []
    entries = []
    for number, line in enumerate(entry_lines, start=2):
        entry = _strict(line, f"line {number}")
        entries.append(entry)
        row = dict(entry)
        row["at"] = _EPOCH + timedelta(microseconds=entry["at"])
        row["prev_hash"] = _hex(entry["prev_hash"], f"line {number} prev_hash")
        row["row_hash"] = _hex(entry["row_hash"], f"line {number} row_hash")
        rows.append(row)
    if rows:
        anchor = chainmod.Head(manifest["first_seq"] - 1, _hex(manifest["anchor_hash"], "anchor"))
        head = chainmod.Head(manifest["last_seq"], _hex(manifest["last_hash"], "last hash"))
        faults = chainmod.verify("audit", rows, anchor=anchor, head=head)
        if faults:
            raise BundleInvalid(f"hash chain broken at {faults[0]}")
    return entries


def read_bundle(
    path: Path, trusted_key: Ed25519PublicKey | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The verified manifest and entries of a bundle (``BundleInvalid`` when it is not)."""
    raw = path.read_bytes()
    if not raw.endswith(b"\n"):
        raise BundleInvalid("bundle does not end with a newline")
    lines = raw[:-1].split(b"\n")
    if len(lines) < 2:
        raise BundleInvalid("bundle is truncated")
    public = _check_signature(raw, lines, trusted_key)
    manifest = _strict(lines[0], "manifest")
    if manifest.get("format") != FORMAT:
        raise BundleInvalid("unknown bundle format")
    if manifest.get("key_fingerprint") != fingerprint(public):
        raise BundleInvalid("manifest names a different signing key")
    return manifest, _check_entries(manifest, lines[1:-1])


def verify_bundle(path: Path, trusted_key: Ed25519PublicKey | None = None) -> BundleReport:
    manifest, entries = read_bundle(path, trusted_key)
    return BundleReport(
        len(entries), manifest["first_seq"], manifest["last_seq"], manifest["key_fingerprint"],
        manifest["head_seq"], bytes.fromhex(manifest["head_hash"]),
    )
