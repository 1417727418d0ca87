"""Start the embedded PostgreSQL again when its server dies under ``carrier serve``.

A postmaster killed under a running node (``kill -9``, the OOM killer) left ``serve`` up
but without a database: the ``database`` check failed, every consent and audit write went
to the spool, and the node answered 503 until someone restarted ``serve``. Now a failed
ping (:func:`carrier.app._ping_database`) asks :class:`Reviver` to look: when the database
is the embedded one and its postmaster is gone (no process, or an exited one not yet
reaped), the server is started again through :meth:`EmbeddedPostgres.start`, which decides
under the cluster's lock file, so a server another process started meanwhile is attached
to, never doubled. A start that fails (the killed server's backends still hold its shared
memory, a full disk) is tried again after a growing pause. Once a ping succeeds again the
writers replay their spool and the restart is audited (``database.restart``).

An external database (``database.url``) is never restarted: it is only pinged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from carrier.errors import OperatorError
from carrier.records.dbedge import WriterStopped
from carrier.records.embedded import EmbeddedPostgres
from carrier.records.store import Records

log = logging.getLogger(__name__)

BACKOFF_S = (0.0, 2.0, 5.0, 15.0, 30.0, 60.0)
"""Pause before each further start attempt of one outage (the last one repeats)."""


class Reviver:
    """Restarts ``server`` (None: an external database, never restarted) after its death."""

    def __init__(self, server: EmbeddedPostgres | None, records: Records, *,
                 backoff: Sequence[float] = BACKOFF_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.server = server
        self.records = records
        self.backoff = tuple(backoff) or (0.0,)
        self.clock = clock
        self.attempts = 0  # start attempts in the current outage
        self.restarts = 0  # servers started again since serve started
        self._next = 0.0
        self._unaudited = 0  # restarts not yet written to the audit chain

    async def after_failure(self) -> bool:
        """A ping failed: start the server again if it is gone (and the pause since the
        last attempt is over). True when it was started."""
        server = self.server
        if server is None or self.clock() < self._next:
            return False
        if await asyncio.to_thread(lambda: server.running):
            return False  # up but not answering (busy, starting): not ours to restart
        self.attempts += 1
        pause = self.backoff[min(self.attempts, len(self.backoff) - 1)]
        self._next = self.clock() + pause
        try:
            await asyncio.to_thread(server.start)
        except OperatorError as exc:
            log.warning("embedded PostgreSQL in %s is down and did not start again (attempt"
                        " %d: %s); next attempt in %.0f s", server.pgdata, self.attempts,
                        exc, pause)
            return False
        log.warning("embedded PostgreSQL in %s was down (its server had exited); started"
                    " it again (attempt %d)", server.pgdata, self.attempts)
        self.restarts += 1
        self._unaudited += 1
        return True

    async def after_success(self) -> None:
        """A ping succeeded: end the outage; replay the spool and audit a restart once."""
        attempts, self.attempts, self._next = self.attempts, 0, 0.0
        if not self._unaudited:
            return
        try:
            await self.records.drain_spool()  # the writers replay only before a new batch
            await self.records.audit("system", "database.restart", ("service", "carrier"),
                                     "embedded PostgreSQL had exited; carrier serve started"
                                     " it", {"restarts": self._unaudited, "attempts": attempts})
        except (OSError, WriterStopped) as exc:  # neither the database nor the spool took it
            log.warning("database restart not audited yet (%s); tried again after the next"
                        " ping", type(exc).__name__)
            return
        self._unaudited = 0
