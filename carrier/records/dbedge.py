"""The writers' edge to Postgres: which failure is an outage, which is a refused row.

Every durable writer (the two chain writers, the outbox) sorts a failed write into one of
three kinds and acts on it the same way:

* ``OUTAGE`` - the database is not there (connection refused or lost, timeout, server
  shutting down). The write goes to the local spool and is replayed later.
* ``REJECTED`` - this row can never be stored as it is (a value Postgres refuses: invalid
  text, NUL, out of range; a constraint violation; text a chain cannot hash). The row goes
  to the dead-letter file beside the spool, the writer keeps serving.
* ``REFUSED`` - the statement was refused for a reason that is not the row's (a table not
  migrated yet, a permission). Kept in the spool and retried; the operator sees a warning.

Nothing else is caught: a programming error ends the writer task, which its owner restarts
and reports through ``health()``.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
from asyncpg.exceptions import _base as pgbase  # the client-side DataError lives only here

# Errors meaning "the database is not there right now" (as opposed to a bad statement).
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection reset mid-query as the server went away
)

# The row is at fault: retrying it can never succeed. asyncpg's client-side DataError ("invalid
# input for query argument") subclasses InterfaceError, so it must be tested before UNAVAILABLE.
REJECTED_ERRORS: tuple[type[BaseException], ...] = (
    pgbase.DataError,
    asyncpg.DataError,  # SQLSTATE class 22
    asyncpg.IntegrityConstraintViolationError,  # class 23
    asyncpg.ProgramLimitExceededError,  # class 54 (a value too large to index)
    UnicodeError,
)


class Failure(enum.Enum):
    OUTAGE = "outage"
    REJECTED = "rejected"
    REFUSED = "refused"


class WriterStopped(RuntimeError):
    """The writer task ended (closed, or failed unexpectedly); the write was not made."""


class RecordsUnavailable(RuntimeError):
    """The database cannot be reached right now (a read that needs it cannot be answered)."""


def classify(exc: BaseException) -> Failure | None:
    """The kind of a failed write, or None for an error no writer should swallow."""
    if isinstance(exc, REJECTED_ERRORS):
        return Failure.REJECTED
    if isinstance(exc, UNAVAILABLE):
        return Failure.OUTAGE
    if isinstance(exc, asyncpg.PostgresError):
        return Failure.REFUSED
    return None


WRITE_ERRORS: tuple[type[BaseException], ...] = (
    *REJECTED_ERRORS,
    *UNAVAILABLE,
    asyncpg.PostgresError,
)


@dataclass(frozen=True)
class WriterHealth:
    """One writer's state, for the health check (no PHI: names, counts, error classes)."""

    name: str
    alive: bool  # its task is running (False while it waits to be restarted)
    restarts: int
    spooled: int  # rows waiting in the spool for the database
    quarantined: int  # rows in the dead-letter file or a corrupt spool set aside
    outage: bool  # the last attempt found the database unreachable
    last_error: str | None = None  # class name of the last failure seen
    spooled_for: float = 0.0  # seconds the spool has held rows without emptying
    unrecorded: int = 0  # writes neither the database nor the spool took (disk full)

    @property
    def ok(self) -> bool:
        """Serving: alive and nothing quarantined (spooled rows during an outage are fine)."""
        return self.alive and self.quarantined == 0


@contextlib.asynccontextmanager
async def connection(
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
