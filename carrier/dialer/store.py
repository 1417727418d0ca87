"""Outreach rows in Postgres: leased with FOR UPDATE SKIP LOCKED, fenced by a lease token.

Dial at most once: `begin_dial` sets `dial_started_at` and inserts the attempt row in one
transaction, and only while the caller's lease is still valid. A lease that expires after
that point (the worker died mid-call) is closed as `interrupted`, never dialled again; a
lease that expires before it goes back to `pending`. Every completion is conditional on
the lease token, so a worker that lost its lease cannot overwrite another's work.

A finished dial is written once (`finish_call`, one transaction: the attempts on the trunks
that were down, the outcome, the outreach's next step and, for a confirmed or cancelled
appointment, its other outreach stopped). While the database is away the same write goes
through the records outbox (`spool_call`, operation ``DIAL_DONE``) and is applied when it
returns; its replay is idempotent and beats the lease's expiry (`_apply_next`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg

from carrier.dialer.campaign import Next, PlannedOutreach, Step
from carrier.dialer.gate import PriorCall
from carrier.dialer.ports import NOT_SENT
from carrier.records.chain import micros
from carrier.records.outbox import Op, Outbox
from carrier.records.timecodec import from_micros

_NOT_SENT = frozenset(o.value for o in NOT_SENT)
_LEASE_SQL = """
WITH picked AS (
    SELECT o.id FROM dialer_outreach o
    JOIN dialer_campaigns c ON c.id = o.campaign_id
    WHERE o.state = 'pending' AND o.due_at <= $1 AND NOT c.paused
    ORDER BY o.due_at, o.id
    LIMIT $4
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE dialer_outreach o
SET state = 'leased', lease_owner = $2, lease_token = gen_random_uuid(),
    lease_expires_at = $1 + $3::interval, updated_at = $1
FROM picked WHERE o.id = picked.id
RETURNING o.id, o.lease_token, o.lease_expires_at, o.campaign_id, o.appointment_id,
          o.patient_id, o.purpose, o.label, o.dials, o.not_after
"""

# Expired leases: never started dialling -> pending again; started -> interrupted, done.
_RECLAIM_SQL = """
WITH expired AS (
    SELECT id, dial_started_at FROM dialer_outreach
    WHERE state = 'leased' AND lease_expires_at <= $1
    FOR UPDATE SKIP LOCKED
)
UPDATE dialer_outreach o
SET state = CASE WHEN e.dial_started_at IS NULL THEN 'pending' ELSE 'done' END,
    outcome = CASE WHEN e.dial_started_at IS NULL THEN o.outcome ELSE 'interrupted' END,
    lease_owner = NULL, lease_expires_at = NULL, updated_at = $1
FROM expired e WHERE o.id = e.id
RETURNING o.state
"""

_STATUS_SQL = """
SELECT c.id AS campaign,
       count(o.id) AS total,
       count(o.id) FILTER (WHERE o.state = 'pending' AND o.due_at <= $1) AS due,
       count(o.id) FILTER (WHERE o.state = 'pending' AND o.due_at > $1) AS scheduled,
       count(o.id) FILTER (WHERE o.state = 'leased') AS leased,
       count(o.id) FILTER (WHERE o.dials > 0) AS dialled,
       count(o.id) FILTER (WHERE o.outcome IN ('answered', 'machine', 'confirmed')) AS answered,
       count(DISTINCT o.appointment_id) FILTER (WHERE o.outcome = 'confirmed') AS confirmed,
       count(o.id) FILTER (WHERE o.state = 'cancelled') AS cancelled,
       count(o.id) FILTER (WHERE o.state = 'expired') AS expired,
       count(o.id) FILTER (WHERE o.state = 'done') AS done,
       c.paused AS paused
FROM dialer_campaigns c LEFT JOIN dialer_outreach o ON o.campaign_id = c.id
GROUP BY c.id ORDER BY c.id
"""

_REFUSED_SQL = """
SELECT o.campaign_id AS campaign, a.rule, count(DISTINCT a.outreach_id) AS n
FROM dialer_attempts a JOIN dialer_outreach o ON o.id = a.outreach_id
WHERE NOT a.allowed GROUP BY o.campaign_id, a.rule ORDER BY o.campaign_id, a.rule
"""


@dataclass(frozen=True)
class Lease:
    outreach_id: int
    token: UUID
    expires_at: dt.datetime
    campaign: str
    appointment_id: str
    patient_id: str
    purpose: str
    label: str
    dials: int
    not_after: dt.datetime


@dataclass(frozen=True)
class CampaignStatus:
    campaign: str
    total: int
    due: int
    scheduled: int
    leased: int
    dialled: int
    answered: int
    confirmed: int  # appointments confirmed (on the call or on any other channel)
    cancelled: int
    expired: int
    done: int
    refused: dict[str, int] = field(default_factory=dict)  # gate rule -> outreach count
    paused: bool = False  # paused from the console: nothing of it is dialled


_PLANNED_FIELDS = ("campaign", "appointment_id", "patient_id", "purpose", "label", "due_at",
                   "not_after")
_STOP_SQL = (
    "UPDATE dialer_outreach SET state = 'cancelled', outcome = $2, updated_at = $3"
    " WHERE appointment_id = $1 AND state = 'pending'"
)


@dataclass(frozen=True)
class DialDone:
    """Everything one finished dial writes (see `apply_dial_done`)."""

    lease: Lease
    attempt_id: int  # the attempt `begin_dial` opened
    rule: str
    subject: str
    down: tuple[str, ...]  # trunks tried first that were down, in order
    trunk: str | None  # the trunk that carried the call
    outcome: str
    at: dt.datetime
    nxt: Next
    stop_appointment: bool  # confirmed or cancelled: the appointment's other outreach stops

    def record(self) -> dict[str, Any]:
        """JSON-ready, as the outbox spools it (times in microseconds)."""
        lease = self.lease
        return {
            "outreach_id": lease.outreach_id, "token": str(lease.token),
            "patient_id": lease.patient_id, "appointment_id": lease.appointment_id,
            "attempt_id": self.attempt_id, "rule": self.rule, "subject": self.subject,
            "down": list(self.down), "trunk": self.trunk, "outcome": self.outcome,
            "at": micros(self.at), "step": self.nxt.step.value, "reason": self.nxt.reason,
            "due_at": None if self.nxt.due_at is None else micros(self.nxt.due_at),
            "stop_appointment": self.stop_appointment,
        }


async def apply_dial_done(conn: asyncpg.Connection, r: Mapping[str, Any]) -> bool:
    """Write a finished dial inside the caller's transaction; False if the lease was lost.

    Idempotent: the opened attempt gets its outcome here and nowhere else, so a replay that
    finds it set changes nothing. The attempts are facts (the calls were placed) and are
    written whoever holds the lease; the outreach moves on only under its token."""
    first = r["attempt_id"]
    if await conn.fetchval(
            "SELECT outcome IS NOT NULL FROM dialer_attempts WHERE id = $1 FOR UPDATE", first):
        return True  # already written (a replay, or a commit whose reply was lost)
    at, token = from_micros(r["at"]), UUID(r["token"])
    attempt = first
    for trunk in r["down"]:  # one attempt row per trunk tried, as each was tried
        await conn.execute(
            "UPDATE dialer_attempts SET trunk = $2, outcome = 'trunk_down', finished_at = $3"
            " WHERE id = $1", attempt, trunk, at)
        attempt = await conn.fetchval(
            "INSERT INTO dialer_attempts (outreach_id, patient_id, subject, at, allowed, rule,"
            " lease_token) VALUES ($1, $2, $3, $4, true, $5, $6) RETURNING id",
            r["outreach_id"], r["patient_id"], r["subject"], at, r["rule"], token)
    await conn.execute(
        "UPDATE dialer_attempts SET trunk = coalesce($2, trunk), outcome = $3, finished_at = $4"
        " WHERE id = $1", attempt, r["trunk"], r["outcome"], at)
    if r["outcome"] not in _NOT_SENT:  # nothing was sent: not a dial
        await conn.execute(
            "UPDATE dialer_outreach SET dials = dials + 1 WHERE id = $1 AND lease_token = $2",
            r["outreach_id"], token)
    due = None if r["due_at"] is None else from_micros(r["due_at"])
    nxt = Next(Step(r["step"]), r["reason"], due)
    kept = await _apply_next(conn, r["outreach_id"], token, nxt, at, rule=None,
                             outcome=r["outcome"])
    if r["stop_appointment"]:
        await conn.execute(_STOP_SQL, r["appointment_id"], r["outcome"], at)
    return kept


async def _apply_dial_op(conn: asyncpg.Connection, record: Mapping[str, Any]) -> None:
    await apply_dial_done(conn, record)


DIAL_DONE = Op("dialer.dial_done", _apply_dial_op)


async def _apply_next(
    conn: asyncpg.Connection,
    outreach_id: int,
    token: UUID,
    nxt: Next,
    now: dt.datetime,
    *,
    rule: str | None,
    outcome: str | None = None,
) -> bool:
    state = {Step.DONE: "done", Step.RETRY: "pending", Step.EXPIRED: "expired"}[nxt.step]
    # Reclaimed leases whose dial had started keep their token: the real outcome wins.
    row = await conn.fetchval(
        "UPDATE dialer_outreach SET state = $3, due_at = coalesce($4, due_at),"
        " outcome = coalesce($5, outcome), last_rule = coalesce($6, last_rule),"
        " dial_started_at = CASE WHEN $3 = 'pending' THEN NULL ELSE dial_started_at END,"
        " lease_owner = NULL, lease_token = CASE WHEN $3 = 'pending' THEN NULL"
        " ELSE lease_token END, lease_expires_at = NULL, updated_at = $7"
        " WHERE id = $1 AND lease_token = $2 AND (state = 'leased' OR outcome = 'interrupted')"
        " RETURNING id",
        outreach_id,
        token,
        state,
        nxt.due_at,
        outcome if outcome is not None else (nxt.reason if state != "pending" else None),
        rule,
        now,
    )
    return row is not None


def _lock_key(key: str) -> int:
    """A signed 64-bit advisory lock id for ``key`` (PHI stays on this side)."""
    digest = hashlib.sha256(b"dialer:" + key.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class OutreachStore:
    def __init__(self, pool: asyncpg.Pool, outbox: Outbox | None = None) -> None:
        """``outbox``: the records outbox, through which a finished dial is made durable
        while the database is away (`spool_call`); this store registers its operation."""
        self.pool = pool
        self.outbox = outbox
        if outbox is not None:
            outbox.register(DIAL_DONE)

    async def ensure_campaign(self, campaign: str, purpose: str) -> None:
        await self.pool.execute(
            "INSERT INTO dialer_campaigns (id, purpose) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            campaign,
            purpose,
        )

    async def set_paused(self, campaign: str, paused: bool) -> bool:
        res = await self.pool.execute(
            "UPDATE dialer_campaigns SET paused = $2 WHERE id = $1", campaign, paused
        )
        return str(res).endswith(" 1")

    async def add(self, planned: Sequence[PlannedOutreach], now: dt.datetime,
                  follow: Sequence[str] = ()) -> int:
        """Insert planned outreach (the count inserted); a known one is kept, but one of a
        ``follow`` campaign not dialled yet with a new ``not_after`` (its appointment moved)
        is re-timed, or revived if a move had dropped it."""
        if not planned:
            return 0
        for purpose_campaign in {(p.campaign, p.purpose) for p in planned}:
            await self.ensure_campaign(*purpose_campaign)
        rows = await self.pool.fetch(
            "INSERT INTO dialer_outreach (campaign_id, appointment_id, patient_id, purpose,"
            " label, due_at, not_after, created_at, updated_at)"
            " SELECT c, a, p, u, l, d, n, $8, $8 FROM unnest($1::text[], $2::text[],"
            " $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[])"
            " AS t(c, a, p, u, l, d, n)"
            " ON CONFLICT (campaign_id, appointment_id, label) DO UPDATE SET state = 'pending',"
            " outcome = NULL, due_at = EXCLUDED.due_at, not_after = EXCLUDED.not_after,"
            " updated_at = $8 WHERE dialer_outreach.campaign_id = ANY($9::text[])"
            " AND dialer_outreach.not_after <> EXCLUDED.not_after AND (dialer_outreach.state"
            " = 'pending' OR (dialer_outreach.state = 'cancelled'"
            " AND dialer_outreach.outcome = 'moved')) RETURNING (xmax = 0) AS inserted",
            *([getattr(p, f) for p in planned] for f in _PLANNED_FIELDS), now, list(follow))
        return sum(1 for r in rows if r["inserted"])

    async def drop_moved(self, campaign: str, expected: Sequence[tuple[str, dt.datetime]],
                         now: dt.datetime, window_end: dt.datetime) -> int:
        """Cancel (``moved``) the pending outreach of ``campaign`` timed for an appointment
        time that is no longer its time: ``expected`` is (appointment, not_after) of every
        appointment whose outreach would end in (now, window_end]; one ending there whose
        appointment is not among them moved out of the window (or is gone)."""
        res = await self.pool.execute(
            "UPDATE dialer_outreach o SET state = 'cancelled', outcome = 'moved', updated_at"
            " = $4 WHERE o.campaign_id = $1 AND o.state = 'pending' AND (EXISTS (SELECT 1"
            " FROM unnest($2::text[], $3::timestamptz[]) AS t(a, n) WHERE t.a ="
            " o.appointment_id AND t.n <> o.not_after) OR (o.not_after > $4 AND o.not_after"
            " <= $5 AND NOT o.appointment_id = ANY($2::text[])))",
            campaign, [a for a, _ in expected], [n for _, n in expected], now, window_end)
        return int(res.split()[-1])

    async def stop_appointment(self, appointment_id: str, reason: str, now: dt.datetime) -> int:
        """Cancel the appointment's outreach not yet dialling (confirmed, cancelled, ...)."""
        res = await self.pool.execute(_STOP_SQL, appointment_id, reason, now)
        return int(res.split()[-1])

    async def stop_appointment_campaign(
        self, appointment_id: str, campaign: str, reason: str, now: dt.datetime
    ) -> int:
        res = await self.pool.execute(
            "UPDATE dialer_outreach SET state = 'cancelled', outcome = $3, updated_at = $4"
            " WHERE appointment_id = $1 AND campaign_id = $2 AND state = 'pending'",
            appointment_id, campaign, reason, now)
        return int(res.split()[-1])

    async def lease(
        self, worker: str, now: dt.datetime, lease_for: dt.timedelta, limit: int
    ) -> list[Lease]:
        """Up to ``limit`` due outreach, leased to ``worker``. Nothing while a finished dial
        still waits in the outbox after an outage: its outcome may stop an appointment's
        other reminders (a patient who confirmed is not called again), so it is replayed
        first, and if it cannot be yet, nothing is leased."""
        if await self._dial_outcomes_waiting():
            return []
        rows = await self.pool.fetch(_LEASE_SQL, now, worker, lease_for, limit)
        return sorted((Lease(outreach_id=r["id"], token=r["lease_token"],
                             expires_at=r["lease_expires_at"], campaign=r["campaign_id"],
                             appointment_id=r["appointment_id"], patient_id=r["patient_id"],
                             purpose=r["purpose"], label=r["label"], dials=r["dials"],
                             not_after=r["not_after"]) for r in rows),
                      key=lambda lease: lease.outreach_id)

    async def release(self, leases: Sequence[Lease], now: dt.datetime) -> int:
        """Hand back leases whose dial never began (the process is stopping): pending and
        due as they were, for the next pass or process; how many."""
        res = await self.pool.execute(
            "UPDATE dialer_outreach o SET state = 'pending', lease_owner = NULL, lease_token ="
            " NULL, lease_expires_at = NULL, updated_at = $3 FROM unnest($1::bigint[],"
            " $2::uuid[]) AS t(id, token) WHERE o.id = t.id AND o.lease_token = t.token"
            " AND o.state = 'leased' AND o.dial_started_at IS NULL",
            [x.outreach_id for x in leases], [x.token for x in leases], now)
        return int(res.split()[-1])

    async def _dial_outcomes_waiting(self) -> bool:
        outbox = self.outbox
        if outbox is None or not outbox.spooled or await outbox.drain():
            return False
        return await outbox.waiting(DIAL_DONE.name) > 0

    async def reclaim_expired(self, now: dt.datetime) -> tuple[int, int]:
        """(requeued, interrupted) for leases that expired."""
        rows = await self.pool.fetch(_RECLAIM_SQL, now)
        requeued = sum(1 for r in rows if r["state"] == "pending")
        return requeued, len(rows) - requeued

    @contextlib.asynccontextmanager
    async def contact_lock(self, patient_id: str, number: str | None = None
                           ) -> AsyncIterator[None]:
        """Serialise gate+begin_dial per patient and per number across processes (caps stay
        exact when two patients share a phone). Transaction-scoped advisory locks, taken
        in one global order (no deadlock), released by the commit or by the rollback
        asyncpg does when a connection is cut: never left on a pooled connection. The
        number is hashed here; it never reaches the server."""
        keys = [f"patient:{patient_id}"] + ([] if number is None else [f"number:{number}"])
        async with self.pool.acquire() as conn, conn.transaction():
            for key in sorted(_lock_key(k) for k in keys):
                await conn.execute("SELECT pg_advisory_xact_lock($1)", key)
            yield

    async def prior_calls(self, patient_ids: Sequence[str], since: dt.datetime
                          ) -> list[PriorCall]:
        """Earlier allowed attempts to any of ``patient_ids``; one still in progress counts
        as answered (conservative). Texts sent (``sms_messages``) count as contacts too: the
        healthcare exemption caps "a call or text", one cap across channels; a sent text
        counts as an answered call, one the SMSC refused outright (``failed``) not at all."""
        rows = await self.pool.fetch(
            "SELECT at, subject, coalesce(outcome, 'answered') AS outcome FROM dialer_attempts"
            " WHERE patient_id = ANY($1::text[]) AND allowed AND at > $2"
            " AND coalesce(outcome, '') NOT IN ('trunk_down', 'too_late', 'no_media_port',"
            " 'stopped', 'withdrawn')"
            " UNION ALL SELECT at, subject, 'answered' FROM sms_messages"
            " WHERE patient_id = ANY($1::text[]) AND direction = 'out'"
            " AND status NOT IN ('refused', 'reply', 'requested', 'failed') AND at > $2",
            list(patient_ids),
            since,
        )
        return [
            PriorCall(
                at=r["at"],
                subject=r["subject"],
                outcome="answered" if r["outcome"] == "interrupted" else r["outcome"],
            )
            for r in rows
        ]

    async def record_refusal(
        self, lease: Lease, rule: str, subject: str, now: dt.datetime, nxt: Next
    ) -> bool:
        """Record a refused decision and move the outreach on; False if the lease was lost."""
        async with self.pool.acquire() as conn, conn.transaction():
            ok = await self._apply_next(conn, lease, nxt, now, rule)
            if ok:
                await conn.execute(
                    "INSERT INTO dialer_attempts (outreach_id, patient_id, subject, at, allowed,"
                    " rule, lease_token) VALUES ($1, $2, $3, $4, false, $5, $6)",
                    lease.outreach_id, lease.patient_id, subject, now, rule, lease.token)
            return ok

    async def begin_dial(
        self, lease: Lease, rule: str, subject: str, now: dt.datetime
    ) -> int | None:
        """Mark the dial as started (fenced by the lease); the attempt id, or None: do not dial."""
        async with self.pool.acquire() as conn, conn.transaction():
            held = await conn.fetchval(
                "UPDATE dialer_outreach SET dial_started_at = coalesce(dial_started_at, $3),"
                " last_rule = $4, updated_at = $3 WHERE id = $1 AND lease_token = $2"
                " AND state = 'leased' AND lease_expires_at > $3 RETURNING id",
                lease.outreach_id, lease.token, now, rule)
            if held is None:
                return None
            attempt: int = await conn.fetchval(
                "INSERT INTO dialer_attempts (outreach_id, patient_id, subject, at, allowed, rule,"
                " lease_token) VALUES ($1, $2, $3, $4, true, $5, $6) RETURNING id",
                lease.outreach_id, lease.patient_id, subject, now, rule, lease.token)
            return attempt

    async def finish_call(self, done: DialDone) -> bool:
        """Write a finished dial in one transaction; False if the lease was lost."""
        async with self.pool.acquire() as conn, conn.transaction():
            return await apply_dial_done(conn, done.record())

    async def spool_call(self, done: DialDone) -> None:
        """The same write through the records outbox (the database is away): durable when
        this returns, applied when the database is back."""
        if self.outbox is None:
            raise RuntimeError("no outbox: a finished dial cannot be spooled")
        await self.outbox.put(DIAL_DONE.name, done.record())

    async def finish_text(self, lease: Lease, now: dt.datetime) -> bool:
        """A reminder sent by text: done, outcome ``texted`` (the text itself is in
        ``sms_messages``, where the caps count it); False if the lease was lost."""
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._apply_next(conn, lease, Next(Step.DONE, "texted"), now, None,
                                          outcome="texted")

    async def _apply_next(
        self,
        conn: asyncpg.Connection,
        lease: Lease,
        nxt: Next,
        now: dt.datetime,
        rule: str | None,
        *,
        outcome: str | None = None,
    ) -> bool:
        return await _apply_next(conn, lease.outreach_id, lease.token, nxt, now, rule=rule,
                                 outcome=outcome)

    async def status(self, now: dt.datetime) -> list[CampaignStatus]:
        rows = await self.pool.fetch(_STATUS_SQL, now)
        refused: dict[str, dict[str, int]] = {}
        for r in await self.pool.fetch(_REFUSED_SQL):
            refused.setdefault(r["campaign"], {})[r["rule"]] = r["n"]
        return [CampaignStatus(**dict(r), refused=refused.get(r["campaign"], {})) for r in rows]

    # ---- read-only counts (the console's figures) -------------------------------------

    async def reminded_appointments(self, purpose: str, since: dt.datetime,
                                    until: dt.datetime) -> set[str]:
        """Appointments with an allowed dial for ``purpose`` in the range."""
        rows = await self.pool.fetch(
            "SELECT DISTINCT o.appointment_id FROM dialer_attempts a"
            " JOIN dialer_outreach o ON o.id = a.outreach_id"
            " WHERE a.allowed AND o.purpose = $3 AND a.at >= $1 AND a.at < $2",
            since, until, purpose)
        return {r["appointment_id"] for r in rows}

    async def dial_outcomes_by_week(self, purpose: str, since: dt.datetime,
                                    until: dt.datetime) -> list[asyncpg.Record]:
        """``(week, outcome, n)`` rows of the allowed dials for ``purpose``."""
        return list(await self.pool.fetch(
            "SELECT date_trunc('week', a.at AT TIME ZONE 'UTC')::date AS week, a.outcome,"
            " count(*) AS n FROM dialer_attempts a JOIN dialer_outreach o"
            " ON o.id = a.outreach_id WHERE a.allowed AND o.purpose = $3 AND a.at >= $1"
            " AND a.at < $2 AND a.outcome IS NOT NULL GROUP BY 1, 2", since, until, purpose))

    async def outreach_targets(self, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """``{outreach id: (purpose, appointment id)}`` for ``ids`` (ids only, no PHI)."""
        rows = await self.pool.fetch(
            "SELECT id, purpose, appointment_id FROM dialer_outreach WHERE id = ANY($1::bigint[])",
            sorted(set(ids)))
        return {r["id"]: (r["purpose"], r["appointment_id"]) for r in rows}

    async def patients_dialled_for(self, purpose: str) -> list[str]:
        """Every patient with outreach for ``purpose`` (ids, no PHI)."""
        rows = await self.pool.fetch(
            "SELECT DISTINCT patient_id FROM dialer_outreach WHERE purpose = $1", purpose)
        return [r["patient_id"] for r in rows]
