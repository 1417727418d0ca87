"""Do-not-call: the organisation's own list and a copy of the national registry, by blind index.

* ``dnc_add``: durable when it returns (applied, or fsync'd to the outbox spool while
  Postgres is away, then replayed); audited.
* ``dnc_status``: on the organisation's list, on the national list, and when that was
  last imported. ``dnc_settled``: whether the list in Postgres holds every addition this
  process took (the outbox replayed first; no addition quarantined); the dialer's facts
  ask it first, so an opt-out taken during an outage stops the very next dial.
  ``import_national_dnc`` replaces, in one transaction, the copy of each area code the
  file holds (the FTC hands the registry out per area code; an operator loads the files
  one at a time): other area codes' numbers stay. ``dnc_status`` dates the national copy
  by the number's own area code, so one fresh file never makes another area look fresh.
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
from carrier.records.crypto import lookup_form
from carrier.records.outbox import Op
from carrier.records.safe import safe_text
from carrier.records.timecodec import from_micros


def area_code(phone: str) -> str | None:
    """The NANP area code of ``phone`` (None: not a NANP number)."""
    e164 = lookup_form(phone)
    return e164[2:5] if e164.startswith("+1") and len(e164) == 12 else None


@dataclass(frozen=True)
class DncStatus:
    org: bool
    national: bool
    # when the copy of this number's area code was taken (None: never imported)
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
            " (SELECT imported_at FROM dnc_national_areas WHERE area_code = $2) AS imported_at",
            self.keys.phone_index(phone),
            area_code(phone),
        )
        return DncStatus(row["org"], row["national"], row["imported_at"])

    async def import_national_dnc(
        self, numbers: Iterable[str], *, source: str, actor: str, at: datetime | None = None
    ) -> int:
        """Replace the copy of every area code ``numbers`` hold (one transaction, COPY);
        the numbers of other area codes stay. Raises ``ValueError`` for a number that is
        not a NANP number (the registry holds no other), never naming it."""
        when = now_or(at)
        rows: dict[bytes, str] = {}
        for n in numbers:
            area = area_code(n)
            if area is None:
                raise ValueError("the national registry holds NANP numbers only")
            rows[self.keys.phone_index(n)] = area
        areas = sorted(set(rows.values()))
        async with self.pool.acquire() as conn, conn.transaction():
            import_id = await conn.fetchval(
                "INSERT INTO dnc_national_imports (imported_at, source, row_count)"
                " VALUES ($1, $2, $3) RETURNING id",
                when,
                safe_text(source),
                len(rows),
            )
            await replace_national_copy(conn, rows, areas, import_id)
            await conn.executemany(
                "INSERT INTO dnc_national_areas (area_code, import_id, imported_at)"
                " VALUES ($1, $2, $3) ON CONFLICT (area_code) DO UPDATE SET"
                " import_id = EXCLUDED.import_id, imported_at = EXCLUDED.imported_at",
                [(a, import_id, when) for a in areas])
        await self.audit(
            actor,
            "dnc.national_import",
            ("dnc_national_imports", import_id),
            "registry refresh",
            {"source": source, "rows": len(rows), "area_codes": ",".join(areas)},
            at=when,
        )
        return len(rows)


async def replace_national_copy(conn: asyncpg.Connection, rows: Mapping[bytes, str],
                                areas: list[str], import_id: int) -> None:
    """In the caller's transaction: ``rows`` (blind index -> area code) become the copy of
    ``areas``. This file's area codes are replaced; a number it lists that an older copy
    held without an area code (imported before copies were kept per area) is taken over
    by this import."""
    await conn.execute("CREATE TEMP TABLE dnc_incoming (phone_bidx bytea, area_code text)"
                       " ON COMMIT DROP")
    await conn.copy_records_to_table(
        "dnc_incoming", records=list(rows.items()), columns=["phone_bidx", "area_code"])
    # Analysed, the planner knows the file's size (a temp table never is on its own); two
    # DELETEs, since an IN under an OR cannot be a join: past work_mem it re-scanned the
    # file for every row of the copy (2.8M numbers: over 11 minutes).
    await conn.execute("ANALYZE dnc_incoming")
    await conn.execute("DELETE FROM dnc_national WHERE area_code = ANY($1::text[])", areas)
    await conn.execute("DELETE FROM dnc_national AS held USING dnc_incoming AS incoming"
                       " WHERE held.phone_bidx = incoming.phone_bidx")
    await conn.execute(
        "INSERT INTO dnc_national (phone_bidx, import_id, area_code)"
        " SELECT phone_bidx, $1, area_code FROM dnc_incoming", import_id)
