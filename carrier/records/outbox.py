"""Durable writes to the plain (unchained) tables: call records, transcripts, answers, DNC.

``await outbox.put(op, record)`` returns once the record is durable: applied in Postgres, or
fsync'd in ``<spool>/outbox.jsonl`` while Postgres is away (then replayed in order when it
returns). A record is a JSON-ready dict (ciphertexts base64, times in microseconds) naming
its operation; each operation is an idempotent statement (``ON CONFLICT``), so a replay
that repeats what already landed changes nothing. A record the database refuses as such goes
to the dead-letter file; nothing a record holds can stop the writer (see ``dbedge``).

Operations are registered by the domain modules (``calls``, ``dnc``): ``Op(name, apply)``
where ``apply(conn, record)`` runs inside one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from carrier.records.dbedge import (
    WRITE_ERRORS,
    Failure,
    WriterHealth,
    WriterStopped,
    classify,
    connection,
)
from carrier.records.spool import DeadLetter, Spool, SpoolCorrupt, open_count

log = logging.getLogger(__name__)

Apply = Callable[[asyncpg.Connection, Mapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Op:
    name: str
    apply: Apply


@dataclass
class _Item:
    record: dict[str, Any]
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Outbox:
    def __init__(
        self,
        pool: asyncpg.Pool,
        spool: Spool,
        ops: Mapping[str, Op],
        *,
        dead_letter: DeadLetter | None = None,
        timeout: float = 5.0,
        retry_interval: float = 1.0,
        restart_delay: float = 0.5,
    ) -> None:
        self.pool = pool
        self.spool = spool
        self.ops = dict(ops)
        self.dead = dead_letter or DeadLetter(spool.path.with_name("outbox.dead.jsonl"))
        self.timeout = timeout
        self.retry_interval = retry_interval
        self.restart_delay = restart_delay
        self._queue: asyncio.Queue[_Item | asyncio.Future[bool]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._restart: asyncio.TimerHandle | None = None
        self._spooled, self.set_aside = open_count(spool)  # set aside: lines of a corrupt spool
        self._next_retry = 0.0
        self._outage = False
        self._closing = False
        self._inflight: asyncio.Future[Any] | None = None
        self.applied = 0
        self.restarts = 0
        self.last_error: str | None = None

    @property
    def spooled(self) -> int:
        return self._spooled

    def health(self) -> WriterHealth:
        alive = self._task is not None and not self._task.done()
        return WriterHealth("outbox", alive, self.restarts, self._spooled,
                            self.dead.count + self.set_aside, self._outage, self.last_error)

    def start(self) -> None:
        self._restart = None
        self._task = asyncio.get_running_loop().create_task(self._run(), name="outbox-writer")
        self._task.add_done_callback(self._on_stopped)

    def _on_stopped(self, task: asyncio.Task[None]) -> None:
        exc = None if task.cancelled() else task.exception()
        if self._inflight is not None and not self._inflight.done():
            self._inflight.set_exception(WriterStopped("outbox writer stopped"))
        self._inflight = None
        if exc is not None and not self._closing:
            self.restarts += 1
            self.last_error = exc.__class__.__name__
            log.error("outbox: writer failed (%s); restarting", self.last_error)
            delay = min(self.restart_delay * 2 ** min(self.restarts - 1, 6), 30.0)
            self._restart = asyncio.get_running_loop().call_later(delay, self.start)

    async def close(self) -> None:
        self._closing = True
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
        if self._task is not None:
            if not self._task.done():
                await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():
            item = self._queue.get_nowait()
            fut = item.done if isinstance(item, _Item) else item
            if not fut.done():
                fut.set_exception(WriterStopped("outbox closed"))
        self.spool.close()
        self.dead.close()

    async def put(self, op: str, record: Mapping[str, Any]) -> None:
        """Return once ``record`` (for operation ``op``) is applied or spooled."""
        if op not in self.ops:
            raise ValueError(f"unknown outbox operation {op!r}")
        if self._closing:
            raise WriterStopped("outbox closed")
        if self._task is None and self._restart is None:
            raise RuntimeError("outbox not started")
        item = _Item({**record, "op": op})
        self._queue.put_nowait(item)
        await item.done

    async def drain(self) -> bool:
        """Replay the spool now; True when nothing is left waiting."""
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(fut)
        return await fut

    async def _next(self, loop: asyncio.AbstractEventLoop) -> _Item | asyncio.Future[bool]:
        while self._spooled:
            wait = self._next_retry - loop.time()
            if wait <= 0:
                await self._replay(loop.time())
                continue
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(self._queue.get(), timeout=wait)
        return await self._queue.get()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        await self._replay(loop.time())
        while True:
            item = await self._next(loop)
            try:
                if isinstance(item, _Item):
                    self._inflight = item.done
                    await self._write(item)
                else:
                    self._inflight = item
                    self._next_retry = 0.0
                    await self._replay(loop.time())
                    if not item.done():
                        item.set_result(self._spooled == 0)
            finally:
                self._inflight = None
                self._queue.task_done()

    async def _write(self, item: _Item) -> None:
        if not self._spooled:
            failure = await self._try(item.record)
            if failure is None:
                self.applied += 1
            elif failure is Failure.REJECTED:
                await self._quarantine(item.record)
            else:
                await self._to_spool(item.record)
        else:
            await self._to_spool(item.record)  # behind what waits, so order holds
        if not item.done.done():
            item.done.set_result(None)

    async def _try(self, record: Mapping[str, Any]) -> Failure | None:
        op = self.ops[record["op"]]
        try:
            async with connection(self.pool, self.timeout) as conn, conn.transaction():
                await op.apply(conn, record)
        except WRITE_ERRORS as exc:
            failure = classify(exc)
            self.last_error = exc.__class__.__name__
            if failure is not Failure.REJECTED:
                self._outage = failure is Failure.OUTAGE
                self._next_retry = asyncio.get_running_loop().time() + self.retry_interval
                log.warning("outbox: %s not applied (%s); spooled", op.name, self.last_error)
            return failure
        self._outage = False
        return None

    async def _to_spool(self, record: dict[str, Any]) -> None:
        await asyncio.to_thread(self.spool.append, [record])
        self._spooled += 1

    async def _quarantine(self, record: Mapping[str, Any]) -> None:
        await asyncio.to_thread(self.dead.put, [dict(record)], self.last_error or "rejected")
        log.error("outbox: %s refused by the database (%s); %d quarantined",
                  record["op"], self.last_error, self.dead.count)

    async def _read_spool(self) -> list[dict[str, Any]]:
        """The spool's records; a corrupt spool is moved aside (never replayed blindly, never
        allowed to stop the writer) and counted in ``health()``."""
        try:
            return await asyncio.to_thread(self.spool.read)
        except SpoolCorrupt:
            target, lines = await asyncio.to_thread(self.spool.set_aside)
            self.set_aside += lines
            log.exception("%s: spool corrupt; %d lines moved to %s for the operator",
                      "outbox", lines, target.name)
            return []

    async def _replay(self, now: float) -> None:
        if now < self._next_retry:
            return
        records = await self._read_spool()
        if not records:
            self._spooled = 0
            return
        dropped: set[int] = set()  # positions quarantined during this replay
        for i, record in enumerate(records):
            failure = await self._try(record)
            if failure is Failure.REJECTED:
                await self._quarantine(record)
                dropped.add(i)
            elif failure is not None:
                log.info("outbox: replay deferred (%s)", self.last_error)
                if dropped:  # never meet (and quarantine) those records twice
                    keep = [r for j, r in enumerate(records) if j not in dropped]
                    await asyncio.to_thread(self.spool.replace, keep)
                    self._spooled = len(keep)
                return
        await asyncio.to_thread(self.spool.clear)
        self.applied += len(records)
        log.info("outbox: replayed %d spooled records", len(records))
        self._spooled = 0
