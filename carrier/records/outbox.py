"""Durable writes to the plain (unchained) tables: call records, transcripts, answers, DNC.

``await outbox.put(op, record)`` returns once the record is durable: applied in Postgres, or
fsync'd in ``<spool>/outbox.jsonl`` while Postgres is away (then replayed in order when it
returns). A record is a JSON-ready dict (ciphertexts base64, times in microseconds) naming
its operation; each operation is an idempotent statement (``ON CONFLICT``), so a replay
that repeats what already landed changes nothing. A record the database refuses as such goes
to the dead-letter file; nothing a record holds can stop the writer (see ``dbedge``).

Operations are registered by the domain modules (``calls``, ``dnc``): ``Op(name, apply)``
where ``apply(conn, record)`` runs inside one transaction. A room above records (the dialer)
adds its own with ``register`` (records never imports it); a spooled record whose operation is
not registered in this process yet is kept in the spool, in order, until it is.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from carrier.records.dbedge import (
    WRITE_ERRORS,
    Failure,
    WriterStopped,
    classify,
    connection,
)
from carrier.records.spool import DeadLetter, Spool
from carrier.records.supervised import SupervisedWriter

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


class Outbox(SupervisedWriter):
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
        super().__init__(
            pool, spool, dead_letter or DeadLetter(spool.path.with_name("outbox.dead.jsonl")),
            name="outbox", timeout=timeout, retry_interval=retry_interval,
            restart_delay=restart_delay)
        self.ops = dict(ops)
        self.applied = 0

    def register(self, op: Op) -> None:
        """Add an operation of a room that records does not import (the dialer's)."""
        known = self.ops.get(op.name)
        if known is not None and known != op:
            raise ValueError(f"outbox operation {op.name!r} registered twice")
        self.ops[op.name] = op

    async def waiting(self, op: str) -> int:
        """How many records of operation ``op`` wait in the spool (0 without reading it
        when the spool is empty)."""
        if not self._spooled:
            return 0
        return sum(1 for r in await self._read_spool() if r.get("op") == op)

    async def put(self, op: str, record: Mapping[str, Any]) -> None:
        """Return once ``record`` (for operation ``op``) is applied or spooled."""
        if op not in self.ops:
            raise ValueError(f"unknown outbox operation {op!r}")
        if self._closing:
            raise WriterStopped("outbox closed")
        self._check_open()
        item = _Item({**record, "op": op})
        self._queue.put_nowait(item)
        await item.done

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        await self._replay(loop.time())
        while True:
            item = await self._next_item(loop)
            try:
                if isinstance(item, _Item):
                    self._inflight = [item.done]
                    await self._write(item)
                else:
                    self._inflight = [item]
                    self._next_retry = 0.0
                    await self._replay(loop.time())
                    if not item.done():
                        item.set_result(self._spooled == 0)
            finally:
                self._queue.task_done()
            self._inflight = []  # kept if an error escapes: _on_stopped fails those waiters

    async def _write(self, item: _Item) -> None:
        try:
            if not self._spooled:
                failure = await self._try(item.record)
                if failure is None:
                    self.applied += 1
                elif failure is Failure.REJECTED:
                    refused = await self._quarantine(item.record)
                    if refused is not None:
                        raise refused  # counted and told to the caller below
                else:
                    await self._to_spool(item.record)
            else:
                await self._to_spool(item.record)  # behind what waits, so order holds
        except OSError as exc:  # the disk refused the spool (full): the caller is told
            if not item.done.done():
                self.unrecorded += 1
                item.done.set_exception(exc)
            return
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

    async def _quarantine(self, record: Mapping[str, Any]) -> OSError | None:
        """To the dead-letter file; the disk's error when it refused it (never raised)."""
        try:
            await asyncio.to_thread(self.dead.put, [dict(record)],
                                    self.last_error or "rejected")
        except OSError as exc:
            log.error("outbox: %s refused by the database (%s) not kept: the disk refused %s"  # noqa: TRY400
                      " (%s)", record["op"], self.last_error, self.dead.path,
                      os.strerror(exc.errno) if exc.errno else type(exc).__name__)
            return exc
        log.error("outbox: %s refused by the database (%s); %d quarantined",
                  record["op"], self.last_error, self.dead.count)
        return None

    async def _keep(self, records: list[dict[str, Any]], keep: list[dict[str, Any]]) -> None:
        """Make ``keep`` the spool; if the disk refuses the rewrite, the spool stays whole
        (a record applied twice is an insert that does nothing the second time)."""
        try:
            await asyncio.to_thread(self.spool.replace, keep)
        except OSError:
            log.error("outbox: spool %s not rewritten (disk); replayed again as it is",  # noqa: TRY400
                      self.spool.path)
            self._spooled = len(records)
            return
        self._spooled = len(keep)

    async def _replay(self, now: float) -> None:
        if now < self._next_retry:
            return
        records = await self._read_spool()
        if not records:
            self._spooled = 0
            return
        dropped: set[int] = set()  # positions quarantined during this replay
        stuck: list[int] = []  # refused, and the disk refused the dead-letter file too
        kept = [i for i, r in enumerate(records) if r.get("op") not in self.ops]
        for i, record in enumerate(records):
            if i in kept:  # its room has not registered it (yet): keep it, in order
                continue
            failure = await self._try(record)
            if failure is Failure.REJECTED:
                if await self._quarantine(record) is None:
                    dropped.add(i)
                else:  # the disk refused the dead-letter file: it stays in the spool
                    stuck.append(i)
            elif failure is not None:
                log.info("outbox: replay deferred (%s)", self.last_error)
                if dropped:  # never meet (and quarantine) those records twice
                    await self._keep(records,
                                     [r for j, r in enumerate(records) if j not in dropped])
                return
        if kept or stuck:
            await self._keep(records, [records[i] for i in sorted({*kept, *stuck})])
            self._next_retry = now + self.retry_interval
            log.warning("outbox: %d spooled records wait for their operation, %d refused"
                        " ones for room in the dead-letter file", len(kept), len(stuck))
        else:
            await asyncio.to_thread(self.spool.clear)
            self._spooled = 0
        applied = len(records) - len(kept)
        self.applied += applied
        log.info("outbox: replayed %d spooled records", applied)
