"""The supervision both durable writers share: one task per spool, restarted after an error,
its waiters never left waiting, its spool replayed at retry intervals.

:class:`carrier.records.appender.ChainWriter` (the hash-chained ledgers) and
:class:`carrier.records.outbox.Outbox` (the plain tables) differ in how they write; this is
what they have in common:

* ``start`` runs the subclass's ``_run`` as the writer task. If the task ends by an error
  (not while closing), the writes in flight fail (they may be the cause), the queue is kept,
  and the task is started again after a back-off (0.5 s doubling, at most 30 s).
* ``close`` waits for the queue to be written, then stops the task and fails whatever is
  left, so no caller waits forever; later writes raise :class:`WriterStopped`.
* ``drain`` asks the task to replay the spool now; ``_next_item`` replays it at most once per
  ``retry_interval`` while it is not empty, between the items it hands out.
* ``health`` says whether the task is alive, how often it restarted, and what is spooled or
  quarantined; a corrupt spool is moved aside for the operator (``_read_spool``), never
  replayed blindly and never allowed to stop the writer.

Queue items are the subclass's own (anything with a ``done`` future) or bare futures, which
are control requests (``drain``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import asyncpg

from carrier.records.dbedge import WriterHealth, WriterStopped
from carrier.records.spool import DeadLetter, Spool, SpoolCorrupt, open_count

log = logging.getLogger(__name__)


class Waiting(Protocol):
    done: asyncio.Future[None]


class SupervisedWriter:
    """Base of the durable writers; subclasses write ``_run`` and ``_replay``."""

    clock: Callable[[], float] = staticmethod(time.monotonic)  # the spool's age

    def __init__(
        self,
        pool: asyncpg.Pool,
        spool: Spool,
        dead: DeadLetter,
        *,
        name: str,
        timeout: float,
        retry_interval: float,
        restart_delay: float,
    ) -> None:
        self.pool = pool
        self.spool = spool
        self.dead = dead
        self.name = name  # in health reports and logs: "audit", "consent", "outbox"
        self.timeout = timeout
        self.retry_interval = retry_interval
        self.restart_delay = restart_delay
        self._spooled_n = 0
        self.spooled_since: float | None = None  # self.clock() when the spool last filled
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._restart: asyncio.TimerHandle | None = None
        self._spooled, self.set_aside = open_count(spool)  # set aside: lines of a corrupt spool
        self._next_retry = 0.0
        self._outage = False
        self._closing = False
        self._stopped: BaseException | None = None
        self._inflight: list[asyncio.Future[Any]] = []  # waiters of what is being written
        self.restarts = 0  # times the task ended by an error and was started again
        # Writes the database did not take and the disk refused to spool (full): their
        # callers got the error; counted so a command can say what it did not record.
        self.unrecorded = 0
        self.last_error: str | None = None

    # ---- what the subclass writes ----------------------------------------------------------

    async def _run(self) -> None:
        raise NotImplementedError

    async def _replay(self, now: float) -> None:
        raise NotImplementedError

    # ---- state -----------------------------------------------------------------------------

    @property
    def spooled(self) -> int:
        """Entries waiting in the spool."""
        return self._spooled

    @property
    def _spooled(self) -> int:
        return self._spooled_n

    @_spooled.setter
    def _spooled(self, count: int) -> None:
        """Every change of the count goes here: the spool's age starts when it fills from
        empty and ends when it is empty again (a partial replay keeps it)."""
        if count and not self._spooled_n:
            self.spooled_since = self.clock()
        elif not count:
            self.spooled_since = None
        self._spooled_n = count

    def spooled_for(self) -> float:
        """Seconds the spool has held entries without emptying (0 when empty)."""
        return 0.0 if self.spooled_since is None else max(0.0, self.clock() - self.spooled_since)

    @property
    def quarantined(self) -> int:
        """Entries in the dead-letter file, and lines of a corrupt spool set aside."""
        return self.dead.count + self.set_aside

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def health(self) -> WriterHealth:
        return WriterHealth(self.name, self.alive, self.restarts, self._spooled,
                            self.quarantined, self._outage, self.last_error,
                            spooled_for=self.spooled_for(), unrecorded=self.unrecorded)

    def _check_open(self) -> None:
        """Refuse a write the writer can never make durable."""
        if self._task is None and self._restart is None:
            raise RuntimeError(f"{self.name} writer not started")
        if self._stopped is not None:
            raise WriterStopped(f"{self.name} writer stopped") from self._stopped

    # ---- the task's life -------------------------------------------------------------------

    def start(self) -> None:
        self._stopped = None
        self._restart = None
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"{self.name}-writer")
        self._task.add_done_callback(self._on_stopped)

    def _on_stopped(self, task: asyncio.Task[None]) -> None:
        """The task ended. Closing: fail every waiter (none may wait forever). An error:
        fail what was in flight (it may be the cause), keep the queue, start again."""
        exc = None if task.cancelled() else task.exception()
        waiters = list(self._inflight)
        self._inflight.clear()
        if exc is not None and not self._closing:
            self.restarts += 1
            self.last_error = exc.__class__.__name__
            log.error("%s: writer failed (%s); restarting", self.name, self.last_error)
            self._fail(waiters, exc)
            delay = min(self.restart_delay * 2 ** min(self.restarts - 1, 6), 30.0)
            self._restart = asyncio.get_running_loop().call_later(delay, self.start)
            return
        self._stopped = exc or WriterStopped(f"{self.name} writer closed")
        self._fail(waiters + self._take_queue(), exc)

    def _fail(self, waiters: list[asyncio.Future[Any]], exc: BaseException | None) -> None:
        for waiter in waiters:
            if not waiter.done():
                stopped = WriterStopped(f"{self.name} writer stopped")
                stopped.__cause__ = exc
                waiter.set_exception(stopped)

    def _take_queue(self) -> list[asyncio.Future[Any]]:
        """Empty the queue; the waiters of what was in it."""
        waiters: list[asyncio.Future[Any]] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            waiters.append(item if isinstance(item, asyncio.Future) else item.done)
            self._queue.task_done()
        return waiters

    async def close(self) -> None:
        self._closing = True
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
            self._fail(self._take_queue(), None)
            self._stopped = WriterStopped(f"{self.name} writer closed")
        if self._task is not None:
            if not self._task.done():
                await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.spool.close()
        self.dead.close()

    # ---- the spool -------------------------------------------------------------------------

    async def drain(self) -> bool:
        """Replay the spool now; True when nothing is left waiting afterwards."""
        if self._stopped is not None:
            raise WriterStopped(f"{self.name} writer stopped") from self._stopped
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(fut)
        return await fut

    async def _next_item(self, loop: asyncio.AbstractEventLoop) -> Any:
        """The next queued item; while the spool holds entries, it is replayed (at most once
        per ``retry_interval``) between items."""
        while self._spooled:
            wait = self._next_retry - loop.time()
            if wait <= 0:
                await self._replay(loop.time())
                continue  # emptied, or deferred (the next retry moved ahead)
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(self._queue.get(), timeout=wait)
        return await self._queue.get()

    async def _read_spool(self) -> list[dict[str, Any]]:
        """The spool's entries; a corrupt spool is moved aside (never replayed blindly, never
        allowed to stop the writer) and counted in ``health()``."""
        try:
            return await asyncio.to_thread(self.spool.read)
        except SpoolCorrupt:
            target, lines = await asyncio.to_thread(self.spool.set_aside)
            self.set_aside += lines
            log.exception("%s: spool corrupt; %d lines moved to %s for the operator",
                          self.name, lines, target.name)
            return []
