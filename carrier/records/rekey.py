"""Move every encrypted value to the newest data key, count what is left, retire a key.

The columns are those of :func:`carrier.records.sealed.sealed_columns`. A value's data-key
version is read from its ciphertext header (``0x01 | version u32 BE | ...``), in SQL, so
counting decrypts nothing. :func:`reencrypt_column` walks a column in ``ctid`` order in
batches, each batch its own transaction (an interrupted run keeps what it did; the next one
carries on), skipping rows another transaction holds (they are counted as left, for the
next run). A value that does not decrypt is left as it is and counted, never shown.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg

from carrier.records import keys as keysmod
from carrier.records.crypto import DecryptError, KeyRing
from carrier.records.sealed import SealedColumn

_VERSION = "('x' || encode(substring({c} from 2 for 4), 'hex'))::bit(32)::int"
_OLD = "{c} IS NOT NULL AND (get_byte({c}, 0) <> 1 OR substring({c} from 2 for 4) <> int4send($1))"


@dataclass
class ColumnCount:
    table: str
    column: str
    versions: dict[int, int] = field(default_factory=dict)
    """Values per data-key version (0: not a ciphertext this code wrote)."""
    missing: bool = False
    """The table is not in this database (an application not installed here)."""

    @property
    def values(self) -> int:
        return sum(self.versions.values())

    def old(self, active: int) -> int:
        return sum(n for v, n in self.versions.items() if v != active)


@dataclass
class Moved:
    moved: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)
    left: list[tuple[str, str]] = field(default_factory=list)
    """``(table.column, row id)`` of each value that did not decrypt (ids only)."""

    @property
    def rows(self) -> int:
        return sum(self.moved.values())


async def _exists(conn: asyncpg.Connection, table: str) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"public.{table}"))


async def count_column(conn: asyncpg.Connection, col: SealedColumn) -> ColumnCount:
    found = ColumnCount(col.table, col.column)
    if not await _exists(conn, col.table):
        found.missing = True
        return found
    c = col.column
    rows = await conn.fetch(
        f"SELECT CASE WHEN get_byte({c}, 0) = 1 AND octet_length({c}) >= 5"  # noqa: S608 - names are constants
        f" THEN {_VERSION.format(c=c)} ELSE 0 END AS v, count(*) AS n"
        f" FROM {col.table} WHERE {c} IS NOT NULL AND octet_length({c}) > 0 GROUP BY 1")
    found.versions = {int(r["v"]): int(r["n"]) for r in rows}
    return found


async def reencrypt_column(conn: asyncpg.Connection, keys: KeyRing, col: SealedColumn,
                           moved: Moved, *, batch: int = 500,
                           stop: asyncio.Event | None = None) -> None:
    """Rewrite ``col``'s values under older versions with the active one (``stop``, once
    set: no further batch; the one committed last is counted in ``moved``)."""
    if not await _exists(conn, col.table):
        return
    active = keys.active_version
    c = col.column
    select = (
        f"SELECT ctid, {c} AS ct, ({col.row_id})::text AS rid,"  # noqa: S608 - constants
        f" ({col.aad_column_sql})::text AS acol FROM {col.table}"
        f" WHERE ctid > $2 AND {_OLD.format(c=c)} ORDER BY ctid LIMIT $3"
        " FOR UPDATE SKIP LOCKED")
    update = f"UPDATE {col.table} SET {c} = $2 WHERE ctid = $1"  # noqa: S608 - constants
    last: tuple[int, int] = (0, 0)
    while stop is None or not stop.is_set():
        async with conn.transaction():
            rows = await conn.fetch(select, active, last, batch)
            if not rows:
                return
            last = rows[-1]["ctid"]
            writes = []
            for row in rows:
                try:
                    plain = keys.decrypt(bytes(row["ct"]), col.aad_table, row["acol"],
                                         row["rid"])
                except DecryptError:
                    moved.unreadable[col.name] = moved.unreadable.get(col.name, 0) + 1
                    moved.left.append((col.name, row["rid"]))
                    continue
                writes.append((row["ctid"], keys.encrypt(plain, col.aad_table, row["acol"],
                                                         row["rid"])))
            if writes:
                await conn.executemany(update, writes)
                moved.moved[col.name] = moved.moved.get(col.name, 0) + len(writes)


async def reencrypt_all(conn: asyncpg.Connection, keys: KeyRing,
                        columns: tuple[SealedColumn, ...], *, batch: int = 500,
                        stop: asyncio.Event | None = None) -> Moved:
    moved = Moved()
    for col in columns:
        await reencrypt_column(conn, keys, col, moved, batch=batch, stop=stop)
    if any(col.table == "patients" for col in columns):  # every field moved: say so
        await keysmod.mark_patients_current(conn, keys.active_version, _OLD)
    return moved


async def data_key_versions(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT version, kek_id, created_at FROM data_keys WHERE purpose = 'field'"
        " ORDER BY version"))
