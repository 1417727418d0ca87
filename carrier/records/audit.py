"""The audit log: the base every records module builds on (each of their actions is audited).

* ``audit(actor, action, record, reason, details, queued=False)``: ``record`` is
  ``(type, id)``; details hold identifiers and codes only (``PhiInDetails`` refuses anything
  that looks like PHI). Text from the wire (call ids, sources, reasons) is made safe first
  (``safe_text``). Durable when it returns: committed, or fsync'd to the spool while Postgres
  is away; with ``queued=True`` fsync'd to the spool and committed right after, so a routine
  entry never holds a caller behind a database commit.
* ``record_dial_decision``: every decision to dial or not, with the rule that decided it.
* ``verify_chain(conn, "audit" | "consent")``: list of ``ChainFault`` (empty when intact).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

import asyncpg

from carrier.records import chain as chainmod
from carrier.records import keys as keysmod
from carrier.records.appender import ChainWriter
from carrier.records.crypto import KeyEncryptionKey, KeyRing
from carrier.records.dbedge import UNAVAILABLE, RecordsUnavailable, connection
from carrier.records.outbox import Outbox
from carrier.records.phi_text import without_phi
from carrier.records.safe import safe_text

T = TypeVar("T")


class PhiInDetails(ValueError):
    """Audit details must carry identifiers and codes, never PHI (the value is not echoed)."""


_PHI_KEYS = re.compile(r"name|phone|dob|birth|member|address|email|ssn|transcript|audio", re.I)
_DIGIT_RUN = re.compile(r"\d[\d\s().+-]{8,}\d")
_UUIDISH = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def _exempt(value: str) -> bool:
    """UUIDs and date-times (not bare dates: a date of birth is PHI) are not numbers."""
    if _UUIDISH.match(value):
        return True
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value


def check_details(details: Mapping[str, Any]) -> None:
    for key, value in details.items():
        if _PHI_KEYS.search(key):
            raise PhiInDetails(f"audit detail key {key!r} names a PHI field")
        if isinstance(value, str) and not _exempt(value) and _DIGIT_RUN.search(value):
            raise PhiInDetails(f"audit detail {key!r} looks like a phone or member number")
        if not isinstance(value, (str, int, bool)) and value is not None:
            raise PhiInDetails(f"audit detail {key!r} must be a string, integer or boolean")


def now_or(at: datetime | None) -> datetime:
    return datetime.now(UTC) if at is None else at


class AuditLog:
    """Shared state of the records facade and the audit operations on it."""

    pool: asyncpg.Pool
    keys: KeyRing
    kek: KeyEncryptionKey
    audit_writer: ChainWriter
    consent_writer: ChainWriter
    outbox: Outbox
    read_timeout: float = 5.0
    kek_source: Callable[[], KeyEncryptionKey] | None = None
    """The configured KEK, read again (``carrier serve``): after a KEK rotation, data keys
    added under the new KEK are loaded without a restart."""

    async def reload_keys(self) -> None:
        """Load data-key versions added since (``carrier keys rotate``) into the key ring
        this process holds: in place, so every holder of ``records.keys`` (the agent's
        memory took it at start) reads values re-encrypted under them."""
        async with self.pool.acquire() as conn:
            try:
                fresh = await keysmod.load_keyring(conn, self.kek, self.keys)
            except keysmod.KekMismatch:
                if self.kek_source is None:
                    raise
                kek = self.kek_source()  # the rotation moved the keys to the configured KEK
                fresh = await keysmod.load_keyring(conn, kek, self.keys)
                self.kek = kek
        self.keys.field_keys.update(fresh.field_keys)

    async def _read(self, query: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``query(conn)`` on a pooled connection; an unreachable database (or a pooled
        connection the server already dropped) becomes ``RecordsUnavailable``."""
        try:
            async with connection(self.pool, self.read_timeout) as conn:
                return await query(conn)
        except UNAVAILABLE as exc:
            raise RecordsUnavailable(f"records database unreachable ({exc.__class__.__name__})"
                                     ) from exc

    async def actions_by_week(self, action: str, since: datetime, until: datetime
                              ) -> list[Any]:
        """``(week, n)`` rows: audit entries of ``action`` per UTC week (read-only)."""
        return list(await self.pool.fetch(
            "SELECT date_trunc('week', at AT TIME ZONE 'UTC')::date AS week, count(*) AS n"
            " FROM audit_log WHERE action = $3 AND at >= $1 AND at < $2 GROUP BY 1",
            since, until, action, timeout=self.read_timeout))

    async def audit(
        self,
        actor: str,
        action: str,
        record: tuple[str, object],
        reason: str,
        details: Mapping[str, Any] | None = None,
        *,
        at: datetime | None = None,
        queued: bool = False,
    ) -> UUID:
        details = {
            k: safe_text(v, limit=4096) if isinstance(v, str) else v
            for k, v in (details or {}).items()
        }
        check_details(details)
        entry_id = uuid4()
        await self.audit_writer.append(
            {
                "entry_id": entry_id,
                "at": now_or(at),
                "actor": safe_text(actor),
                "action": safe_text(action),
                "record_type": safe_text(record[0]),
                "record_id": safe_text(record[1], limit=4096),
                "reason": without_phi(safe_text(reason, limit=2048)),
                "details": chainmod.canonical_json(details),
            },
            queued=queued,
        )
        return entry_id

    async def record_dial_decision(
        self,
        outreach_id: object,
        patient_id: object,
        *,
        dial: bool,
        rule: str,
        actor: str = "dialer",
        at: datetime | None = None,
    ) -> UUID:
        """Every decision to dial or not, with the rule that decided it (durable)."""
        return await self.audit(
            actor,
            "dial.decision",
            ("outreach", outreach_id),
            rule,
            {"patient_id": str(patient_id), "dial": dial, "rule": rule},
            at=at,
        )

    async def verify_chain(self, chain: str) -> list[chainmod.ChainFault]:
        async with self.pool.acquire() as conn:
            return await verify_chain(conn, chain)


async def verify_chain(conn: asyncpg.Connection, chain: str) -> list[chainmod.ChainFault]:
    """Walk a whole chain from its anchor to its head, streaming rows with a cursor."""
    table = {"audit": "audit_log", "consent": "consent_ledger"}[chain]
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        head = await conn.fetchrow("SELECT * FROM chain_heads WHERE chain = $1", chain)
        verifier = chainmod.Verifier(
            chain, chainmod.Head(head["anchor_seq"], bytes(head["anchor_hash"]))
        )
        query = f"SELECT * FROM {table} ORDER BY seq"  # noqa: S608 - table from the fixed map
        async for row in conn.cursor(query, prefetch=5000):
            verifier.feed(row)
    return verifier.finish(chainmod.Head(head["seq"], bytes(head["row_hash"])))
