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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from carrier.records import chain as chainmod
from carrier.records.spool import Spool

log = logging.getLogger(__name__)

# Errors meaning "the database is not there right now" (as opposed to a bad statement).
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
)


class WriterStopped(RuntimeError):
    """The writer task ended (closed, or failed unexpectedly); the write was not made."""


@contextlib.asynccontextmanager
async def _connection(
    pool: asyncpg.Pool, acquire_timeout: float
) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection that is terminated, never returned to the pool, when its protocol
    is out of step with the server.

    ``pg_terminate_backend`` (or a server shutdown) sends a FATAL error to an idle pooled
    connection and then closes the socket. asyncpg reads the error in its idle state, which
    leaves the protocol expecting a ReadyForQuery that never comes; until the EOF is processed
    (a later event loop turn) the connection still looks open, and the pool hands it out. The
    next statement then fails with ``InternalClientError`` ("cannot switch to state ...;
    another operation is in progress"). The pool's reset hook does not touch such a
    connection, so terminate it here and report it as the unreachable database it is.
    """
    async with pool.acquire(timeout=acquire_timeout) as conn:
        try:
            yield conn
        except asyncpg.InternalClientError as exc:
            conn.terminate()
            raise asyncpg.ConnectionDoesNotExistError(
                "connection broken (protocol out of step with the server)"
            ) from exc


@dataclass(frozen=True)
class ChainTable:
    chain: str
    table: str
    columns: tuple[tuple[str, str], ...]  # (name, SQL type) in insert order
    uuid_fields: tuple[str, ...]

    @property
    def append_sql(self) -> str:
        """One autocommit statement: move the head from the expected value and insert, or
        (another writer moved it first) do nothing and return 0."""
        n = len(self.columns)
        head = f"chain = ${n + 1} AND seq = ${n + 2} AND row_hash = ${n + 3}"
        # names are the module constants below, never input
        return (
            "WITH moved AS (UPDATE chain_heads"  # noqa: S608
            f" SET seq = ${n + 4}, row_hash = ${n + 5} WHERE {head} RETURNING 1),"
            f" ins AS ({self.insert_sql} WHERE EXISTS (SELECT 1 FROM moved) RETURNING 1)"
            " SELECT count(*) FROM ins"
        )

    @property
    def insert_sql(self) -> str:
        names = ", ".join(n for n, _ in self.columns)
        arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(self.columns, start=1))
        # table and column names are the module constants below, never input
        return f"INSERT INTO {self.table} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608


_HASHES = (("prev_hash", "bytea"), ("row_hash", "bytea"))
AUDIT = ChainTable(
    "audit",
    "audit_log",
    (
        ("seq", "bigint"),
        ("entry_id", "uuid"),
        ("at", "timestamptz"),
        ("actor", "text"),
        ("action", "text"),
        ("record_type", "text"),
        ("record_id", "text"),
        ("reason", "text"),
        ("details", "text"),
        *_HASHES,
    ),
    ("entry_id",),
)
CONSENT = ChainTable(
    "consent",
    "consent_ledger",
    (
        ("seq", "bigint"),
        ("entry_id", "uuid"),
        ("at", "timestamptz"),
        ("patient_id", "uuid"),
        ("channel", "text"),
        ("kind", "text"),
        ("event", "text"),
        ("source", "text"),
        ("evidence_ref", "text"),
        ("actor", "text"),
        *_HASHES,
    ),
    ("entry_id", "patient_id"),
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_spool(spec: ChainTable, row: dict[str, Any]) -> dict[str, Any]:
    out = {n: row[n] for n in chainmod.FIELDS[spec.chain] if n != "seq"}
    out["at"] = chainmod.micros(row["at"])
    for name in spec.uuid_fields:
        out[name] = str(row[name])
    return out


def from_spool(spec: ChainTable, record: dict[str, Any]) -> dict[str, Any]:
    row = dict(record)
    row["at"] = _EPOCH + timedelta(microseconds=record["at"])
    for name in spec.uuid_fields:
        row[name] = UUID(record[name])
    return row


@dataclass
class _Pending:
    row: dict[str, Any]
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class ChainWriter:
    def __init__(
        self,
        pool: asyncpg.Pool,
        spec: ChainTable,
        spool: Spool,
        *,
        max_batch: int = 2000,
        timeout: float = 5.0,
        retry_interval: float = 1.0,
    ) -> None:
        self.pool = pool
        self.spec = spec
        self.spool = spool
        self.max_batch = max_batch
        self.timeout = timeout
        self.retry_interval = retry_interval
        self._queue: asyncio.Queue[_Pending | asyncio.Future[bool]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._spooled = len(spool.read())
        self._next_retry = 0.0
        self._head: chainmod.Head | None = None  # last head this writer saw (a hint only)
        self.committed = 0  # rows committed to Postgres by this writer (direct or replayed)
        self.spool_writes = 0  # batches that went to the spool (outage seen)
        self.replays = 0  # successful spool replays
        self._inflight: list[asyncio.Future[Any]] = []  # waiters of the batch being written
        self._stopped: BaseException | None = None

    @property
    def spooled(self) -> int:
        """Rows waiting in the spool."""
        return self._spooled

    def start(self) -> None:
        self._stopped = None
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"{self.spec.chain}-writer"
        )
        self._task.add_done_callback(self._on_stopped)

    def _on_stopped(self, task: asyncio.Task[None]) -> None:
        """The writer is gone: fail every waiter now (none may wait forever) and later ones."""
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            log.error("%s chain: writer stopped (%s)", self.spec.chain, exc.__class__.__name__)
        self._stopped = exc or WriterStopped(f"{self.spec.chain} writer closed")
        waiters = list(self._inflight)
        self._inflight.clear()
        while not self._queue.empty():
            item = self._queue.get_nowait()
            waiters.append(item.done if isinstance(item, _Pending) else item)
            self._queue.task_done()
        for waiter in waiters:
            if not waiter.done():
                stopped = WriterStopped(f"{self.spec.chain} writer stopped")
                stopped.__cause__ = exc
                waiter.set_exception(stopped)

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.spool.close()

    async def append(self, row: dict[str, Any]) -> None:
        if self._task is None:
            raise RuntimeError("writer not started")
        if self._stopped is not None:
            raise WriterStopped(f"{self.spec.chain} writer stopped") from self._stopped
        item = _Pending(row)
        self._queue.put_nowait(item)
        await item.done

    async def drain(self) -> bool:
        """Try to replay the spool now; True when it is empty afterwards."""
        if self._stopped is not None:
            raise WriterStopped(f"{self.spec.chain} writer stopped") from self._stopped
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(fut)
        return await fut

    async def _next_item(self, loop: asyncio.AbstractEventLoop) -> _Pending | asyncio.Future[bool]:
        while self._spooled:
            wait = max(self._next_retry - loop.time(), 0.0) or self.retry_interval
            try:
                return await asyncio.wait_for(self._queue.get(), timeout=wait)
            except TimeoutError:
                await self._replay(loop.time())
        return await self._queue.get()

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
            except asyncpg.PostgresError as exc:
                # A refused statement (not an outage): the callers learn of it; the writer
                # keeps serving later appends.
                for waiter in [p.done for p in batch] + controls:
                    if not waiter.done():
                        waiter.set_exception(exc)
            finally:
                for _ in range(len(batch) + len(controls)):
                    self._queue.task_done()
            self._inflight = []  # kept if an error escapes: _on_stopped fails those waiters

    async def _write_batch(self, batch: list[_Pending]) -> None:
        rows = [p.row for p in batch]
        if not self._spooled:
            try:
                await self._append(rows)
            except UNAVAILABLE as exc:
                log.warning(
                    "%s chain: database unavailable (%s); spooling",
                    self.spec.chain,
                    exc.__class__.__name__,
                )
                self._next_retry = asyncio.get_running_loop().time() + self.retry_interval
            else:
                self.committed += len(rows)
                for p in batch:
                    if not p.done.done():
                        p.done.set_result(None)
                return
        try:
            await asyncio.to_thread(self.spool.append, [to_spool(self.spec, r) for r in rows])
        except OSError as exc:
            for p in batch:
                if not p.done.done():
                    p.done.set_exception(exc)
            return
        self._spooled += len(rows)
        self.spool_writes += 1
        for p in batch:
            if not p.done.done():
                p.done.set_result(None)

    async def _replay(self, now: float) -> None:
        if now < self._next_retry:
            return
        records = await asyncio.to_thread(self.spool.read)
        if not records:
            self._spooled = 0
            return
        rows = [from_spool(self.spec, r) for r in records]
        try:
            for start in range(0, len(rows), self.max_batch):
                await self._insert(rows[start : start + self.max_batch], dedup=True)
        except UNAVAILABLE as exc:
            log.info("%s chain: replay deferred (%s)", self.spec.chain, exc.__class__.__name__)
            self._next_retry = now + self.retry_interval
            return
        except asyncpg.PostgresError as exc:
            # Refused, not unreachable (e.g. a schema not migrated yet): keep the spool, and
            # keep spooling new rows behind it so order holds; the operator sees the warning.
            log.warning("%s chain: replay refused (SQLSTATE %s)", self.spec.chain, exc.sqlstate)
            self._next_retry = now + self.retry_interval
            return
        await asyncio.to_thread(self.spool.clear)
        self.committed += len(rows)
        self.replays += 1
        log.info("%s chain: replayed %d spooled rows", self.spec.chain, len(rows))
        self._spooled = 0

    async def _append(self, rows: list[dict[str, Any]]) -> None:
        """The steady-state path: one round trip per batch, optimistic on the cached head.

        The statement moves ``chain_heads`` only from the head the rows were hashed on, so
        a concurrent writer (another process) makes it insert nothing; then re-read the
        head and hash again. After a few lost races, fall back to the locking path.
        """
        spec = self.spec
        async with _connection(self.pool, self.timeout) as conn:
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
        async with _connection(self.pool, self.timeout) as conn, conn.transaction():
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
