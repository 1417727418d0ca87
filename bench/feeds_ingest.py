"""Schedule feed ingest: HL7 messages per second with their ACK, and a CSV import.

    python bench/feeds_ingest.py [--messages 2000] [--connections 4] [--rows 100000]
                                 [--database-url URL]

Without a URL it runs a throwaway embedded PostgreSQL (fsync on). HL7: ``--connections``
MLLP clients (the ``hl7`` library's asyncio client) each send SIU^S12 messages for
distinct synthetic patients one after another, waiting for each ACK, to the real listener
(parse, one transaction per message, audit); the figure is acknowledged messages per
second and the ACK latency. CSV: a ``--rows`` file (synthetic patients, one appointment
each) validated, then loaded in one transaction. Prints the hardware and machine load.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import hl7.mllp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent import MIGRATIONS
from agent.scheduling.feed_apply import FeedCalendar
from bench._common import hardware, load, pct
from carrier.feeds.csv_import import (
    file_digest,
    import_schedule,
    validate_schedule_csv,
)
from carrier.feeds.mllp import Hl7Listener
from carrier.feeds.store import FeedStore
from carrier.records.crypto import LocalKek
from carrier.records.embedded import EmbeddedPostgres
from carrier.records.migrate import migrate, plan
from carrier.records.store import Records

START = dt.datetime(2030, 1, 7, 14, 0, tzinfo=dt.UTC)


def message(i: int) -> bytes:
    start = START + dt.timedelta(minutes=15 * i)
    ts = start.strftime("%Y%m%d%H%M%S+0000")
    return (f"MSH|^~\\&|PM|BENCH|CARRIER|CARRIER|20300101000000+0000||SIU^S12^SIU_S12|B{i}|P|"
            f"2.5.1\rSCH|P{i}^PM|F{i}^PM|||||||15|min|^^15^{ts}\r"
            f"PID|1||M{i}^^^BENCH^MR||Synthetic^Pat||19700101|F|||^^^CA||+1{200 + i % 800}555"
            f"{i // 800 % 10000:04d}\rAIP|1||DR{i % 20}^Doc^Bench\r").encode()


async def bench_hl7(records: Records, n: int, connections: int) -> None:
    listener = Hl7Listener(FeedStore(records, FeedCalendar(records)),
                           tz=ZoneInfo("America/New_York"))
    server = await listener.start("127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    latencies: list[float] = []

    async def client(k: int) -> None:
        reader, writer = await hl7.mllp.open_hl7_connection("127.0.0.1", port)
        for i in range(k, n, connections):
            t0 = time.perf_counter()
            writer.writeblock(message(i))
            await writer.drain()
            ack = await reader.readblock()
            latencies.append(time.perf_counter() - t0)
            assert b"MSA|AA|" in ack, ack
        writer.close()

    t0 = time.perf_counter()
    async with asyncio.TaskGroup() as tasks:
        for k in range(connections):
            tasks.create_task(client(k))
    took = time.perf_counter() - t0
    server.close()
    await server.wait_closed()
    print(f"hl7: {n:,} SIU^S12 over {connections} MLLP connections in {took:.1f} s: "
          f"{n / took:,.0f} messages/s acknowledged (AA); ACK latency p50 "
          f"{pct(latencies, 0.5) * 1000:.1f} ms, p99 {pct(latencies, 0.99) * 1000:.1f} ms")


def csv_text(rows: int) -> str:
    lines = ["mrn,first_name,last_name,phone,dob,state,appointment_id,start,duration_min,"
             "provider_id"]
    for i in range(rows):
        start = (START + dt.timedelta(minutes=10 * i)).isoformat()
        lines.append(f"C{i},Pat,Synthetic,+1{200 + i % 800}556{i // 800 % 10000:04d},"
                     f"1970-01-01,NY,CA{i},{start},10,DR{i % 20}")
    return "\n".join(lines) + "\n"


async def bench_csv(records: Records, rows: int) -> None:
    text = csv_text(rows)
    t0 = time.perf_counter()
    good, errors = validate_schedule_csv(text)
    checked = time.perf_counter() - t0
    assert not errors, errors[:3]
    store = FeedStore(records, FeedCalendar(records))
    t1 = time.perf_counter()
    await import_schedule(store, good, source="bench-csv", digest=file_digest(text),
                          now=dt.datetime.now(dt.UTC))
    loaded = time.perf_counter() - t1
    print(f"csv: {rows:,} rows validated in {checked:.1f} s ({rows / checked:,.0f} rows/s), "
          f"loaded in one transaction in {loaded:.1f} s ({rows / loaded:,.0f} rows/s)")


async def main(args: argparse.Namespace) -> None:
    print(f"hardware: {hardware()}")
    print(f"at start: {load()} (a shared machine: figures move with it)")
    base, server, url = None, None, args.database_url
    if not url:
        base = Path(tempfile.mkdtemp(prefix="carrier-bench-"))
        server = EmbeddedPostgres(base / "data")
        url = await asyncio.to_thread(server.start)
        print("database: embedded PostgreSQL (fsync on), Unix socket")
    spool = Path(tempfile.mkdtemp(prefix="carrier-bench-spool-"))
    try:
        conn = await asyncpg.connect(url)
        await migrate(conn, plan(MIGRATIONS))
        await conn.close()
        records = await Records.open(url, LocalKek(os.urandom(32)), spool, max_size=10)
        try:
            await bench_hl7(records, args.messages, args.connections)
            await bench_csv(records, args.rows)
        finally:
            await records.close()
        print(f"at end: {load()}")
    finally:
        shutil.rmtree(spool, ignore_errors=True)
        if server is not None:
            await asyncio.to_thread(server.close)
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--database-url", default=None)
    asyncio.run(main(p.parse_args()))
