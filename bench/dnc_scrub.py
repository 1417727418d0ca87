"""Bulk do-not-call scrub: a campaign of 1,000,000 numbers against a 10,000,000-number list.

    python bench/dnc_scrub.py [--registry N] [--campaign N] [--hit-rate F] [--postgres]

In memory (numpy): numbers as int64; the registry sorted and deduplicated once, then the
campaign is checked with np.searchsorted, and with np.isin for comparison; a Python set
is timed as the naive baseline. With --postgres: the records representation (HMAC-SHA256
blind index, `dnc_national` from the records migrations) on an embedded PostgreSQL in a
temporary folder: HMAC + COPY of the registry, then HMAC + COPY of the campaign into a
temp table and one join.

Numbers are random 10-digit NANP numbers generated in memory (the fictional 555-01xx
range is far too small for ten million); they are never written out or printed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import numpy as np

from carrier.dialer.ftc import scrub, sorted_unique
from carrier.records.embedded import EmbeddedPostgres
from carrier.records.migrate import migrate


def hardware() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"hardware: {model}, {usable} usable core(s) of {os.cpu_count()}{mem}; "
        f"Python {platform.python_version()}, numpy {np.__version__}; "
        f"load average {os.getloadavg()[0]:.1f} (machine shared: figures vary with load)"
    )


@contextmanager
def timed(label: str, results: dict[str, float]) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    results[label] = time.perf_counter() - t0
    print(f"  {label:<46} {results[label]:8.3f} s", flush=True)


def make_numbers(
    n_registry: int, n_campaign: int, hit_rate: float, seed: int = 7
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)

    # NANP shape: area code and exchange 200-999, station 0000-9999.
    def draw(n: int) -> np.ndarray:
        npa = rng.integers(200, 1000, n, dtype=np.int64)
        nxx = rng.integers(200, 1000, n, dtype=np.int64)
        line = rng.integers(0, 10000, n, dtype=np.int64)
        return npa * 10_000_000 + nxx * 10_000 + line

    registry = draw(n_registry)
    campaign = draw(n_campaign)
    hits = int(n_campaign * hit_rate)
    campaign[:hits] = rng.choice(registry, hits, replace=False)
    rng.shuffle(campaign)
    return registry, campaign


def bench_memory(registry: np.ndarray, campaign: np.ndarray) -> dict[str, float]:
    r: dict[str, float] = {}
    print("in memory (numpy int64):")
    with timed("sort + dedupe registry once", r):
        reg_sorted = sorted_unique(registry)
    with timed("scrub campaign (sorted np.searchsorted)", r):
        mask = scrub(campaign, reg_sorted)
    with timed("scrub campaign (np.isin, unsorted registry)", r):
        mask2 = np.isin(campaign, registry)
    assert (mask == mask2).all()
    print(f"  hits: {int(mask.sum()):,} of {campaign.size:,}")
    with timed("python set: build from registry", r):
        as_set = set(registry.tolist())
    with timed("python set: scrub campaign", r):
        n = sum(1 for c in campaign.tolist() if c in as_set)
    assert n == int(mask.sum())
    return r


def hmac_indexer(key: bytes) -> Callable[[int], bytes]:
    base = hmac.new(key, digestmod=hashlib.sha256)

    def index(number: int) -> bytes:
        h = base.copy()
        h.update(f"+1{number:010d}".encode())
        return h.digest()

    return index


async def bench_postgres(
    registry: np.ndarray, campaign: np.ndarray, expect: int
) -> dict[str, float]:
    r: dict[str, float] = {}
    index = hmac_indexer(os.urandom(32))
    print("postgres (HMAC-SHA256 blind index, records schema):")
    with tempfile.TemporaryDirectory(prefix="dnc-bench-") as tmp:
        os.chmod(tmp, 0o755)  # the wheel runs the server as its own user when root
        server = EmbeddedPostgres(Path(tmp) / "pg")
        with timed("start embedded PostgreSQL", r):
            dsn = server.start()
        try:
            conn = await asyncpg.connect(dsn)
            try:
                await migrate(conn)
                print(f"  server: {await conn.fetchval('SHOW server_version')}")
                with timed("HMAC registry (Python)", r):
                    reg_idx = [index(x) for x in sorted_unique(registry).tolist()]
                with timed("COPY registry into dnc_national (+ PK)", r):
                    async with conn.transaction():
                        imp = await conn.fetchval(
                            "INSERT INTO dnc_national_imports (imported_at, source, row_count)"
                            " VALUES (now(), 'bench', $1) RETURNING id",
                            len(reg_idx),
                        )
                        await conn.copy_records_to_table(
                            "dnc_national",
                            records=((b, imp) for b in reg_idx),
                            columns=["phone_bidx", "import_id"],
                        )
                del reg_idx
                await conn.execute("VACUUM ANALYZE dnc_national")
                with timed("HMAC campaign (Python)", r):
                    camp_idx = [index(x) for x in campaign.tolist()]
                with timed("scrub: COPY campaign to temp table + join", r):
                    await conn.execute("CREATE TEMP TABLE campaign (i bigint, phone_bidx bytea)")
                    await conn.copy_records_to_table(
                        "campaign", records=enumerate(camp_idx), columns=["i", "phone_bidx"]
                    )
                    await conn.execute("ANALYZE campaign")
                    hits = await conn.fetchval(
                        "SELECT count(*) FROM campaign c JOIN dnc_national d USING (phone_bidx)"
                    )
                assert hits == expect, (hits, expect)
                print(f"  hits: {hits:,} of {len(camp_idx):,}")
                size = await conn.fetchval(
                    "SELECT pg_size_pretty(pg_total_relation_size('dnc_national'))"
                )
                print(f"  dnc_national size on disk: {size}")
            finally:
                await conn.close()
        finally:
            server.close()
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--registry", type=int, default=10_000_000)
    ap.add_argument("--campaign", type=int, default=1_000_000)
    ap.add_argument("--hit-rate", type=float, default=0.1)
    ap.add_argument("--postgres", action="store_true", help="also time the Postgres path")
    args = ap.parse_args()
    print(hardware())
    print(
        f"registry {args.registry:,} numbers, campaign {args.campaign:,} numbers, "
        f"{args.hit_rate:.0%} of the campaign drawn from the registry"
    )
    t0 = time.perf_counter()
    registry, campaign = make_numbers(args.registry, args.campaign, args.hit_rate)
    print(f"  generated in {time.perf_counter() - t0:.2f} s")
    mem = bench_memory(registry, campaign)
    expect = int(scrub(campaign, sorted_unique(registry)).sum())
    print(
        f"scrub {args.campaign:,} vs {args.registry:,} in memory: "
        f"{mem['scrub campaign (sorted np.searchsorted)'] * 1000:.0f} ms "
        f"(+ {mem['sort + dedupe registry once']:.2f} s one-time sort)"
    )
    if args.postgres:
        pg = asyncio.run(bench_postgres(registry, campaign, expect))
        total = pg["HMAC campaign (Python)"] + pg["scrub: COPY campaign to temp table + join"]
        load = pg["HMAC registry (Python)"] + pg["COPY registry into dnc_national (+ PK)"]
        print(
            f"scrub {args.campaign:,} vs {args.registry:,} in Postgres: {total:.2f} s "
            f"(HMAC + COPY + join; registry load {load:.1f} s one-time)"
        )


if __name__ == "__main__":
    main()
