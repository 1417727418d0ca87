"""Feed fixtures: a records store with the agent's feed calendar, and a live MLLP listener
on 127.0.0.1 (ephemeral port) that ``mllp_send`` (the ``hl7`` package's sender) talks to."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agent.scheduling.feed_apply import FeedCalendar
from carrier.feeds.mllp import Hl7Listener
from carrier.feeds.store import FeedStore
from carrier.records.store import Records

TZ = ZoneInfo("America/New_York")
MLLP_SEND = str(Path(sys.executable).parent / "mllp_send")
SB, EB, CR = b"\x0b", b"\x1c", b"\r"


@dataclass
class Listening:
    listener: Hl7Listener
    store: FeedStore
    port: int


@pytest.fixture
def feed_store(records: Records) -> FeedStore:
    return FeedStore(records, FeedCalendar(records))


@pytest.fixture
async def hl7_server(feed_store: FeedStore) -> AsyncIterator[Listening]:
    listener = Hl7Listener(feed_store, tz=TZ)
    server = await listener.start("127.0.0.1", 0)
    try:
        yield Listening(listener, feed_store, server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def mllp_send(port: int, messages: list[bytes], tmp: Path) -> list[bytes]:
    """Send ``messages`` with the ``mllp_send`` tool (an independent sender); its ACKs."""
    path = tmp / f"batch-{id(messages)}.hl7"
    path.write_bytes(b"".join(SB + m + EB + CR for m in messages))
    proc = await asyncio.create_subprocess_exec(
        MLLP_SEND, "-p", str(port), "-f", str(path), "127.0.0.1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    # Bounded wait on an outside process (the sender), not a sleep.
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    return [a.strip(SB + CR + b"\n") for a in out.split(EB) if a.strip(SB + CR + b"\n")]


def ack_fields(ack: bytes) -> dict[str, list[str]]:
    return {seg.split("|")[0]: seg.split("|") for seg in ack.decode().split("\r") if seg}


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 1, 15, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
async def clocked(feed_store: FeedStore) -> AsyncIterator[tuple[Hl7Listener, Clock, int]]:
    clock = Clock()
    listener = Hl7Listener(feed_store, tz=TZ, clock=clock)
    server = await listener.start("127.0.0.1", 0)
    try:
        yield listener, clock, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def send_at(port: int, clock: Clock, message: bytes, at: dt.datetime, tmp: Path
                  ) -> dict[str, list[str]]:
    clock.now = at
    acks = await mllp_send(port, [message], tmp)
    assert len(acks) == 1
    return ack_fields(acks[0])


async def stored_patient(store: FeedStore, records: Records, mrn: str,
                         authority: str = "NORTH") -> dict[str, Any] | None:
    pid = await records.pool.fetchval(
        "SELECT patient_id FROM feed_patients WHERE ref_bidx = $1",
        store.patient_key(authority, mrn))
    if pid is None:
        return None
    p = await records.get_patient(pid, actor="test", reason="check")
    assert p is not None
    return {"id": pid, "name": p.name, "phone": p.phone,
            "dob": p.dob.isoformat() if p.dob else None, "language_feed": p.ehr_language}


async def stored_appt(records: Records, ref: str) -> dict[str, Any] | None:
    row = await records.pool.fetchrow(
        "SELECT a.status, a.start_at FROM sched_appointments a"
        " JOIN feed_appointments f ON f.app_id = a.id WHERE f.ref = $1", ref)
    return None if row is None else dict(row)
