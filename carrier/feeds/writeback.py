"""Durable write-back: call outcomes become outbound messages to the schedule's source.

``Writeback.record(outcome, context)`` (called by ``OutcomeRecorder``, which wraps the
application's call handler in ``carrier serve``) maps a :class:`carrier.plugin.CallOutcome`
on a feed appointment or patient to a write-back kind and inserts one ``feed_outbox`` row
per configured destination (``hl7``, ``fhir``). The row's ``dedup_key`` (call id,
destination, kind) makes a repeat a no-op (never duplicated); its payload is encrypted
with the records keys. ``Writeback.deliver_due`` leases due rows (``FOR UPDATE SKIP
LOCKED``, so several processes share the work), sends each (MLLP: the receiver's ACK
decides; FHIR: the server's answer), and marks it ``sent``; a transient failure sets the
next try after a capped back-off (never dropped), a refusal by content (AE, 4xx) marks it
``failed`` for an operator (``carrier feeds outbox``, ``carrier feeds retry ID``).
``note_unanswered`` adds "no answer" for feed appointments whose reminder outreach the
dialer gave up on. An outcome met by a database outage is fsync'd to a spool and queued
on the next round (``replay``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import asyncpg
import hl7.mllp

from carrier.call import Direction
from carrier.feeds.hl7_out import Outcome, ack_code, message_for
from carrier.plugin import (
    AppointmentSource,
    AppointmentState,
    CallContext,
    CallHandler,
    CallOutcome,
    OutcomeKind,
)
from carrier.records.spool import Spool
from carrier.records.store import Records

log = logging.getLogger(__name__)
KIND_OF: Mapping[OutcomeKind, str] = {
    OutcomeKind.CONFIRMED: "confirmed", OutcomeKind.CANCELLED: "cancelled",
    OutcomeKind.RESCHEDULED: "rescheduled", OutcomeKind.OPTED_OUT: "opted_out",
}
STATE_KINDS: Mapping[AppointmentState | None, str] = {
    AppointmentState.CONFIRMED: "confirmed", AppointmentState.CLOSED: "cancelled"}
DETAIL_KINDS = {"refill_requested": "refill_request"}  # the application's finer outcomes
MAX_BACKOFF_S = 600.0
DATABASE_AWAY = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class DeliveryError(Exception):
    """A delivery that did not go through; ``retry``: try again later (else: failed)."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        self.reason = reason
        self.retry = retry
        super().__init__(reason)


class Destination(Protocol):
    async def send(self, outcome: Outcome) -> None: ...


@dataclass(frozen=True)
class MllpDestination:
    host: str
    port: int
    style: str = "siu"  # siu | oru
    timeout: float = 10.0

    async def send(self, outcome: Outcome) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await hl7.mllp.open_hl7_connection(self.host, self.port)
                try:
                    writer.writeblock(message_for(outcome, self.style))
                    await writer.drain()
                    reply = await reader.readblock()
                finally:
                    writer.close()
        except (OSError, TimeoutError, asyncio.IncompleteReadError,
                hl7.mllp.InvalidBlockError) as exc:
            raise DeliveryError(exc.__class__.__name__, retry=True) from exc
        code, err = ack_code(bytes(reply))
        if code in ("AA", "CA"):
            return
        # AR (or CR): refused for now; AE (CE): the content was refused, resending won't help.
        raise DeliveryError(f"{code or 'no ACK'} {err}".strip(), retry=code in ("AR", "CR", ""))


async def _send(dest: Destination | None, outcome: Outcome) -> None:
    if dest is None:  # set up in another process, or taken out of the settings since
        raise DeliveryError("destination not configured", retry=True)
    await dest.send(outcome)


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(MAX_BACKOFF_S, 5.0 * 2 ** max(0, attempts - 1)))


