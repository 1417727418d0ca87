"""One writer task per hash chain: batches appends, keeps them in order, survives outages.

Callers ``await writer.append(row)``; it returns once the row is durable, either committed in
Postgres or fsync'd in the local spool. A single task drains the queue in batches and extends
the chain in memory. In the steady state a batch is one autocommit statement that moves the
``chain_heads`` row from the head the batch was hashed on and inserts the rows (``INSERT ...
SELECT FROM unnest(...)``); if another process moved the head first, nothing is inserted and
the batch is re-hashed on the new head. Replays and repeated races take the locking path
(``SELECT ... FOR UPDATE`` on the head row in a transaction). Batching is what makes
thousands of appends per second possible while the chain stays strictly serial.

When Postgres is unreachable the batch goes to the spool instead, and so does everything
after it until the spool has been replayed, so chain order equals append order. Replay runs
when the writer starts, before each batch while the spool is non-empty (at most once per
``retry_interval``), and on ``drain()``.

``append(row, queued=True)`` is for routine entries nobody waits to read back (the agent's
workflow steps): the row is fsync'd to the spool and acknowledged at once, and the writer
replays it into Postgres ``queue_delay`` (50 ms) later together with whatever was queued
meanwhile, so a reply is never held behind a database commit.

A row the database refuses as such (see ``dbedge``) is moved to the dead-letter file, never
allowed to stop the writer or the rows batched with it. If the task still ends by an error,
its in-flight callers fail, the queue is kept, and the task is started again; ``health()``
says whether it is alive, how often it restarted and what is spooled or quarantined.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg

from carrier.records import chain as chainmod
from carrier.records.dbedge import (
    UNAVAILABLE,
    WRITE_ERRORS,
    Failure,
    WriterStopped,
    classify,
    connection,
)
from carrier.records.ledgers import AUDIT, CONSENT, ChainTable, from_spool, storable, to_spool
from carrier.records.spool import DeadLetter, Spool
from carrier.records.supervised import SupervisedWriter

log = logging.getLogger(__name__)

__all__ = [
    "AUDIT", "CONSENT", "UNAVAILABLE", "ChainTable", "ChainWriter", "WriterStopped",
    "from_spool", "to_spool",
]


@dataclass
class _Pending:
    row: dict[str, Any]
    queued: bool = False
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class ChainWriter(SupervisedWriter):
    def __init__(
        self,
        pool: asyncpg.Pool,
        spec: ChainTable,
        spool: Spool,
        *,
        dead_letter: DeadLetter | None = None,
        max_batch: int = 2000,
        timeout: float = 5.0,
        retry_interval: float = 1.0,
        restart_delay: float = 0.5,
        queue_delay: float = 0.05,
    ) -> None:
        super().__init__(
            pool, spool,
            dead_letter or DeadLetter(
                spool.path.with_name(f"{spool.path.stem}.dead{spool.path.suffix}")),
            name=spec.chain, timeout=timeout, retry_interval=retry_interval,
            restart_delay=restart_delay)
        self.spec = spec
        self.max_batch = max_batch
        self.queue_delay = queue_delay  # seconds queued rows wait to be committed together
        self._head: chainmod.Head | None = None  # last head this writer saw (a hint only)
        self.committed = 0  # rows committed to Postgres by this writer (direct or replayed)
        self.spool_writes = 0  # batches that went to the spool (outage seen)
        self.replays = 0  # successful spool replays
        # The spool holds rows a failure sent there (or a run before this one left), not
        # only routine ``queued`` rows, which take the spool on purpose (durable at once,
        # committed right after) and are no news in the log.
        self._held_back = self._spooled > 0

    async def append(self, row: dict[str, Any], *, queued: bool = False) -> None:
        """Return once ``row`` is durable. ``queued``: durable in the spool is enough (the
        writer commits it right after); otherwise committed, or spooled in an outage."""
        self._check_open()
        if not storable(self.spec, row):
            # Text no database or hash accepts: keep it aside, never let it reach the batch.
            refused = await self._quarantine([row], "UnstorableText")
            if refused is not None:
                self.unrecorded += 1
                raise refused
            return
        item = _Pending(row, queued)
        self._queue.put_nowait(item)
        await item.done

    async def _quarantine(self, rows: list[dict[str, Any]], reason: str) -> OSError | None:
        """Move ``rows`` to the dead-letter file; the disk's error when it refused them
        (full): never raised here, so the writer serves on and the caller decides."""
        records = [to_spool(self.spec, r) for r in rows]
        try:
            await asyncio.to_thread(self.dead.put, records, reason)
        except OSError as exc:
            log.error("%s chain: %d row(s) refused by the database (%s) not kept: the disk"  # noqa: TRY400 - one line, no traceback
                      " refused %s (%s)", self.spec.chain, len(rows), reason,
                      self.dead.path, os.strerror(exc.errno) if exc.errno else type(exc).__name__)
            return exc
        log.error(
            "%s chain: %d row(s) refused by the database (%s) moved to %s; %d quarantined",
            self.spec.chain, len(rows), reason, self.dead.path.name, self.dead.count,
        )
        return None

    def _collect(
        self, item: _Pending | asyncio.Future[bool]
    ) -> tuple[list[_Pending], list[asyncio.Future[bool]]]:
        """Take ``item`` and whatever else is queued, up to one batch."""
        batch: list[_Pending] = []
        controls: list[asyncio.Future[bool]] = []
        while True:
            if isinstance(item, _Pending):
                batch.append(item)
            else:
                controls.append(item)
            if len(batch) >= self.max_batch or self._queue.empty():
                return batch, controls
            item = self._queue.get_nowait()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        await self._replay(loop.time())
        while True:
            batch, controls = self._collect(await self._next_item(loop))
            self._inflight = [p.done for p in batch] + list(controls)
            try:
                if controls:
                    self._next_retry = 0.0
                if self._spooled:
                    await self._replay(loop.time())
                if batch:
                    await self._write_batch(batch)
                for fut in controls:
                    if not fut.done():
                        fut.set_result(self._spooled == 0)
            finally:
                for _ in range(len(batch) + len(controls)):
                    self._queue.task_done()
            self._inflight = []  # kept if an error escapes: _on_stopped fails those waiters

    def _done(self, batch: list[_Pending]) -> None:
        for p in batch:
            if not p.done.done():
                p.done.set_result(None)

    async def _write_batch(self, batch: list[_Pending]) -> None:
        rows = [p.row for p in batch]
        if not self._spooled and not any(p.queued for p in batch):
            failure = await self._try(self._append, rows)
            if failure is None:
                self.committed += len(rows)
                self._done(batch)
                return
            if failure is Failure.REJECTED:
                await self._write_each(batch)
                return
        await self._spool(batch)

    async def _try(self, write: Any, rows: list[dict[str, Any]]) -> Failure | None:
        """Run ``write(rows)``; None when it landed, else what kind of failure it met."""
        try:
            await write(rows)
        except WRITE_ERRORS as exc:
            failure = classify(exc)
            assert failure is not None  # every WRITE_ERRORS class is classified
            self.last_error = exc.__class__.__name__
            if failure is Failure.REJECTED:
                return failure
            self._outage = failure is Failure.OUTAGE
            self._held_back = True
            log.warning(
                "%s chain: database %s (%s); spooling",
                self.spec.chain,
                "unavailable" if self._outage else "refused the write",
                self.last_error,
            )
            self._next_retry = asyncio.get_running_loop().time() + self.retry_interval
            return failure
        self._outage = False
        return None

    async def _write_each(self, batch: list[_Pending]) -> None:
        """A batch the database refused: find the row(s) at fault, one at a time."""
        for i, p in enumerate(batch):
            failure = await self._try(self._append, [p.row])
            if failure is None:
                self.committed += 1
                self._done([p])
            elif failure is Failure.REJECTED:
                refused = await self._quarantine([p.row], self.last_error or "rejected")
                if refused is None:
                    self._done([p])
                elif not p.done.done():  # this row alone is lost: its caller is told
                    self.unrecorded += 1
                    p.done.set_exception(refused)
            else:  # the database went away meanwhile: the rest waits in the spool, in order
                await self._spool(batch[i:])
                return

    async def _spool(self, batch: list[_Pending]) -> None:
        rows = [p.row for p in batch]
        try:
            await asyncio.to_thread(self.spool.append, [to_spool(self.spec, r) for r in rows])
        except OSError as exc:
            for p in batch:
                if not p.done.done():
                    self.unrecorded += 1
                    p.done.set_exception(exc)
            return
        first = self._spooled == 0
        self._spooled += len(rows)
        self.spool_writes += 1
        now = asyncio.get_running_loop().time()
        if first and not self._outage and self._next_retry <= now:
            # Queued rows (no failure seen): commit them shortly, in one replay with those
            # queued meanwhile, so a burst of entries never waits behind its own commits.
            self._next_retry = now + self.queue_delay
        self._done(batch)

    async def _replay(self, now: float) -> None:
        if now < self._next_retry:
            return
        records = await self._read_spool()
        if not records:
            self._spooled = 0
            return
        rows = [from_spool(self.spec, r) for r in records]
        dropped: set[UUID] = set()  # quarantined during this replay
        stuck: set[UUID] = set()  # refused, and the disk refused the dead-letter file too
        for start in range(0, len(rows), self.max_batch):
            chunk = rows[start : start + self.max_batch]
            failure = await self._try(self._insert_dedup, chunk)
            if failure is Failure.REJECTED:
                failure = await self._replay_each(chunk, dropped, stuck)
            if failure is not None:
                log.info("%s chain: replay deferred (%s)", self.spec.chain, self.last_error)
                self._next_retry = now + self.retry_interval
                if dropped:  # never meet (and quarantine) those rows twice
                    await self._keep(records, [r for r, row in zip(records, rows, strict=True)
                                               if row["entry_id"] not in dropped])
                return
        if stuck:  # they stay in the spool (durable there), the rest has landed
            log.error("%s chain: %d refused row(s) stay in %s until the dead-letter file"
                      " takes them", self.spec.chain, len(stuck), self.spool.path)
            self._next_retry = now + self.retry_interval
            await self._keep(records, [r for r, row in zip(records, rows, strict=True)
                                       if row["entry_id"] in stuck])
            return
        await asyncio.to_thread(self.spool.clear)
        self.committed += len(rows)
        self.replays += 1
        if self._held_back:
            log.info("%s chain: replayed %d spooled rows", self.spec.chain, len(rows))
        else:  # queued rows committed as planned: the database was never in question
            log.debug("%s chain: committed %d queued rows", self.spec.chain, len(rows))
        self._held_back = False
        self._spooled = 0

    async def _keep(self, records: list[dict[str, Any]], keep: list[dict[str, Any]]) -> None:
        """Make ``keep`` the spool; if the disk refuses the rewrite, the spool stays whole
        (what landed is skipped by its ``entry_id`` at the next replay)."""
        try:
            await asyncio.to_thread(self.spool.replace, keep)
        except OSError:
            log.error("%s chain: spool %s not rewritten (disk); replayed again as it is",  # noqa: TRY400
                      self.spec.chain, self.spool.path)
            self._spooled = len(records)
            return
        self._spooled = len(keep)

    async def _replay_each(self, rows: list[dict[str, Any]], dropped: set[UUID],
                           stuck: set[UUID]) -> Failure | None:
        for row in rows:
            failure = await self._try(self._insert_dedup, [row])
            if failure is Failure.REJECTED:
                kept = await self._quarantine([row], self.last_error or "rejected") is None
                (dropped if kept else stuck).add(row["entry_id"])
            elif failure is not None:
                return failure
        return None

    async def _insert_dedup(self, rows: list[dict[str, Any]]) -> None:
        await self._insert(rows, dedup=True)

    async def _append(self, rows: list[dict[str, Any]]) -> None:
        """The steady-state path: one round trip per batch, optimistic on the cached head.

        The statement moves ``chain_heads`` only from the head the rows were hashed on, so
        a concurrent writer (another process) makes it insert nothing; then re-read the
        head and hash again. After a few lost races, fall back to the locking path.
        """
        spec = self.spec
        async with connection(self.pool, self.timeout) as conn:
            for _ in range(3):
                old = self._head
                self._head = None  # stale unless this attempt succeeds
                if old is None:
                    found = await conn.fetchrow(
                        "SELECT seq, row_hash FROM chain_heads WHERE chain = $1",
                        spec.chain,
                        timeout=self.timeout,
                    )
                    old = chainmod.Head(found["seq"], bytes(found["row_hash"]))
                new = chainmod.extend(spec.chain, old, rows)
                columns = [[r[name] for r in rows] for name, _ in spec.columns]
                inserted = await conn.fetchval(
                    spec.append_sql,
                    *columns,
                    spec.chain,
                    old.seq,
                    old.row_hash,
                    new.seq,
                    new.row_hash,
                    timeout=self.timeout,
                )
                if inserted == len(rows):
                    self._head = new
                    return
        await self._insert(rows, dedup=False)

    async def _insert(self, rows: list[dict[str, Any]], *, dedup: bool) -> None:
        """The locking path (replay, contention): ``SELECT ... FOR UPDATE`` on the head."""
        self._head = None
        spec = self.spec
        async with connection(self.pool, self.timeout) as conn, conn.transaction():
            head_row = await conn.fetchrow(
                "SELECT seq, row_hash FROM chain_heads WHERE chain = $1 FOR UPDATE",
                spec.chain,
                timeout=self.timeout,
            )
            if dedup:
                # A commit whose acknowledgement was lost may already hold some of these.
                landed = {
                    r["entry_id"]
                    for r in await conn.fetch(
                        f"SELECT entry_id FROM {spec.table} WHERE entry_id = ANY($1::uuid[])",  # noqa: S608
                        [r["entry_id"] for r in rows],
                        timeout=self.timeout,
                    )
                }
                rows = [r for r in rows if r["entry_id"] not in landed]
                if not rows:
                    return
            head = chainmod.extend(
                spec.chain, chainmod.Head(head_row["seq"], bytes(head_row["row_hash"])), rows
            )
            columns = [[r[name] for r in rows] for name, _ in spec.columns]
            await conn.execute(spec.insert_sql, *columns, timeout=self.timeout)
            await conn.execute(
                "UPDATE chain_heads SET seq = $2, row_hash = $3 WHERE chain = $1",
                spec.chain,
                head.seq,
                head.row_hash,
                timeout=self.timeout,
            )
