"""The two ledger tables as the chain writer sees them: columns, SQL, spool form (pure).

``ChainTable`` names a chain's table and columns and builds its two insert statements;
``to_spool``/``from_spool`` turn a row into the JSON the spool keeps and back; ``storable``
says whether a row's text can be stored and hashed at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from carrier.records import chain as chainmod
from carrier.records.safe import is_safe


@dataclass(frozen=True)
class ChainTable:
    chain: str
    table: str
    columns: tuple[tuple[str, str], ...]  # (name, SQL type) in insert order
    uuid_fields: tuple[str, ...]

    @property
    def append_sql(self) -> str:
        """One autocommit statement: move the head from the expected value and insert, or
        (another writer moved it first) do nothing and return 0."""
        n = len(self.columns)
        head = f"chain = ${n + 1} AND seq = ${n + 2} AND row_hash = ${n + 3}"
        # names are the module constants below, never input
        return (
            "WITH moved AS (UPDATE chain_heads"  # noqa: S608
            f" SET seq = ${n + 4}, row_hash = ${n + 5} WHERE {head} RETURNING 1),"
            f" ins AS ({self.insert_sql} WHERE EXISTS (SELECT 1 FROM moved) RETURNING 1)"
            " SELECT count(*) FROM ins"
        )

    @property
    def insert_sql(self) -> str:
        names = ", ".join(n for n, _ in self.columns)
        arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(self.columns, start=1))
        # table and column names are the module constants below, never input
        return f"INSERT INTO {self.table} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608


_HASHES = (("prev_hash", "bytea"), ("row_hash", "bytea"))
AUDIT = ChainTable(
    "audit",
    "audit_log",
    (
        ("seq", "bigint"),
        ("entry_id", "uuid"),
        ("at", "timestamptz"),
        ("actor", "text"),
        ("action", "text"),
        ("record_type", "text"),
        ("record_id", "text"),
        ("reason", "text"),
        ("details", "text"),
        *_HASHES,
    ),
    ("entry_id",),
)
CONSENT = ChainTable(
    "consent",
    "consent_ledger",
    (
        ("seq", "bigint"),
        ("entry_id", "uuid"),
        ("at", "timestamptz"),
        ("patient_id", "uuid"),
        ("channel", "text"),
        ("kind", "text"),
        ("event", "text"),
        ("source", "text"),
        ("evidence_ref", "text"),
        ("actor", "text"),
        *_HASHES,
    ),
    ("entry_id", "patient_id"),
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_spool(spec: ChainTable, row: dict[str, Any]) -> dict[str, Any]:
    out = {n: row[n] for n in chainmod.FIELDS[spec.chain] if n != "seq"}
    out["at"] = chainmod.micros(row["at"])
    for name in spec.uuid_fields:
        out[name] = str(row[name])
    return out


def from_spool(spec: ChainTable, record: dict[str, Any]) -> dict[str, Any]:
    row = dict(record)
    row["at"] = _EPOCH + timedelta(microseconds=record["at"])
    for name in spec.uuid_fields:
        row[name] = UUID(record[name])
    return row


def storable(spec: ChainTable, row: dict[str, Any]) -> bool:
    """Whether every text value can be stored and hashed (no NUL, no lone surrogate)."""
    return all(is_safe(v) for v in row.values() if isinstance(v, str))
