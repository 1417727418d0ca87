"""The MLLP listener's bounds against a sender that holds resources: at most
``hl7_max_connections`` connections (``hl7_max_connections_per_source`` of one address),
a frame begun (``<VT>``) and not ended within ``hl7_frame_timeout_s`` is refused (AR) and
its connection closed, a connection silent for ``hl7_idle_timeout_s`` is closed. The reaper
is driven with the listener's own clock (``reap(now)``), so no test waits out a timeout."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from carrier.errors import ConfigError
from carrier.feeds.mllp import REFUSAL_LOG_EVERY_S, Hl7Listener, MllpLimits
from carrier.feeds.service import Feeds
from carrier.feeds.store import FeedStore
from carrier.records.store import Records
from carrier.settings import FeedsSettings, Settings, load_settings
from tests.feeds.conftest import CR, EB, SB, TZ, ack_fields, now_utc
from tests.feeds.hl7_samples import siu

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]
Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class _NotifyingReader:
    """The listener's reader, telling the test each time the listener reads: before a read
    (it has admitted the connection, or fed the last bytes to the framer) and after it."""

    def __init__(self, inner: asyncio.StreamReader, changed: asyncio.Event) -> None:
        self.inner, self.changed = inner, changed

    async def read(self, n: int) -> bytes:
        self.changed.set()
        try:
            return await self.inner.read(n)
        finally:
            self.changed.set()


class WatchedListener(Hl7Listener):
    """The real listener; ``changed`` is set whenever its connections or frames may have."""

    changed: asyncio.Event

    async def serve_client(self, reader, writer):  # type: ignore[no-untyped-def]
        try:
            await super().serve_client(_NotifyingReader(reader, self.changed), writer)
        finally:
            self.changed.set()


@dataclasses.dataclass
class Bounded:
    listener: WatchedListener
    port: int
    clock: Clock
    opened: list[asyncio.StreamWriter] = dataclasses.field(default_factory=list)

    async def connect(self, source: str = "127.0.0.1") -> Conn:
        conn = await asyncio.open_connection("127.0.0.1", self.port, local_addr=(source, 0))
        self.opened.append(conn[1])
        return conn


@pytest.fixture
async def bounded(feed_store: FeedStore, request: pytest.FixtureRequest
                  ) -> AsyncIterator[Bounded]:
    limits = getattr(request, "param", MllpLimits(max_connections=3, max_per_source=2,
                                                  frame_timeout_s=30, idle_timeout_s=600))
    clock = Clock()
    listener = WatchedListener(feed_store, tz=TZ, limits=limits, monotonic=clock)
    listener.changed = asyncio.Event()
    listener.reap_every = 3600.0  # the test reaps by hand
    server = await listener.start("127.0.0.1", 0)
    bounded = Bounded(listener, server.sockets[0].getsockname()[1], clock)
    try:
        yield bounded
    finally:
        for writer in bounded.opened:
            writer.close()
        server.close()
        await server.wait_closed()


async def _ack(conn: Conn, msg: bytes) -> bytes:
    reader, writer = conn
    writer.write(SB + msg + EB + CR)
    await writer.drain()
    async with asyncio.timeout(30):  # bounded wait on the listener's reply
        return (await reader.readuntil(EB + CR)).strip(SB + EB + CR)


async def _closed(conn: Conn) -> bytes:
    """What the listener sent before closing the connection (b"" when nothing)."""
    async with asyncio.timeout(30):
        return await conn[0].read()


def _msg(control: str) -> bytes:
    return siu("S12", control, start=now_utc() + dt.timedelta(days=3), appt=f"A{control}")


async def _until(listener: WatchedListener, ok: Callable[[], object]) -> None:
    """Until the listener (another task, reading its socket) has got there; woken by the
    listener itself, bounded."""
    async with asyncio.timeout(30):
        while not ok():
            listener.changed.clear()  # no await since the look: nothing changed between
            await listener.changed.wait()


async def _served(listener: WatchedListener, n: int) -> None:
    await _until(listener, lambda: listener.open_connections == n)


async def test_one_source_cannot_take_every_connection(bounded: Bounded) -> None:
    a1, a2 = await bounded.connect(), await bounded.connect()
    await _served(bounded.listener, 2)
    assert await _closed(await bounded.connect()) == b""  # a third from one address
    b1 = await bounded.connect("127.0.0.2")  # another sender still gets in
    assert ack_fields(await _ack(b1, _msg("B1")))["MSA"][1] == "AA"
    assert await _closed(await bounded.connect("127.0.0.3")) == b""  # total: 3
    # The connections that were let in are served as before.
    assert ack_fields(await _ack(a1, _msg("A1")))["MSA"][1] == "AA"
    assert ack_fields(await _ack(a2, _msg("A2")))["MSA"][1] == "AA"
    a1[1].close()
    await _served(bounded.listener, 2)
    a3 = await bounded.connect()  # a closed one frees its place
    assert ack_fields(await _ack(a3, _msg("A3")))["MSA"][1] == "AA"
    assert bounded.listener.counts["refused_connections"] == 2


async def test_a_stalled_frame_is_refused_and_its_connection_closed(
        bounded: Bounded, records: Records) -> None:
    conn = await bounded.connect()
    msg = _msg("H1")
    conn[1].write(SB + msg[: len(msg) // 2])  # <VT> and half a message, then nothing
    await conn[1].drain()
    await _served(bounded.listener, 1)
    await _until(bounded.listener, bounded.listener.pending_frames)  # the half frame has been read
    bounded.clock.t += 29
    assert bounded.listener.reap() == 0  # within the frame timeout: kept
    bounded.clock.t += 2
    assert bounded.listener.reap() == 1
    nak = ack_fields((await _closed(conn)).strip(SB + EB + CR))
    assert nak["MSA"][1:3] == ["AR", "H1"]
    assert nak["ERR"][3].split("^")[0] == "100"
    assert "Testa" not in "|".join(nak["ERR"] + nak["MSA"])
    assert await records.pool.fetchval("SELECT count(*) FROM feed_messages") == 0
    await _served(bounded.listener, 0)
    # The sender reconnects and sends the message whole: applied.
    assert ack_fields(await _ack(await bounded.connect(), msg))["MSA"][1] == "AA"


async def test_an_idle_connection_is_closed_after_the_idle_timeout(bounded: Bounded) -> None:
    conn = await bounded.connect()
    assert ack_fields(await _ack(conn, _msg("I1")))["MSA"][1] == "AA"
    bounded.clock.t += 599  # between messages the frame timeout does not apply
    assert bounded.listener.reap() == 0
    assert ack_fields(await _ack(conn, _msg("I2")))["MSA"][1] == "AA"
    bounded.clock.t += 601
    assert bounded.listener.reap() == 1
    assert await _closed(conn) == b""
    await _served(bounded.listener, 0)


@pytest.mark.parametrize("bounded", [MllpLimits(frame_timeout_s=0.05, idle_timeout_s=0.05)],
                         indirect=True)
async def test_the_reaper_runs_by_itself(bounded: Bounded) -> None:
    bounded.listener.monotonic = asyncio.get_running_loop().time  # real time, tiny timeouts
    bounded.listener.reap_every = 0.02
    conn = await bounded.connect()
    conn[1].write(SB + b"MSH|^~\\&|PM|CLINIC")
    nak = ack_fields((await _closed(conn)).strip(SB + EB + CR))
    assert nak["MSA"][1] == "AR"


async def test_the_settings_reach_the_listener_and_are_bounded(records: Records) -> None:
    from tests.feeds.test_feeds_settings_and_commands import _App  # noqa: PLC0415

    f = FeedsSettings(hl7_max_connections=5, hl7_max_connections_per_source=1,
                      hl7_frame_timeout_s=7, hl7_idle_timeout_s=70)
    feeds = Feeds.build(dataclasses.replace(Settings(), feeds=f), records, _App(records))
    assert feeds.listener.limits == MllpLimits(5, 1, 7, 70)
    for env, key in [({"CARRIER_FEEDS__HL7_MAX_CONNECTIONS": "0"}, "hl7_max_connections"),
                     ({"CARRIER_FEEDS__HL7_MAX_CONNECTIONS": "1e6"}, "hl7_max_connections"),
                     ({"CARRIER_FEEDS__HL7_MAX_CONNECTIONS_PER_SOURCE": "0"},
                      "hl7_max_connections_per_source"),
                     ({"CARRIER_FEEDS__HL7_FRAME_TIMEOUT_S": "0"}, "hl7_frame_timeout_s"),
                     ({"CARRIER_FEEDS__HL7_FRAME_TIMEOUT_S": "inf"}, "hl7_frame_timeout_s"),
                     ({"CARRIER_FEEDS__HL7_IDLE_TIMEOUT_S": "-1"}, "hl7_idle_timeout_s")]:
        with pytest.raises(ConfigError) as err:
            load_settings(REPO / "config", env=env)
        assert key in str(err.value)


async def test_a_frame_dripped_byte_by_byte_still_times_out(
        bounded: Bounded, records: Records) -> None:
    """The frame timeout runs from the start block, not from the last bytes: a sender
    that sends a little every few seconds cannot hold a frame open for ever."""
    conn = await bounded.connect()
    msg = _msg("D1")
    conn[1].write(SB + msg[:40])
    await _until(bounded.listener, bounded.listener.pending_frames)
    bounded.clock.t += 20
    assert bounded.listener.reap() == 0
    reads = bounded.listener.reads
    conn[1].write(msg[40:80])  # 20 s on, some more of the same message
    await _until(bounded.listener, lambda: bounded.listener.reads > reads)
    bounded.clock.t += 20  # 20 s after those bytes, 40 s after the start block
    assert bounded.listener.reap() == 1
    nak = ack_fields((await _closed(conn)).strip(SB + EB + CR))
    assert nak["MSA"][1] == "AR"
    assert await records.pool.fetchval("SELECT count(*) FROM feed_messages") == 0


async def test_a_connection_flood_is_one_warning_per_interval(
        bounded: Bounded, caplog: pytest.LogCaptureFixture) -> None:
    """Each refused connection used to log its own warning: a flood was a log flood. Now
    one line per ``REFUSAL_LOG_EVERY_S`` says how many were refused (the listener's clock)."""
    admitted = [await bounded.connect(), await bounded.connect()]
    await _served(bounded.listener, 2)

    def refusal_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]

    with caplog.at_level(logging.INFO, logger="carrier.feeds.mllp"):
        for _ in range(40):  # one address over its cap, again and again
            assert await _closed(await bounded.connect()) == b""
        assert len(refusal_lines()) == 1  # the first, at once
        bounded.clock.t += REFUSAL_LOG_EVERY_S
        assert await _closed(await bounded.connect()) == b""
        assert len(refusal_lines()) == 2
        assert "40 connections refused" in refusal_lines()[1]  # 39 held back + this one
        for _ in range(5):
            assert await _closed(await bounded.connect()) == b""
        assert len(refusal_lines()) == 2
        # The flood ends: the reaper reports what was held back once the interval is over.
        bounded.listener.reap(bounded.clock.t + REFUSAL_LOG_EVERY_S / 2)
        assert len(refusal_lines()) == 2
        bounded.listener.reap(bounded.clock.t + REFUSAL_LOG_EVERY_S)
        assert len(refusal_lines()) == 3
        assert "5 connections refused" in refusal_lines()[2]
        bounded.listener.reap(bounded.clock.t + 3 * REFUSAL_LOG_EVERY_S)
        assert len(refusal_lines()) == 3  # nothing more to say
        for _ in range(3):
            assert await _closed(await bounded.connect()) == b""
        for conn in admitted:  # the last connection closes: no reaper until the next
            conn[1].close()
        await _served(bounded.listener, 0)
        assert len(refusal_lines()) == 4
        assert "3 connections refused" in refusal_lines()[3]
    assert bounded.listener.counts["refused_connections"] == 49
