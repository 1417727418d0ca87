"""An audit entry appended inside the caller's transaction: the change it records and the
entry commit together, or neither does (a retention purge, a data key retired).

The chain's head row is locked (``FOR UPDATE``) until the transaction ends; the records'
audit writer finds the head moved and re-reads it. Details are identifiers and counts,
checked as every audit entry's are (:func:`carrier.records.audit.check_details`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import uuid4

import asyncpg

from carrier.records import chain as chainmod
from carrier.records.audit import check_details
from carrier.records.ledgers import AUDIT
from carrier.records.safe import safe_text


async def append_audit(conn: asyncpg.Connection, *, actor: str, action: str,
                       record: tuple[str, object], reason: str,
                       details: Mapping[str, Any], at: datetime) -> None:
    """Append one entry to the audit chain on ``conn`` (in a transaction the caller holds)."""
    if not conn.is_in_transaction():
        raise RuntimeError("append_audit needs the caller's transaction")
    check_details(details)
    row: dict[str, Any] = {
        "entry_id": uuid4(), "at": at, "actor": safe_text(actor), "action": action,
        "record_type": record[0], "record_id": safe_text(str(record[1])),
        "reason": safe_text(reason), "details": chainmod.canonical_json(dict(details)),
    }
    head = await conn.fetchrow(
        "SELECT seq, row_hash FROM chain_heads WHERE chain = 'audit' FOR UPDATE")
    new = chainmod.extend("audit", chainmod.Head(head["seq"], bytes(head["row_hash"])), [row])
    await conn.execute(AUDIT.insert_sql, *[[row[name]] for name, _ in AUDIT.columns])
    await conn.execute("UPDATE chain_heads SET seq = $1, row_hash = $2 WHERE chain = 'audit'",
                       new.seq, new.row_hash)
