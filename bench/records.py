"""Records store benchmark: audit appends per second, consent checks by phone number.

    python bench/records.py [--patients 100000] [--audit 50000] [--checks 20000]
                            [--database-url URL]

Without a URL it runs a throwaway embedded PostgreSQL in a temp folder (fsync on, defaults
otherwise). Patients are synthetic and bulk-loaded with COPY (encrypted per cell, blind
index on the phone); half of them get a TCPA written consent through the consent chain.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from carrier.records.crypto import LocalKek
from carrier.records.embedded import EmbeddedPostgres
from carrier.records.migrate import migrate
from carrier.records.store import Channel, ConsentKind, Records, verify_chain


def hardware() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical cores, Python {platform.python_version()}"


def phones(n: int) -> list[str]:
    out = []
    for npa in range(200, 1000):
        for line in range(100, 100 + (n + 799) // 800):
            out.append(f"+1{npa}555{line:04d}")
    return out[:n]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


async def load_patients(records: Records, numbers: list[str]) -> list[uuid.UUID]:
    t0 = time.perf_counter()
    ids = [uuid.uuid4() for _ in numbers]
    now = datetime.now(UTC)
    rows = [
        (*records.encrypt_patient(pid, f"Testa Patientson {i}", num, None, f"SYN-{i:06d}"), now)
        for i, (pid, num) in enumerate(zip(ids, numbers, strict=True))
    ]
    async with records.pool.acquire() as conn:
        await conn.copy_records_to_table(
            "patients",
            records=rows,
            columns=[
                "id",
                "phone_bidx",
                "phone_ct",
                "name_ct",
                "dob_ct",
                "member_id_ct",
                "key_version",
                "created_at",
            ],
        )
        await conn.execute("ANALYZE patients")
    print(f"loaded {len(rows):,} patients with COPY in {time.perf_counter() - t0:.1f} s")
    return ids


async def grant_half(records: Records, ids: list[uuid.UUID]) -> None:
    t0 = time.perf_counter()
    now = datetime.now(UTC)
    await asyncio.gather(
        *(
            records.consent_writer.append(
                {
                    "entry_id": uuid.uuid4(),
                    "at": now,
                    "patient_id": pid,
                    "channel": "voice",
                    "kind": ConsentKind.TCPA_EXPRESS_WRITTEN.value,
                    "event": "grant",
                    "source": "bench",
                    "evidence_ref": "bench",
                    "actor": "bench",
                }
            )
            for pid in ids[::2]
        )
    )
    async with records.pool.acquire() as conn:
        await conn.execute("ANALYZE consent_ledger")
    dt = time.perf_counter() - t0
    print(
        f"appended {len(ids[::2]):,} consent grants (hash-chained) in {dt:.1f} s"
        f" = {len(ids[::2]) / dt:,.0f}/s"
    )


async def bench_audit(records: Records, total: int, levels: list[int]) -> None:
    for concurrency in levels:

        async def worker(start: int, concurrency: int = concurrency) -> None:
            for i in range(start, total, concurrency):
                await records.audit(
                    "bench", "patient.read", ("patient", i), "bench", {"call_id": f"c{i}"}
                )

        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"audit appends: {total:,} by {concurrency} concurrent callers in {dt:.2f} s"
            f" = {total / dt:,.0f} appends/s (durable when each call returns;"
            f" client CPU {cpu / dt:.0%})"
        )
    t0 = time.perf_counter()
    n = 300
    for i in range(n):
        await records.audit("bench", "patient.read", ("patient", i), "bench")
    dt = time.perf_counter() - t0
    print(
        f"audit appends, one caller awaiting each commit: {n / dt:,.0f} appends/s"
        f" ({dt / n * 1000:.2f} ms each: one commit + WAL fsync per append)"
    )


async def bench_consent(records: Records, numbers: list[str], checks: int) -> None:
    rng = random.Random(7)
    sample = [rng.choice(numbers) for _ in range(checks)]
    for num in sample[:500]:  # warm the prepared statements and caches
        await records.has_consent(num, Channel.VOICE)
    lat: list[float] = []
    granted = 0
    t0 = time.perf_counter()
    for num in sample:
        s = time.perf_counter()
        granted += await records.has_consent(num, Channel.VOICE)
        lat.append(time.perf_counter() - s)
    dt = time.perf_counter() - t0
    print(
        f"consent checks by phone (sequential): {checks / dt:,.0f}/s,"
        f" p50 {statistics.median(lat) * 1e6:.0f} us, p99 {pct(lat, 99) * 1e6:.0f} us,"
        f" max {max(lat) * 1e6:.0f} us ({granted / checks:.0%} granted)"
    )

    async def worker(part: list[str]) -> None:
        for num in part:
            await records.has_consent(num, Channel.VOICE)

    lat = []
    for _ in range(checks // 4):
        s = time.perf_counter()
        await records.pool.fetchval("SELECT 1")
        lat.append(time.perf_counter() - s)
    print(
        f"round-trip floor (SELECT 1 through the same pool): p50 {statistics.median(lat) * 1e6:.0f}"
        f" us, p99 {pct(lat, 99) * 1e6:.0f} us"
    )

    parts = 8
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(sample[k::parts]) for k in range(parts)))
    dt = time.perf_counter() - t0
    print(f"consent checks by phone ({parts} concurrent callers): {checks / dt:,.0f}/s")


async def main(args: argparse.Namespace) -> None:
    print(f"hardware: {hardware()}")
    if hasattr(os, "getloadavg"):
        print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    base = None
    server = None
    url = args.database_url
    if not url:
        base = Path(tempfile.mkdtemp(prefix="carrier-bench-"))
        server = EmbeddedPostgres(base / "data")
        url = await asyncio.to_thread(server.start)
        print("database: embedded PostgreSQL (fsync on), Unix socket")
    try:
        conn = await asyncpg.connect(url)
        print(f"server: {(await conn.fetchval('SHOW server_version'))}")
        await migrate(conn)
        await conn.close()
        spool = Path(tempfile.mkdtemp(prefix="carrier-bench-spool-"))
        records = await Records.open(url, LocalKek(os.urandom(32)), spool, max_size=10)
        try:
            numbers = phones(args.patients)
            ids = await load_patients(records, numbers)
            await grant_half(records, ids)
            await bench_audit(records, args.audit, [int(c) for c in args.concurrency.split(",")])
            await bench_consent(records, numbers, args.checks)
            if hasattr(os, "getloadavg"):
                print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
            async with records.pool.acquire() as c:
                t0 = time.perf_counter()
                faults = await verify_chain(c, "audit")
                n = await c.fetchval("SELECT count(*) FROM audit_log")
                print(
                    f"audit chain verify: {n:,} rows in {time.perf_counter() - t0:.1f} s,"
                    f" {len(faults)} faults"
                )
        finally:
            await records.close()
            shutil.rmtree(spool, ignore_errors=True)
    finally:
        if server is not None:
            await asyncio.to_thread(server.close)
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--audit", type=int, default=30_000, help="appends per concurrency level")
    ap.add_argument("--concurrency", default="50,200,1000", help="concurrent callers, per run")
    ap.add_argument("--checks", type=int, default=20_000)
    ap.add_argument("--database-url", default=os.environ.get("CARRIER_DATABASE_URL"))
    asyncio.run(main(ap.parse_args()))