class Writeback:
    def __init__(self, records: Records, destinations: Mapping[str, Destination], *,
                 clock: Callable[[], dt.datetime] | None = None, spool: Spool | None = None
                 ) -> None:
        self.records = records
        self.destinations = dict(destinations)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.wake = asyncio.Event()
        self.spool = spool or Spool(records.outbox.spool.path.with_name("feeds-writeback.jsonl"))

    async def record(self, outcome: CallOutcome, context: CallContext, *,
                     kind: str | None = None) -> list[int]:
        """Queue ``outcome`` for each destination; the new rows' ids ([] if nothing).
        ``kind``: what the call did to the appointment, when the outcome does not say.
        With the database away, the outcome is fsync'd to the spool and queued on the next
        delivery round (``replay``): never lost."""
        kind = DETAIL_KINDS.get(outcome.detail) or KIND_OF.get(outcome.kind) or kind
        if kind is None or not self.destinations:
            return []
        entry = {"kind": kind, "call_id": outcome.call_id, "detail": outcome.detail,
                 "appointment_id": context.appointment_id,
                 "patient_id": outcome.patient_id or context.patient_id,
                 "at": self.clock().isoformat()}
        try:
            ids = await self._record(entry)
        except DATABASE_AWAY as exc:
            log.warning("feeds: write-back spooled (%s)", exc.__class__.__name__)
            await asyncio.to_thread(self.spool.append, [entry])
            return []
        self.wake.set()
        return ids

    async def note_unanswered(self, *, limit: int = 100) -> int:
        """Queue "no answer" for feed appointments whose outreach the dialer finished
        without reaching anyone (no answer or busy to the last dial, or expired); read-only
        on the dialer's table. How many were queued."""
        if not self.destinations:
            return 0
        first = next(iter(self.destinations))
        rows = await self.records.pool.fetch(
            "SELECT o.id, o.appointment_id, o.patient_id FROM dialer_outreach o"
            " JOIN feed_appointments f ON f.app_id = o.appointment_id"
            " WHERE o.state IN ('done', 'expired') AND (o.outcome LIKE 'no_answer%'"
            " OR o.outcome LIKE 'busy%') AND NOT EXISTS (SELECT 1 FROM feed_outbox b"
            " WHERE b.dedup_key = 'outreach-' || o.id || ':' || $1 || ':no_answer')"
            " ORDER BY o.id LIMIT $2", first, limit)
        for r in rows:
            await self.record(
                CallOutcome(f"outreach-{r['id']}", OutcomeKind.FAILED),
                CallContext(Direction.OUTBOUND, patient_id=r["patient_id"],
                            appointment_id=r["appointment_id"]), kind="no_answer")
        return len(rows)

    async def replay(self) -> int:
        """Queue what was spooled while the database was away; how many outcomes."""
        entries = await asyncio.to_thread(self.spool.read) if len(self.spool) else []
        for entry in entries:  # a repeat after a partial replay is a no-op (dedup_key)
            await self._record(entry)
        if entries:
            await asyncio.to_thread(self.spool.clear)
        return len(entries)

    async def _record(self, e: Mapping[str, Any]) -> list[int]:
        found = await self._subject(e["appointment_id"], e["patient_id"])
        if found is None:
            return []  # not from a feed: nothing to write back to
        source, authority, mrn, ref = found
        at = dt.datetime.fromisoformat(e["at"])
        ids = []
        for dest in self.destinations:
            key = f"{e['call_id']}:{dest}:{e['kind']}"
            control = "CWB" + hashlib.sha256(key.encode()).hexdigest()[:17].upper()
            payload = Outcome(e["kind"], source, authority, mrn, ref, e["call_id"], at,
                              control, e["detail"])
            row = await self.enqueue(dest, key, payload)
            if row is not None:
                ids.append(row)
        return ids

    async def enqueue(self, dest: str, key: str, payload: Outcome) -> int | None:
        data = json.dumps({**dataclasses.asdict(payload), "at": payload.at.isoformat()})
        ct = self.records.keys.encrypt(data, "feed_outbox", "payload", key)
        row_id = await self.records.pool.fetchval(
            "INSERT INTO feed_outbox (dedup_key, destination, kind, payload_ct, next_at,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (dedup_key) DO NOTHING"
            " RETURNING id", key, dest, payload.kind, ct, self.clock())
        if row_id is not None:
            await self.records.audit("feed", "feed.writeback.queued", ("feed_outbox", row_id),
                                     payload.kind, {"destination": dest}, queued=True)
        return None if row_id is None else int(row_id)

    async def _subject(self, appointment_id: str | None, patient_id: str | None
                       ) -> tuple[str, str, str, str | None] | None:
        pool, ref, source = self.records.pool, None, None
        if appointment_id:
            row = await pool.fetchrow("SELECT source, ref, patient_id FROM feed_appointments"
                                      " WHERE app_id = $1", appointment_id)
            if row is not None:
                ref, source, patient_id = row["ref"], row["source"], str(row["patient_id"])
        if not patient_id:
            return None
        row = await pool.fetchrow("SELECT ref_bidx, authority, ref_ct FROM feed_patients"
                                  " WHERE patient_id = $1 LIMIT 1", UUID(patient_id))
        if row is None:
            return None
        bidx = bytes(row["ref_bidx"])
        mrn = self.records.keys.decrypt_str(bytes(row["ref_ct"]), "feed_patients", "ref_ct",
                                            bidx.hex())
        return source or row["authority"], row["authority"], mrn, ref

    async def deliver_due(self, *, limit: int = 20, only: list[int] | None = None) -> int:
        """Send what is due (or the rows ``only``); how many were sent."""
        await self.replay()
        now = self.clock()
        rows = await self.records.pool.fetch(
            "UPDATE feed_outbox SET attempts = attempts + 1, leased_until = $1::timestamptz"
            " + interval '2 minutes' WHERE id IN (SELECT id FROM feed_outbox WHERE"
            " status = 'pending' AND next_at <= $1 AND (leased_until IS NULL OR"
            " leased_until < $1) AND ($3::bigint[] IS NULL OR id = ANY($3)) ORDER BY id"
            " LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id, dedup_key, destination,"
            " payload_ct, attempts", now, limit, only)
        sent = 0
        for row in sorted(rows, key=lambda r: r["id"]):
            sent += await self._deliver(row)
        return sent

    async def _deliver(self, row: Mapping[str, Any]) -> bool:
        data = json.loads(self.records.keys.decrypt_str(
            bytes(row["payload_ct"]), "feed_outbox", "payload", row["dedup_key"]))
        outcome = Outcome(**{**data, "at": dt.datetime.fromisoformat(data["at"])})
        dest = self.destinations.get(row["destination"])
        try:
            await _send(dest, outcome)
        except DeliveryError as exc:
            status = "pending" if exc.retry else "failed"
            await self.records.pool.execute(
                "UPDATE feed_outbox SET status = $2, next_at = $3, leased_until = NULL,"
                " last_error = $4 WHERE id = $1", row["id"], status,
                self.clock() + backoff(row["attempts"]), exc.reason[:200])
            log.warning("feeds: write-back %d not delivered (%s)", row["id"], exc.reason)
            return False
        await self.records.pool.execute(
            "UPDATE feed_outbox SET status = 'sent', sent_at = $2, leased_until = NULL,"
            " last_error = NULL WHERE id = $1", row["id"], self.clock())
        await self.records.audit("feed", "feed.writeback.sent", ("feed_outbox", row["id"]),
                                 outcome.kind, {"destination": row["destination"]},
                                 queued=True)
        return True

    async def run(self, stop: asyncio.Event, *, interval: float = 5.0) -> None:
        """Deliver until ``stop``: on each new row, and every ``interval`` seconds."""
        while not stop.is_set():
            self.wake.clear()
            try:
                await self.note_unanswered()
                await self.deliver_due()
            except DATABASE_AWAY as exc:  # database away: the next round retries
                log.warning("feeds: write-back pass failed (%s)", exc.__class__.__name__)
            waits = [asyncio.ensure_future(self.wake.wait()),
                     asyncio.ensure_future(stop.wait())]
            _, _pending = await asyncio.wait(waits, timeout=interval,
                                            return_when=asyncio.FIRST_COMPLETED)
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)


