"""A dialer worker process for the multi-process lease test (run with `python -m`).

    python -m tests.dialer.worker_process DB_URL OUT_FILE

Dials (with the fake dial function) until nothing is due, appending each dialled patient
id to OUT_FILE. The wall clock is pinned to the tests' START so the gate allows the calls.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg

from tests.dialer.conftest import FakeClock, FakeDialer, make_runner


async def work(db_url: str) -> list[str]:
    pool = await asyncpg.create_pool(db_url, user="carrier_app", min_size=1, max_size=4)
    clock = FakeClock()
    dialer = FakeDialer(clock)
    try:
        runner = make_runner(pool, clock, dialer, worker=f"proc-{os.getpid()}")
        while (await runner.run_once(limit=5)).leased:
            pass
    finally:
        await pool.close()
    return [p for p, _, _ in dialer.dials]


if __name__ == "__main__":
    dialled = asyncio.run(work(sys.argv[1]))
    Path(sys.argv[2]).write_text("".join(f"{p}\n" for p in dialled))
