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
dialer gave up on. Queueing goes through the records outbox (operation ``feed_writeback``
in ``carrier.records.feed_outbox``): an outcome met by a database outage is fsync'd to the
outbox spool and queued when the database is back (``replay`` forces it on each round).
The message's subject (MRN, source, appointment ref) is resolved as it is sent.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import hl7.mllp

from carrier.call import Direction
from carrier.feeds.hl7_out import ANSWER_KINDS, Outcome, ack_code, message_for
from carrier.feeds.store import fault_origin
from carrier.plugin import (
    AppointmentSource,
    AppointmentState,
    CallContext,
    CallHandler,
    CallOutcome,
    OutcomeKind,
)
from carrier.records.chain import micros
from carrier.records.feed_outbox import feed_subject
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
DATABASE_AWAY = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError,
                 asyncpg.InternalClientError)


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
        code, err, acked = ack_code(bytes(reply))
        if acked and acked != outcome.control_id:  # an answer to another message: not ours
            raise DeliveryError("ACK for another message", retry=True)
        if code in ("AA", "CA"):
            return
        # AR (or CR): refused for now; AE (CE): the content was refused, resending won't help.
        raise DeliveryError(_refusal(code, err), retry=code in ("AR", "CR", ""))


_ACK_CODES = frozenset({"AE", "AR", "CE", "CR"})
_ERR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,20}")


def _refusal(code: str, err: str) -> str:
    """What is kept (``feed_outbox.last_error``, in clear) and logged of a refusal: the
    ACK code (MSA-1) and error code (ERR-3), only when they are codes. A receiver that puts
    free text there may quote the patient; that text is neither kept nor logged."""
    if not code:
        return "no ACK"
    if code not in _ACK_CODES:
        return "ACK code not recognised (not shown: it may quote a record)"
    if err and not _ERR_CODE.fullmatch(err):
        return f"{code} (error text not shown: it may quote a record)"
    return f"{code} {err}".strip()


async def _send(dest: Destination | None, outcome: Outcome) -> None:
    if dest is None:  # set up in another process, or taken out of the settings since
        raise DeliveryError("destination not configured", retry=True)
    await dest.send(outcome)


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(MAX_BACKOFF_S, 5.0 * 2 ** max(0, attempts - 1)))


