"""Do-not-call: the organisation's own list and a copy of the national registry, by blind index.

* ``dnc_add``: durable when it returns (applied, or fsync'd to the outbox spool while
  Postgres is away, then replayed); audited.
* ``dnc_status``: on the organisation's list, on the national list, and when that was
  last imported. ``dnc_settled``: whether the list in Postgres holds every addition this
  process took (the outbox replayed first; no addition quarantined); the dialer's facts
  ask it first, so an opt-out taken during an outage stops the very next dial.
  ``import_national_dnc`` replaces the national copy in one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from carrier.records.audit import AuditLog, now_or
from carrier.records.chain import micros
from carrier.records.outbox import Op
from carrier.records.safe import safe_text
from carrier.records.timecodec import from_micros


@dataclass(frozen=True)
class DncStatus:
    org: bool
    national: bool
    national_imported_at: datetime | None

    @property
    def listed(self) -> bool:
        return self.org or self.national


async def _apply_dnc_add(conn: asyncpg.Connection, record: Mapping[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO dnc_org (phone_bidx, added_at, source, actor) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        bytes.fromhex(record["phone_bidx"]),
        from_micros(record["at"]),
        record["source"],
        record["actor"],
    )


OPS = (Op("dnc_add", _apply_dnc_add),)


class DoNotCall(AuditLog):
    async def dnc_add(
        self, phone: str, *, source: str, actor: str, reason: str, at: datetime | None = None
    ) -> None:
        bidx = self.keys.phone_index(phone)
        when = now_or(at)
        await self.outbox.put("dnc_add", {
            "phone_bidx": bidx.hex(), "at": micros(when),
            "source": safe_text(source), "actor": safe_text(actor),
        })
        await self.audit(
            actor, "dnc.add", ("dnc_org", bidx.hex()[:16]), reason, {"source": source}, at=when
        )

    async def dnc_settled(self) -> bool:
        outbox = self.outbox
        if outbox.set_aside:  # lines of a corrupt spool: any of them may be an addition
            return False
        if outbox.dead.count and any(r.get("record", {}).get("op") == "dnc_add"
                                     for r in await asyncio.to_thread(outbox.dead.read)):
            return False  # a refused addition: not known until an operator looks
        if not outbox.spooled or await outbox.drain():
            return True
        return await outbox.waiting("dnc_add") == 0

    async def dnc_status(self, phone: str) -> DncStatus:
        row = await self.pool.fetchrow(
            "SELECT EXISTS (SELECT 1 FROM dnc_org WHERE phone_bidx = $1) AS org,"
            " EXISTS (SELECT 1 FROM dnc_national WHERE phone_bidx = $1) AS national,"
            " (SELECT max(imported_at) FROM dnc_national_imports) AS imported_at",
            self.keys.phone_index(phone),
        )
        return DncStatus(row["org"], row["national"], row["imported_at"])

    async def import_national_dnc(
        self, numbers: Iterable[str], *, source: str, actor: str, at: datetime | None = None
    ) -> int:
        """Replace the national registry copy with ``numbers`` (one transaction, COPY)."""
        when = now_or(at)
        bidx = {self.keys.phone_index(n) for n in numbers}
        async with self.pool.acquire() as conn, conn.transaction():
            import_id = await conn.fetchval(
                "INSERT INTO dnc_national_imports (imported_at, source, row_count)"
                " VALUES ($1, $2, $3) RETURNING id",
                when,
                safe_text(source),
                len(bidx),
            )
            await conn.execute("DELETE FROM dnc_national")
            await conn.copy_records_to_table(
                "dnc_national",
                records=[(b, import_id) for b in bidx],
                columns=["phone_bidx", "import_id"],
            )
        await self.audit(
            actor,
            "dnc.national_import",
            ("dnc_national_imports", import_id),
            "registry refresh",
            {"source": source, "rows": len(bidx)},
            at=when,
        )
        return len(bidx)
