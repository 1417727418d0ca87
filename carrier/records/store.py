"""The records facade: the one owner of the carrier's tables (patients, consent, DNC, audit,
calls). Nothing else writes them; other rooms call this.

    records = await Records.open(dsn, kek, spool_dir=data_dir / "spool")
    pid = await records.add_patient("Testa Patientson", "+1 555 555 0101",
                                    dob=date(1970, 1, 1), member_id="SYN-0001",
                                    actor="op:alice", reason="registration")
    await records.consent_grant(pid, Channel.VOICE, ConsentKind.TCPA_EXPRESS_WRITTEN,
                                source="web_form", evidence_ref="form-123", actor="op:alice")
    ok = await records.has_consent("+15555550101", Channel.VOICE)   # the dialer's hot path
    await records.audit("op:alice", "config.change", ("trunk", "t1"), "new route", {"k": 1})
    await records.record_call(CallRecord(...), [("agent", "Hello ...")])
    records.health()            # per-writer liveness, spool and dead-letter counts
    await records.close()

The operations live in one module per table family, each documented there:
``audit`` (audit log, dial decisions, chain verification), ``patients`` (encrypted PHI,
address), ``consent`` (hash-chained ledger), ``dnc`` (do-not-call), ``calls`` (call records,
encrypted transcripts, answers, recordings). ``anchor`` signs chain heads into a file outside
the database (``checkpoint()``; periodic when ``checkpoint_interval`` is set).

Everything that must not be lost is durable when the call returns: the two hash chains
through their writers (``appender``), the plain tables through the outbox (``outbox``):
committed, or fsync'd to ``spool_dir`` while Postgres is away and replayed when it returns.
A row the database refuses goes to a dead-letter file beside the spool; ``health()`` counts
it. Other PHI in other components' tables: ``records.keys.encrypt(value, table, column,
row_id) -> bytes`` and ``records.keys.decrypt(...)`` with the same three names.

``records.pool`` is shared (role ``carrier_app``). It skips asyncpg's per-release session
reset for speed, so never leave session state on a pooled connection (``SET``, ``LISTEN``,
session advisory locks); use ``SET LOCAL`` / ``pg_advisory_xact_lock`` in a transaction.
Timestamps default to the wall clock; pass ``at=`` to control them (tests, replays).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from carrier.errors import OperatorError
from carrier.records import calls, cdr, dnc, feed_outbox
from carrier.records import keys as keysmod
from carrier.records.anchor import Anchor
from carrier.records.appender import AUDIT, CONSENT, ChainWriter
from carrier.records.audit import PhiInDetails, check_details, verify_chain
from carrier.records.calls import CallRecord, CallStore
from carrier.records.cdr import CdrStore
from carrier.records.consent import Channel, ConsentEntry, ConsentKind, ConsentLedger
from carrier.records.crypto import KeyEncryptionKey, KeyRing
from carrier.records.dbedge import UNAVAILABLE, RecordsUnavailable, WriterHealth, WriterStopped
from carrier.records.dnc import DncStatus, DoNotCall
from carrier.records.number_optouts import NumberOptOuts
from carrier.records.outbox import Outbox
from carrier.records.patients import Patient, PatientAddress, Patients
from carrier.records.spool import Spool

# Errors meaning "the database is not reachable right now", for other rooms that read it.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (RecordsUnavailable, *UNAVAILABLE)

__all__ = [
    "DATABASE_UNAVAILABLE", "CallRecord", "Channel",
    "ConsentEntry", "ConsentKind", "DncStatus", "Patient",
    "PatientAddress", "PhiInDetails", "Records", "RecordsHealth", "RecordsUnavailable",
    "WriterHealth", "WriterStopped", "check_details", "verify_chain",
]

log = logging.getLogger(__name__)
_RELOAD_FAILURES: tuple[type[BaseException], ...] = (
    OperatorError, asyncpg.PostgresError, *UNAVAILABLE)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset hook: skip asyncpg's ``RESET ALL; UNLISTEN *; ...`` round trip on every
    release (it doubles the cost of a consent check). asyncpg still rolls back an open
    transaction. Callers must not leave session state on pooled connections: use
    ``SET LOCAL`` inside a transaction, never ``SET``/``LISTEN``/session advisory locks."""