class Writeback:
    def __init__(self, records: Records, destinations: Mapping[str, Destination], *,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.records = records
        self.destinations = dict(destinations)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.wake = asyncio.Event()

    @property
    def spool(self) -> Spool:
        """Where outcomes met during a database outage wait: the records outbox's spool."""
        return self.records.outbox.spool

    async def record(self, outcome: CallOutcome, context: CallContext, *,
                     kind: str | None = None) -> list[int]:
        """Queue ``outcome`` for each destination; the new rows' ids ([] if nothing).
        ``kind``: what the call did to the appointment, when the outcome does not say.
        Queued through the records outbox (``feed_writeback``): with the database away, the
        outcome is fsync'd to its spool and queued when the database is back; never lost."""
        kind = DETAIL_KINDS.get(outcome.detail) or KIND_OF.get(outcome.kind) or kind
        at = self.clock()
        entry = {"call_id": outcome.call_id, "detail": outcome.detail,
                 "appointment_id": context.appointment_id,
                 "patient_id": outcome.patient_id or context.patient_id,
                 "at": at.isoformat()}
        if outcome.new_slot is not None:  # rescheduled: the new slot goes back with it
            slot = outcome.new_slot
            entry |= {"new_start": slot.starts_at.isoformat(),
                      "new_end": slot.ends_at.isoformat(), "new_provider": slot.provider_id}
        wanted: list[tuple[str, str, list[str] | None]] = [
            (dest, kind, None) for dest in self.destinations if kind is not None]
        if "fhir" in self.destinations:  # queued only if the call saved such answers
            wanted += [("fhir", k, list(of)) for k, of in ANSWER_KINDS.items()]
        rows: list[dict[str, Any]] = []
        for dest, what, answers_of in wanted:
            key = f"{outcome.call_id}:{dest}:{what}"
            control = "CWB" + hashlib.sha256(key.encode()).hexdigest()[:17].upper()
            ct = self.records.keys.encrypt(
                json.dumps({**entry, "kind": what, "control_id": control}),
                "feed_outbox", "payload", key)
            rows.append({"dedup_key": key, "destination": dest, "kind": what,
                         "payload_ct": base64.b64encode(ct).decode(),
                         "answers_of": answers_of})
        if not rows:
            return []
        await self.records.outbox.put("feed_writeback", {
            "call_id": outcome.call_id, "appointment_id": entry["appointment_id"],
            "patient_id": entry["patient_id"], "at": micros(at), "rows": rows})
        if self.records.outbox.spooled:  # the database is away: queued when it is back
            log.warning("feeds: write-back spooled (database away)")
            return []
        try:  # the rows this record made (a repeat made none): same ciphertext
            found = await self.records.pool.fetch(
                "SELECT id, kind, destination FROM feed_outbox WHERE dedup_key = ANY($1)"
                " AND payload_ct = ANY($2) ORDER BY id", [r["dedup_key"] for r in rows],
                [base64.b64decode(r["payload_ct"]) for r in rows])
        except DATABASE_AWAY as exc:
            log.warning("feeds: write-back spooled (%s)", exc.__class__.__name__)
            return []
        for row in found:
            await self.records.audit("feed", "feed.writeback.queued", ("feed_outbox", row["id"]),
                                     row["kind"], {"destination": row["destination"]},
                                     queued=True)
        self.wake.set()
        return [int(r["id"]) for r in found]

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

    async def replay(self) -> bool:
        """Queue what the outbox spooled while the database was away (now, not at its next
        paced retry); True when nothing is left waiting."""
        if not self.records.outbox.spooled:
            return True
        return await self.records.outbox.drain()

    async def _outcome(self, entry: Mapping[str, Any]) -> Outcome:
        """The outbound message's content, resolved as it is sent."""
        if "mrn" in entry:  # queued whole before the outbox op carried the entry
            return Outcome(**{**entry, "at": dt.datetime.fromisoformat(entry["at"])})
        found = await self._subject(entry["appointment_id"], entry["patient_id"])
        if found is None:
            raise DeliveryError("feed subject no longer known", retry=False)
        source, authority, mrn, ref = found
        answers: list[tuple[str, str]] = []
        for of, text in await self.records.call_answers(entry["call_id"]):
            if of in ANSWER_KINDS.get(entry["kind"], ()):
                answers += [(f"{of}.{k}", v) for k, v in ast.literal_eval(text)]
        start, end = entry.get("new_start"), entry.get("new_end")
        return Outcome(entry["kind"], source, authority, mrn, ref, entry["call_id"],
                       dt.datetime.fromisoformat(entry["at"]), entry["control_id"],
                       entry["detail"], tuple(answers),
                       new_start=dt.datetime.fromisoformat(start) if start else None,
                       new_end=dt.datetime.fromisoformat(end) if end else None,
                       new_provider=entry.get("new_provider"))

    async def _subject(self, appointment_id: str | None, patient_id: str | None
                       ) -> tuple[str, str, str, str | None] | None:
        found = await feed_subject(self.records.pool, appointment_id, patient_id)
        if found is None:
            return None
        pid, source, ref = found
        # The patient may have several identifiers (PID-3's MR repetitions under other
        # authorities): the sending EHR's own (its authority is the source) is the one it
        # knows; otherwise one chosen the same way every time.
        row = await self.records.pool.fetchrow(
            "SELECT ref_bidx, authority, ref_ct FROM feed_patients WHERE patient_id = $1"
            " ORDER BY (authority = $2) IS TRUE DESC, ref_bidx LIMIT 1", pid, source)
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
        dest = self.destinations.get(row["destination"])
        try:
            try:
                outcome = await self._outcome(data)
                await _send(dest, outcome)
            except (DeliveryError, *DATABASE_AWAY):
                raise  # the database away: the caller's (the loop retries the pass)
            except Exception as exc:  # noqa: BLE001 - a bug costs this row a retry only
                # Not the call that queued it, the rows after it, or the feeds' loop; class
                # and place, never its text (it may quote a record).
                where = f"{exc.__class__.__name__} at {fault_origin(exc)}"
                log.error("feeds: write-back %d: internal fault (%s)", row["id"], where)  # noqa: TRY400 - no traceback: its text may hold PHI
                raise DeliveryError(f"internal fault ({where})", retry=True) from None
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
                                 data["kind"], {"destination": row["destination"]},
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