class OutcomeRecorder:
    """The application's call handler, with each outcome queued for write-back and tried
    at once (bounded by ``try_for`` seconds; what does not go now is retried by ``run``).

    With ``appointments`` (the application's ``AppointmentSource``), the appointment's state
    before and after the call decides too: a call cut at its length limit after the patient
    confirmed still writes the confirmation back."""

    def __init__(self, inner: CallHandler, writeback: Writeback, *,
                 appointments: AppointmentSource | None = None, try_for: float = 3.0) -> None:
        self.inner = inner
        self.writeback = writeback
        self.appointments = appointments
        self.try_for = try_for

    async def __call__(self, call: Any, context: CallContext) -> CallOutcome:
        before = await self._state(context)
        outcome = await self.inner(call, context)
        kind = None
        if before is not None:  # what the call did to the appointment, however it ended
            after = await self._state(context)
            kind = STATE_KINDS.get(after) if after is not before else None
        await record_and_try(self.writeback, outcome, context, self.try_for, kind=kind)
        return outcome

    async def _state(self, context: CallContext) -> AppointmentState | None:
        if self.appointments is None or not context.appointment_id:
            return None
        try:
            return await self.appointments.state(context.appointment_id)
        except DATABASE_AWAY:
            return None  # unknown: the call's own outcome decides


async def record_and_try(writeback: Writeback, outcome: CallOutcome, context: CallContext,
                         try_for: float, *, kind: str | None = None) -> None:
    """Queue and try at once; a slow or absent database never fails the call."""
    ids = await writeback.record(outcome, context, kind=kind)
    if ids:
        try:
            async with asyncio.timeout(try_for):
                await writeback.deliver_due(only=ids)
        except DATABASE_AWAY as exc:  # TimeoutError included: the loop delivers it
            log.info("feeds: write-back left for the retry loop (%s)",
                     exc.__class__.__name__)