@dataclass(frozen=True)
class RecordsHealth:
    """What the health check reads: every durable writer's state."""

    writers: tuple[WriterHealth, ...]

    @property
    def ok(self) -> bool:
        return all(w.ok for w in self.writers)

    def problems(self) -> list[str]:
        """One line per writer that is not serving (no PHI)."""
        out = []
        for w in self.writers:
            if not w.alive:
                out.append(f"{w.name} writer not running (restarts {w.restarts})")
            if w.quarantined:
                out.append(f"{w.name} writer: {w.quarantined} row(s) in the dead-letter file")
        return out


class Records(NumberOptOuts, Patients, ConsentLedger, DoNotCall, CallStore, CdrStore):
    def __init__(
        self,
        pool: asyncpg.Pool,
        keys: KeyRing,
        kek: KeyEncryptionKey,
        spool_dir: Path,
        *,
        retry_interval: float = 1.0,
        anchor: Anchor | None = None,
    ) -> None:
        self.pool = pool
        self.keys = keys
        self.kek = kek
        self.audit_writer = ChainWriter(
            pool, AUDIT, Spool(spool_dir / "audit.jsonl"), retry_interval=retry_interval
        )
        self.consent_writer = ChainWriter(
            pool, CONSENT, Spool(spool_dir / "consent.jsonl"), retry_interval=retry_interval
        )
        self.outbox = Outbox(
            pool, Spool(spool_dir / "outbox.jsonl"),
            {op.name: op for op in (*calls.OPS, *cdr.OPS, *dnc.OPS, *feed_outbox.OPS)},
            retry_interval=retry_interval,
        )
        self.optouts = Spool(spool_dir / "optouts.jsonl")  # STOPs by number in an outage
        self._optouts_lock = asyncio.Lock()
        self.anchor = anchor
        self._checkpoints: asyncio.Task[None] | None = None
        self._key_watch: asyncpg.Connection | None = None
        self._watch_at: tuple[str, str | None] = ("", None)
        self._closing = False
        self._retry_interval = retry_interval
        self._reloads: set[asyncio.Task[None]] = set()
        self.keys_reloaded = asyncio.Event()
        """Set after each reload a notification asked for (``watch_keys``)."""

    @classmethod
    async def open(
        cls,
        dsn: str,
        kek: KeyEncryptionKey,
        spool_dir: Path,
        *,
        app_role: str | None = "carrier_app",
        min_size: int = 2,
        max_size: int = 10,
        retry_interval: float = 1.0,
        anchor: Anchor | None = None,
        checkpoint_interval: float | None = None,
        kek_source: Callable[[], KeyEncryptionKey] | None = None,
        watch_keys: bool = False,
    ) -> Records:
        """Connect as the application role (no UPDATE/DELETE on the ledgers) and start.

        ``retry_interval``: seconds between attempts to replay the spool after an outage.
        ``anchor``: where signed chain heads go; with ``checkpoint_interval`` (seconds) one
        is written that often while the head moves. ``kek_source``: the configured KEK read
        again, when data keys added later are wrapped by another (a KEK rotation).
        ``watch_keys`` (``carrier serve``): a connection of its own LISTENs for ``carrier
        keys rotate``/``reencrypt`` and loads new data-key versions at once, so values
        re-encrypted under them read on (without it: on SIGHUP, a restart, or a patient
        read that meets one); a dropped watch connects again and loads the keys then.
        """
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            reset=_keep_session,
            **({"user": app_role} if app_role else {}),
        )
        try:
            async with pool.acquire() as conn:
                keys = await keysmod.load_keyring(conn, kek)
        except BaseException:
            await pool.close()
            raise
        self = cls(pool, keys, kek, spool_dir, retry_interval=retry_interval, anchor=anchor)
        self.kek_source = kek_source
        self.audit_writer.start()
        self.consent_writer.start()
        self.outbox.start()
        if watch_keys:
            await self._watch_keys(dsn, app_role)
        if anchor is not None and checkpoint_interval:
            self._checkpoints = asyncio.get_running_loop().create_task(
                self._checkpoint_every(checkpoint_interval), name="chain-checkpoints")
        return self

    async def _watch_keys(self, dsn: str, app_role: str | None) -> None:
        self._watch_at = (dsn, app_role)
        await self._listen()

    async def _listen(self) -> None:
        dsn, app_role = self._watch_at
        conn = await asyncpg.connect(dsn, **({"user": app_role} if app_role else {}))

        def changed(*_: object) -> None:
            self._spawn(self._reload_quietly())

        def dropped(_: object) -> None:
            if not self._closing:
                self._spawn(self._relisten())

        listening = False
        try:
            await conn.add_listener(keysmod.KEYS_CHANNEL, changed)
            listening = True
        finally:
            if not listening:  # refused, dropped or cancelled (close) half-way
                conn.terminate()
        conn.add_termination_listener(dropped)
        self._key_watch = conn

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def _relisten(self) -> None:
        """The watch connection dropped (a database restart, ``pg_terminate_backend``): a
        rotation notified meanwhile reached nobody. Connect again (every
        ``retry_interval`` while the database is away), then load the keys once."""
        while not self._closing:
            try:
                await self._listen()
            except (asyncpg.PostgresError, *UNAVAILABLE) as exc:
                log.warning("data-key watch not reconnected (%s)", type(exc).__name__)
                await asyncio.sleep(self._retry_interval)
                continue
            await self._reload_quietly()
            return

    async def _reload_quietly(self) -> None:
        try:
            await self.reload_keys()
        except _RELOAD_FAILURES as exc:  # the next notification or read retries
            log.warning("data keys not reloaded (%s)", type(exc).__name__)
            return
        self.keys_reloaded.set()

    async def close(self) -> None:
        self._closing = True
        for task in list(self._reloads):  # a reconnecting watch among them
            task.cancel()
        if self._key_watch is not None:
            with contextlib.suppress(*UNAVAILABLE):
                await self._key_watch.close(timeout=5)
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoints
            await self._checkpoint_quietly()  # the last heads this process wrote
        await self.audit_writer.close()
        await self.consent_writer.close()
        await self.outbox.close()
        self.optouts.close()
        try:
            # A connection the server dropped mid-operation can make a graceful close wait
            # for a reply that never comes.
            await asyncio.wait_for(self.pool.close(), timeout=10.0)
        except TimeoutError:
            self.pool.terminate()

    def unrecorded(self) -> dict[str, int]:
        """Writes refused by both the database and the disk (the spool), by writer
        (``audit``, ``consent``, ``outbox``): counts only."""
        return {w.name: w.unrecorded for w in (self.audit_writer, self.consent_writer,
                                               self.outbox) if w.unrecorded}

    def spooled(self) -> int:
        """Writes waiting in the spool for the database."""
        return sum(w.spooled for w in (self.audit_writer, self.consent_writer, self.outbox)) \
            + self.optouts_waiting()

    async def drain_spool(self) -> bool:
        """Replay spooled writes now; True when nothing is left waiting."""
        n = await self._optouts_settled()  # their revocations go through the writers
        a = await self.audit_writer.drain()
        c = await self.consent_writer.drain()
        o = await self.outbox.drain()
        return n and a and c and o

    def health(self) -> RecordsHealth:
        """Liveness of every durable writer (for ``carrier health`` and the serve loop)."""
        return RecordsHealth((self.audit_writer.health(), self.consent_writer.health(),
                              self.outbox.health()))

    async def checkpoint(self) -> int:
        """Sign the current chain heads into the anchor file; how many were written."""
        if self.anchor is None:
            raise RuntimeError("no anchor configured")
        await self.drain_spool()
        async with self.pool.acquire() as conn:
            return await self.anchor.checkpoint(conn, source="periodic")

    async def _checkpoint_every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._checkpoint_quietly()

    async def _checkpoint_quietly(self) -> None:
        """A checkpoint that waits for the next one when the database is away."""
        try:
            await self.checkpoint()
        except (*UNAVAILABLE, asyncpg.PostgresError, WriterStopped) as exc:
            log.warning("chain checkpoint skipped (%s)", exc.__class__.__name__)
