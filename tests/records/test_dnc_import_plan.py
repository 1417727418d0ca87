"""The national-registry import's statements, by their plans (never by a stopwatch).

Before: a 2.8M-number import ran one DELETE for over 11 minutes. It removed the file's
area codes ``OR phone_bidx IN (SELECT ... FROM dnc_incoming)``: an IN under an OR cannot
become a join, and once the incoming numbers no longer fit ``work_mem`` as a hash table,
PostgreSQL re-scans them for every row of the copy (a plain SubPlan over a Materialize:
rows x rows). The temp table was also never analysed. Now the temp table is analysed and
the DELETE is two: the area codes by their index, the numbers by a join.

The plans are read with ``auto_explain`` (every statement the import runs, as the server
plans it) on a real PostgreSQL, ``work_mem`` at 64 kB so that 20,000 numbers stand where
2.8 million stand at the default 4 MB.
"""

from __future__ import annotations

import asyncpg
import pytest

from carrier.records.dnc import replace_national_copy

pytestmark = pytest.mark.postgres

INCOMING = 20_000
AREAS = ["212", "646"]


def _bidx(i: int) -> bytes:
    return i.to_bytes(32, "big")  # a blind index is 32 bytes; these are only distinct


async def test_the_import_never_rescans_the_incoming_numbers_per_row(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    plans: list[str] = []
    conn.add_log_listener(lambda _c, message: plans.append(message.message))
    try:
        await conn.execute("LOAD 'auto_explain'")
        await conn.execute("SET auto_explain.log_min_duration = 0;"
                           " SET auto_explain.log_level = notice;"
                           " SET auto_explain.log_nested_statements = on;"
                           " SET work_mem = '64kB'")
        old = await conn.fetchval("INSERT INTO dnc_national_imports (imported_at, source,"
                                  " row_count) VALUES (now(), 'old', 0) RETURNING id")
        # The copy held before: these area codes, other area codes, and numbers imported
        # before copies were kept per area (no area code), some of them in the new file.
        await conn.execute(
            "INSERT INTO dnc_national (phone_bidx, import_id, area_code)"
            " SELECT int8send(i) || int8send(0) || int8send(0) || int8send(0), $1,"
            " (ARRAY['212', '646', '718', NULL])[1 + i % 4]"
            " FROM generate_series(1, $2::bigint) AS i", old, 2 * INCOMING)
        await conn.execute("ANALYZE dnc_national")
        rows = {(i.to_bytes(8, "big") + bytes(24)): AREAS[i % 2]
                for i in range(INCOMING // 2, INCOMING // 2 + INCOMING)}
        async with conn.transaction():
            # as import_national_dnc does: the copy changes only in the transaction that
            # records its import (migration 0841 refuses any other DELETE)
            new = await conn.fetchval("INSERT INTO dnc_national_imports (imported_at, source,"
                                      " row_count) VALUES (now(), 'new', 0) RETURNING id")
            plans.clear()
            await replace_national_copy(conn, rows, AREAS, new)
            kept = await conn.fetch("SELECT area_code, count(*) AS n FROM dnc_national"
                                    " GROUP BY area_code ORDER BY area_code")
    finally:
        await conn.close()
    deletes = [p for p in plans if "DELETE FROM dnc_national" in p]
    assert deletes, plans
    # Analysed: the planner counts the file's numbers as they are (a temp table is never
    # analysed on its own; unanalysed, its size is a guess from its pages).
    assert any("on dnc_incoming incoming  (cost=" in p and f"rows={INCOMING} " in p
               for p in deletes), deletes
    for plan in deletes:
        # A node run again for every row of the copy: a plain SubPlan, a Materialize, or
        # the inner side of a nested loop that is a scan of a whole table.
        rescans = [line for line in plan.splitlines()
                   if ("SubPlan" in line and "hashed SubPlan" not in line)
                   or "Materialize" in line]
        assert rescans == [], plan
        lines = plan.splitlines()
        for at, line in enumerate(lines):
            if "Nested Loop" in line:
                assert not any("Seq Scan" in inner for inner in lines[at + 1:]), plan
    # What the import leaves (as before the change): the file's numbers, under 212 and
    # 646; of the copy held before, the numbers of other area codes and those without one,
    # unless the file lists them (these synthetic indexes carry no real area code).
    listed = range(INCOMING // 2, INCOMING // 2 + INCOMING)
    counts = {r["area_code"]: r["n"] for r in kept}
    assert counts["212"] == INCOMING // 2
    assert counts["646"] == INCOMING // 2
    for area, rest in (("718", 2), (None, 3)):
        assert counts[area] == sum(1 for i in range(1, 2 * INCOMING + 1)
                                   if i % 4 == rest and i not in listed), area
