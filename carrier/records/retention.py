"""Retention: purge what has expired, never audit or consent younger than six years.

The policy is data: audit and consent periods (raised to six years if configured lower;
HIPAA 164.316(b)(2)) plus a list of ``PurgeTarget(table, time_column, days)`` for tables
other components own (transcripts, recordings, ...). A target whose table does not exist
yet is skipped, so the list can name tables before their migrations land.

Ordinary tables are purged with ``DELETE ... WHERE time_column < cutoff`` (and the target's
``guard``, a fixed condition: a dial outreach still open, an appointment still ahead, is
never evidence to purge). Evidence targets (:func:`evidence_targets`: the dialer's
decisions and outreach, call records and call detail records, the application's past
appointments) carry a ``floor``, the legal minimum (TCPA: four years), and refuse a shorter
period; the carrier's (dialer and call tables, which the application role may not delete,
migration 0841) go through ``purge_evidence()``, a privileged function with the same
conditions that never deletes anything younger than four years and reports the transcripts
deleted with call records (audited as ``call_transcripts`` rows ``with`` call_records); an
application's that its migration registered in ``evidence_tables`` (the agent's past
appointments) through ``purge_app_evidence()`` (migration 0845). Every privileged purge
commits only with its ``retention.purge`` entry (migration 0844).
The append-only ledgers go through ``purge_chain_prefix()`` (migration 0001), a
privileged function that only drops an old prefix of a chain and re-anchors it, so the
remaining rows still verify. Consent and do-not-call entries are no target: consent goes
only through that function (which keeps every patient's latest word), the do-not-call
lists never.

Each target is purged in one transaction together with its ``retention.purge`` audit entry
(the table, the row count and the cutoff: no PHI), so a run killed half-way leaves every
table either purged and audited or untouched, and the next run finishes the job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from carrier.records.audit_tx import append_audit
from carrier.records.store import Records
from carrier.settings_retention import FOUR_YEARS_DAYS, SIX_YEARS_DAYS, too_short

__all__ = ["FOUR_YEARS_DAYS", "SIX_YEARS_DAYS", "PurgeResult", "PurgeTarget",
           "RetentionPolicy", "evidence_targets", "run_retention"]
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class PurgeTarget:
    table: str
    time_column: str
    days: int
    guard: str = ""
    """A fixed SQL condition (code, never input; ``$1`` is the cutoff) a row must also meet."""
    floor: int = 1
    """The least ``days`` allowed (the legal minimum for evidence); lower is refused."""
    setting: str = ""
    """The ``retention`` key the period comes from, to name in a refusal."""

    def __post_init__(self) -> None:
        for name in (self.table, self.time_column):
            if not _IDENT.match(name):
                raise ValueError(f"retention target {name!r} is not a plain SQL identifier")
        if self.days < 1:
            raise ValueError(f"retention for {self.table} must be at least one day")
        if self.days < self.floor:
            why = too_short(self.setting, self.days) if self.setting else None
            raise ValueError(f"retention for {self.table}: "
                             + (why or f"at least {self.floor} days"))


TRANSCRIPTS = ("call_transcripts", "created_at")  # migration 0300
# Evidence the application role may not delete: purged through purge_evidence()
# (migration 0841), whose conditions are those of evidence_targets() below.
PROTECTED = frozenset({"dialer_attempts", "dialer_outreach", "call_details", "call_records"})
RECORDINGS = ("call_recordings", "created_at")
DEFAULT_TARGETS = (PurgeTarget(*TRANSCRIPTS, 365), PurgeTarget(*RECORDINGS, 30))
_FINISHED_OUTREACH = (
    "state IN ('done', 'cancelled', 'expired') AND not_after < $1"
    " AND NOT EXISTS (SELECT 1 FROM dialer_attempts a WHERE a.outreach_id = dialer_outreach.id)")


def evidence_targets(dial_evidence_days: int, call_record_days: int,
                     app_evidence: Sequence[tuple[str, str]] = ()) -> tuple[PurgeTarget, ...]:
    """Dialing and billing evidence, in the order it is purged: the dialer's decisions,
    then its outreach rows that are finished and have no decision left, the application's
    past appointments (``app_evidence``: ``(table, time column)``; a row whose time is
    still ahead by the database's clock never goes), call detail records of calls ended
    before the cutoff, then call records (their transcripts go with them)."""
    def dial(table: str, column: str, guard: str = "") -> PurgeTarget:
        return PurgeTarget(table, column, dial_evidence_days, guard, FOUR_YEARS_DAYS,
                           "dial_evidence_days")

    def calls(table: str, guard: str) -> PurgeTarget:
        return PurgeTarget(table, "started_at", call_record_days, guard, FOUR_YEARS_DAYS,
                           "call_record_days")

    return (
        dial("dialer_attempts", "at"),
        dial("dialer_outreach", "updated_at", _FINISHED_OUTREACH),
        *(dial(table, column, f'"{column}" < now()') for table, column in app_evidence),
        calls("call_details", "ended_at < $1"),
        calls("call_records", "coalesce(ended_at, started_at) < $1"),
    )


@dataclass(frozen=True)
class RetentionPolicy:
    audit_days: int = SIX_YEARS_DAYS
    consent_days: int = SIX_YEARS_DAYS
    targets: tuple[PurgeTarget, ...] = field(
        default=(*DEFAULT_TARGETS, *evidence_targets(6 * 366, 6 * 366)))

    @classmethod
    def from_days(
        cls,
        *,
        audit_days: int,
        consent_days: int,
        transcript_days: int,
        recording_days: int,
        dial_evidence_days: int = 6 * 366,
        call_record_days: int = 6 * 366,
        extra: tuple[PurgeTarget, ...] = (),
        app_evidence: Sequence[tuple[str, str]] = (),
    ) -> RetentionPolicy:
        """The policy from the ``retention`` settings section."""
        targets = (
            PurgeTarget(*TRANSCRIPTS, transcript_days),
            PurgeTarget(*RECORDINGS, recording_days),
            *extra,
            *evidence_targets(dial_evidence_days, call_record_days, app_evidence),
        )
        return cls(audit_days=audit_days, consent_days=consent_days, targets=targets)

    def __post_init__(self) -> None:
        # The floor is enforced here and again inside purge_chain_prefix().
        object.__setattr__(self, "audit_days", max(self.audit_days, SIX_YEARS_DAYS))
        object.__setattr__(self, "consent_days", max(self.consent_days, SIX_YEARS_DAYS))


@dataclass(frozen=True)
class PurgeResult:
    table: str
    cutoff: datetime
    rows: int
    skipped: bool = False  # table does not exist (yet)
    with_table: str = ""
    """Rows deleted with those of this table (a call record's transcripts)."""


async def run_retention(
    records: Records, policy: RetentionPolicy, *, now: datetime, actor: str = "retention"
) -> list[PurgeResult]:
    """Purge each target, then the ledgers' old prefixes; each in a transaction of its own
    with its audit entry (see the module's docstring)."""
    results: list[PurgeResult] = []
    async with records.pool.acquire() as conn:
        for target in policy.targets:
            cutoff = now - timedelta(days=target.days)
            exists = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = $1"
                " AND column_name = $2)",
                target.table,
                target.time_column,
            )
            if not exists:
                results.append(PurgeResult(target.table, cutoff, 0, skipped=True))
                continue
            async with conn.transaction():
                result, hanging = await _purge(conn, target, cutoff)
                await _audit_purge(conn, actor, result, now)
                if hanging is not None:
                    await _audit_purge(conn, actor, hanging, now)
            results.append(result)
            if hanging is not None and hanging.rows:
                results.append(hanging)
        for chain, days, table in (
            ("audit", policy.audit_days, "audit_log"),
            ("consent", policy.consent_days, "consent_ledger"),
        ):
            cutoff = now - timedelta(days=days)
            async with conn.transaction():
                rows = await conn.fetchval("SELECT purge_chain_prefix($1, $2)", chain, cutoff)
                result = PurgeResult(table, cutoff, int(rows))
                await _audit_purge(conn, actor, result, now)
            results.append(result)
    return results


async def _purge(conn: asyncpg.Connection, target: PurgeTarget, cutoff: datetime
                 ) -> tuple[PurgeResult, PurgeResult | None]:
    """Delete ``target``'s expired rows; with the rows deleted with them (the transcripts
    of call records), if any can be."""
    if target.table in PROTECTED:  # the app role may not delete these itself (0841)
        row = await conn.fetchrow("SELECT purged, with_it FROM purge_evidence($1, $2)",
                                  target.table, cutoff)
        hanging = (PurgeResult(TRANSCRIPTS[0], cutoff, int(row["with_it"]),
                               with_table=target.table)
                   if target.table == "call_records" else None)
        return PurgeResult(target.table, cutoff, int(row["purged"])), hanging
    if target.floor >= FOUR_YEARS_DAYS and await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM evidence_tables WHERE tbl = $1)", target.table):
        # an application's evidence, protected by its migration (0845): the same conditions
        rows = await conn.fetchval("SELECT purge_app_evidence($1, $2)", target.table, cutoff)
        return PurgeResult(target.table, cutoff, int(rows)), None
    guard = f" AND ({target.guard})" if target.guard else ""
    status = await conn.execute(
        # identifiers checked against _IDENT in PurgeTarget; guards are code
        f'DELETE FROM "{target.table}" WHERE "{target.time_column}" < $1{guard}',  # noqa: S608
        cutoff,
    )
    return PurgeResult(target.table, cutoff, int(status.split()[-1])), None


async def _audit_purge(conn: asyncpg.Connection, actor: str, result: PurgeResult,
                       now: datetime) -> None:
    """The ``retention.purge`` entry of a purge that removed rows, appended to the audit
    chain inside the purge's own transaction (:func:`carrier.records.audit_tx.append_audit`)."""
    if not result.rows:
        return
    await append_audit(
        conn, actor=actor, action="retention.purge", record=("table", result.table),
        reason="retention policy", at=now,
        details={"rows": result.rows, "cutoff": result.cutoff.isoformat()}
        | ({"with": result.with_table} if result.with_table else {}))
