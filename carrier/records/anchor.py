"""Chain heads anchored outside the database: signed checkpoints, and signed exports.

A database superuser can bypass the append-only triggers: delete the tail of a chain and
write the new last row into ``chain_heads``, or rewrite a row and recompute every later hash
and the head. The chain then verifies against itself. What they cannot rewrite is what lives
outside the database and is signed with a key the database never sees:

* the checkpoints file (default ``<data-dir>/audit/checkpoints.jsonl``): one line per signed
  head, ``{"chain", "seq", "row_hash", "at", "source", "key", "sig"}``, Ed25519 over the
  line's canonical JSON without ``sig``, fsync'd. ``carrier serve`` appends one whenever a
  head moved (every ``records.checkpoint_interval_s``), and every export appends the head
  it exported at;
* signed export bundles (``export.py``): every entry and the head at export time.

``check_checkpoints`` walks the live chains and requires, for every checkpoint, that the
live chain still reaches its ``seq`` and holds the same ``row_hash`` there (rows purged by
retention are below the chain's anchor and are skipped). ``check_bundle`` requires every
entry of a bundle to be present unchanged and the live chain to extend the bundle's head.
Each returns a list of problems, worded for an operator; empty means consistent. A deleted
tail newer than the last checkpoint cannot be seen: checkpoints bound that window.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from carrier.records import chain as chainmod
from carrier.records.export import (
    BundleInvalid,
    entry_of,
    fingerprint,
    load_or_create_signing_key,
    read_bundle,
)

if TYPE_CHECKING:
    from carrier.settings import Settings

TABLES = {"audit": "audit_log", "consent": "consent_ledger"}


class AnchorInvalid(Exception):
    """The checkpoints file itself does not verify (a line altered, or another key)."""


@dataclass(frozen=True)
class Checkpoint:
    chain: str
    seq: int
    row_hash: bytes
    at: str  # ISO time the head was signed
    source: str  # "periodic" | "export" | "operator"


def _canonical(value: dict[str, Any]) -> bytes:
    return chainmod.canonical_json(value).encode()


def signing_key_path(data_dir: Path) -> Path:
    return data_dir / "keys" / "audit_signing.pem"


def checkpoints_path(data_dir: Path) -> Path:
    return data_dir / "audit" / "checkpoints.jsonl"


def load_public_key(path: Path) -> Ed25519PublicKey:
    loaded = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(loaded, Ed25519PublicKey):
        raise TypeError(f"{path} is not an Ed25519 public key")
    return loaded


class Anchor:
    """Appends signed chain heads to a file outside the database, and reads them back."""

    def __init__(self, path: Path, key: Ed25519PrivateKey) -> None:
        self.path = path
        self.key = key
        self._last: dict[str, int] = {}

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Anchor:
        """The default place: the export signing key in ``keys/``, checkpoints in ``audit/``."""
        return cls(checkpoints_path(data_dir), load_or_create_signing_key(
            signing_key_path(data_dir)))

    @classmethod
    def from_settings(cls, settings: Settings) -> Anchor:
        """From the ``keys`` settings (``audit_signing_key``, ``checkpoints_file``)."""
        keys = settings.keys
        return cls(
            settings.path(keys.checkpoints_file, "audit/checkpoints.jsonl"),
            load_or_create_signing_key(
                settings.path(keys.audit_signing_key, "keys/audit_signing.pem")),
        )

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.key.public_key()

    def record(self, chain: str, seq: int, row_hash: bytes, *, source: str,
               at: datetime | None = None) -> None:
        """Sign and append one head (fsync'd before returning)."""
        body: dict[str, Any] = {
            "chain": chain, "seq": seq, "row_hash": row_hash.hex(),
            "at": (at or datetime.now(UTC)).isoformat(), "source": source,
            "key": fingerprint(self.public_key),
        }
        body["sig"] = self.key.sign(_canonical(body)).hex()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, _canonical(body) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        self._last[chain] = seq

    async def checkpoint(self, conn: asyncpg.Connection, *, source: str) -> int:
        """Sign every chain head that moved since this anchor last signed it."""
        written = 0
        for row in await conn.fetch("SELECT chain, seq, row_hash FROM chain_heads"):
            if row["seq"] and self._last.get(row["chain"]) != row["seq"]:
                self.record(row["chain"], row["seq"], bytes(row["row_hash"]), source=source)
                written += 1
        return written


def read_checkpoints(path: Path, trusted: Ed25519PublicKey) -> list[Checkpoint]:
    """Every checkpoint in ``path``, each signature checked against ``trusted``."""
    if not path.exists():
        return []
    out = []
    want = fingerprint(trusted)
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            body = json.loads(line)
            sig = bytes.fromhex(body.pop("sig"))
            if body.get("key") != want:
                raise AnchorInvalid(f"{path.name} line {number}: signed by another key")
            trusted.verify(sig, _canonical(body))
            out.append(Checkpoint(body["chain"], int(body["seq"]),
                                  bytes.fromhex(body["row_hash"]), body["at"], body["source"]))
        except InvalidSignature as exc:
            raise AnchorInvalid(f"{path.name} line {number}: signature does not verify"
                                ) from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AnchorInvalid(f"{path.name} line {number}: malformed") from exc
    return out


async def _live_hashes(conn: asyncpg.Connection, chain: str, seqs: Iterable[int]
                       ) -> dict[int, bytes]:
    rows = await conn.fetch(
        f"SELECT seq, row_hash FROM {TABLES[chain]} WHERE seq = ANY($1::bigint[])",  # noqa: S608
        sorted(set(seqs)))
    return {r["seq"]: bytes(r["row_hash"]) for r in rows}


async def check_checkpoints(conn: asyncpg.Connection, checkpoints: list[Checkpoint]
                            ) -> list[str]:
    """Problems between the live chains and signed checkpoints (empty: consistent)."""
    problems: list[str] = []
    heads = {r["chain"]: r for r in await conn.fetch("SELECT * FROM chain_heads")}
    for chain in TABLES:
        mine = [c for c in checkpoints if c.chain == chain]
        head = heads[chain]
        live = await _live_hashes(conn, chain, (c.seq for c in mine))
        for cp in mine:
            where = f"{chain} chain, signed checkpoint of {cp.at} ({cp.source}) at seq {cp.seq}"
            if cp.seq < head["anchor_seq"]:
                continue  # purged by retention; the chain re-anchors above it
            if cp.seq == head["anchor_seq"]:
                if bytes(head["anchor_hash"]) != cp.row_hash:
                    problems.append(f"{where}: the chain's anchor hash differs")
            elif cp.seq > head["seq"]:
                problems.append(f"{where}: the live chain ends at seq {head['seq']};"
                                f" {cp.seq - head['seq']} signed entries are missing from its end")
            elif cp.seq not in live:
                problems.append(f"{where}: that entry is missing from the live chain")
            elif live[cp.seq] != cp.row_hash:
                problems.append(f"{where}: the live entry's hash differs; the chain was"
                                f" rewritten at or before seq {cp.seq}")
    return problems


async def check_bundle(conn: asyncpg.Connection, path: Path,
                       trusted: Ed25519PublicKey | None) -> tuple[list[str], int]:
    """Compare the live audit chain with an earlier signed export: ``(problems, checked)``.
    Raises ``BundleInvalid`` when the bundle itself does not verify."""
    manifest, entries = read_bundle(path, trusted)
    problems: list[str] = []
    head = await conn.fetchrow("SELECT * FROM chain_heads WHERE chain = 'audit'")
    anchor = head["anchor_seq"]
    rows = {r["seq"]: r for r in await conn.fetch(
        "SELECT * FROM audit_log WHERE seq BETWEEN $1 AND $2",
        manifest["first_seq"], manifest["last_seq"])}
    checked = 0
    for entry in entries:
        seq = entry["seq"]
        if seq <= anchor:
            continue  # purged by retention
        row = rows.get(seq)
        if row is None:
            problems.append(f"audit seq {seq} from the bundle is missing from the live chain")
        elif entry_of(row) != entry:
            problems.append(f"audit seq {seq} differs from the bundle")
        else:
            checked += 1
    head_seq, head_hash = manifest["head_seq"], bytes.fromhex(manifest["head_hash"])
    if head_seq > head["seq"]:
        problems.append(f"the live audit chain ends at seq {head['seq']}, before the head"
                        f" seq {head_seq} the bundle was exported at: entries were removed")
    elif head_seq > anchor:
        live = await _live_hashes(conn, "audit", [head_seq])
        if live.get(head_seq) != head_hash:
            problems.append(f"the live audit chain does not extend the bundle's head"
                            f" (seq {head_seq} differs)")
    return problems, checked


__all__ = [
    "Anchor", "AnchorInvalid", "BundleInvalid", "Checkpoint", "check_bundle",
    "check_checkpoints", "checkpoints_path", "load_public_key", "read_checkpoints",
    "signing_key_path",
]
