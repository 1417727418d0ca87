"""Hash chains over the consent ledger and the audit log (pure: no I/O, no clock).

Each row stores ``prev_hash`` (its predecessor's ``row_hash``) and
``row_hash = SHA-256(prev_hash || canonical(row))``, where ``canonical`` is compact JSON with
sorted keys over every column except the hashes, times as integer microseconds since the
Unix epoch. Because the head (last ``seq`` and hash) is also kept in ``chain_heads``,
``verify`` detects a row edited, deleted (in the middle or at the end), inserted, or
reordered, even by a superuser who bypassed the append-only triggers: they would have to
recompute every later hash and the head, and exported bundles signed earlier pin old heads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = bytes(32)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

AUDIT_FIELDS = (
    "seq",
    "entry_id",
    "at",
    "actor",
    "action",
    "record_type",
    "record_id",
    "reason",
    "details",
)
CONSENT_FIELDS = (
    "seq",
    "entry_id",
    "at",
    "patient_id",
    "channel",
    "kind",
    "event",
    "source",
    "evidence_ref",
    "actor",
)
FIELDS = {"audit": AUDIT_FIELDS, "consent": CONSENT_FIELDS}


def micros(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("timestamps in a chain must be timezone-aware")
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_row(chain: str, row: Mapping[str, Any]) -> bytes:
    out: dict[str, Any] = {}
    for name in FIELDS[chain]:
        value = row[name]
        if isinstance(value, datetime):
            value = micros(value)
        elif not isinstance(value, (str, int)):
            value = str(value)  # UUIDs
        out[name] = value
    return canonical_json(out).encode()


def row_hash(chain: str, prev_hash: bytes, row: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(prev_hash + canonical_row(chain, row)).digest()


@dataclass(frozen=True)
class ChainFault:
    """One place where the chain does not hold. ``seq`` is the row where it was noticed."""

    seq: int
    problem: str  # "hash mismatch", "broken link", "gap", "out of order", "head mismatch"

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.problem}"


@dataclass(frozen=True)
class Head:
    seq: int
    row_hash: bytes


class Verifier:
    """Incremental check, one row at a time (streams a chain of any length)."""

    def __init__(self, chain: str, anchor: Head = Head(0, GENESIS)) -> None:
        self.chain = chain
        self.prev = anchor
        self.faults: list[ChainFault] = []

    def feed(self, row: Mapping[str, Any]) -> None:
        seq = int(row["seq"])
        if seq <= self.prev.seq:
            self.faults.append(ChainFault(seq, "out of order"))
        elif seq != self.prev.seq + 1:
            self.faults.append(ChainFault(seq, "gap"))
        if bytes(row["prev_hash"]) != self.prev.row_hash:
            self.faults.append(ChainFault(seq, "broken link"))
        if row_hash(self.chain, bytes(row["prev_hash"]), row) != bytes(row["row_hash"]):
            self.faults.append(ChainFault(seq, "hash mismatch"))
        self.prev = Head(seq, bytes(row["row_hash"]))

    def finish(self, head: Head | None) -> list[ChainFault]:
        if head is not None and self.prev != head:
            self.faults.append(ChainFault(self.prev.seq, "head mismatch"))
        return self.faults


def verify(
    chain: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    anchor: Head = Head(0, GENESIS),
    head: Head | None = None,
) -> list[ChainFault]:
    """Check rows (in storage order) against ``anchor`` (last purged row) and ``head``."""
    verifier = Verifier(chain, anchor)
    for row in rows:
        verifier.feed(row)
    return verifier.finish(head)


def extend(chain: str, head: Head, rows: list[dict[str, Any]]) -> Head:
    """Give ``rows`` consecutive ``seq`` after ``head`` and fill in their hashes, in place."""
    seq, prev = head.seq, head.row_hash
    for row in rows:
        seq += 1
        row["seq"] = seq
        row["prev_hash"] = prev
        prev = row["row_hash"] = row_hash(chain, prev, row)
    return Head(seq, prev)
