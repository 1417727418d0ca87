"""The national-registry import's replacement step, as a 2.8M-number FTC file meets it.

    python bench/dnc_import.py [--numbers N] [--sync]

On an embedded PostgreSQL in a temporary folder (the records migrations applied): a copy
of ``N`` numbers already held (the same area codes), then an import of ``N`` numbers that
replaces it through ``carrier.records.dnc.replace_national_copy`` (the statements
``carrier campaign dnc-import`` runs, in one transaction). Prints the seconds of the
replacement and the DELETE plans (auto_explain), so a plan that re-scans the file per row
(a plain SubPlan over a Materialize: the 11-minute import) shows at once. Numbers are
synthetic 32-byte indexes, never phone numbers. The default N is small (20,000); the
figure the report quotes is at 2,800,000 (about a minute of COPY on a quiet machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import hardware, load
from carrier.records.dnc import replace_national_copy
from carrier.records.embedded import EmbeddedPostgres
from carrier.records.migrate import migrate

AREAS = ["212", "646"]


async def bench(numbers: int, dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    plans: list[str] = []
    conn.add_log_listener(lambda _c, message: plans.append(message.message))
    try:
        await migrate(conn)
        old = await conn.fetchval("INSERT INTO dnc_national_imports (imported_at, source,"
                                  " row_count) VALUES (now(), 'held', $1) RETURNING id", numbers)
        await conn.execute(
            "INSERT INTO dnc_national (phone_bidx, import_id, area_code)"
            " SELECT sha256(int8send(i)), $1, (ARRAY['212', '646'])[1 + i % 2]"
            " FROM generate_series(1, $2::bigint) AS i", old, numbers)
        await conn.execute("ANALYZE dnc_national")
        rows = {os.urandom(32): AREAS[i % 2] for i in range(numbers)}
        new = await conn.fetchval("INSERT INTO dnc_national_imports (imported_at, source,"
                                  " row_count) VALUES (now(), 'new', $1) RETURNING id", numbers)
        await conn.execute("LOAD 'auto_explain'")
        await conn.execute("SET auto_explain.log_min_duration = 0;"
                           " SET auto_explain.log_level = notice;"
                           " SET auto_explain.log_nested_statements = on")
        start = time.perf_counter()
        async with conn.transaction():
            await replace_national_copy(conn, rows, AREAS, new)
        took = time.perf_counter() - start
    finally:
        await conn.close()
    print(f"replacement of {numbers:,} held numbers by {numbers:,} new: {took:.1f} s")
    for plan in plans:
        if "DELETE FROM dnc_national" in plan:
            print(plan)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--numbers", type=int, default=20_000)
    ap.add_argument("--sync", action="store_true", help="initdb with fsync (slower start)")
    args = ap.parse_args()
    print(hardware())
    print(load())
    with tempfile.TemporaryDirectory(prefix="dnc-import-bench-") as tmp:
        os.chmod(tmp, 0o755)  # the wheel runs the server as its own user when root
        server = EmbeddedPostgres(Path(tmp) / "pg", sync_init=args.sync)
        dsn = server.start()
        try:
            asyncio.run(bench(args.numbers, dsn))
        finally:
            server.close()


if __name__ == "__main__":
    main()
