"""Retention: purge what has expired, never audit or consent younger than six years.

The policy is data: audit and consent periods (raised to six years if configured lower;
HIPAA 164.316(b)(2)) plus a list of ``PurgeTarget(table, time_column, days)`` for tables
other components own (transcripts, recordings, ...). A target whose table does not exist
yet is skipped, so the list can name tables before their migrations land.

Ordinary tables are purged with ``DELETE ... WHERE time_column < cutoff``. The append-only
ledgers go through ``purge_chain_prefix()`` (migration 0001), a privileged function that
only drops an old prefix of a chain and re-anchors it, so the remaining rows still verify.
Every purge is itself written to the audit log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from carrier.records.store import Records

SIX_YEARS_DAYS = 6 * 365 + 2  # six calendar years always include at least one leap day
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class PurgeTarget:
    table: str
    time_column: str
    days: int

    def __post_init__(self) -> None:
        for name in (self.table, self.time_column):
            if not _IDENT.match(name):
                raise ValueError(f"retention target {name!r} is not a plain SQL identifier")
        if self.days < 1:
            raise ValueError(f"retention for {self.table} must be at least one day")


TRANSCRIPTS = ("call_transcripts", "created_at")  # migration 0300
RECORDINGS = ("call_recordings", "created_at")
DEFAULT_TARGETS = (PurgeTarget(*TRANSCRIPTS, 365), PurgeTarget(*RECORDINGS, 30))


@dataclass(frozen=True)
class RetentionPolicy:
    audit_days: int = SIX_YEARS_DAYS
    consent_days: int = SIX_YEARS_DAYS
    targets: tuple[PurgeTarget, ...] = field(default=DEFAULT_TARGETS)

    @classmethod
    def from_days(
        cls,
        *,
        audit_days: int,
        consent_days: int,
        transcript_days: int,
        recording_days: int,
        extra: tuple[PurgeTarget, ...] = (),
    ) -> RetentionPolicy:
        """The policy from the ``retention`` settings section."""
        targets = (
            PurgeTarget(*TRANSCRIPTS, transcript_days),
            PurgeTarget(*RECORDINGS, recording_days),
            *extra,
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


async def run_retention(
    records: Records, policy: RetentionPolicy, *, now: datetime, actor: str = "retention"
) -> list[PurgeResult]:
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
            status = await conn.execute(
                # identifiers checked against _IDENT in PurgeTarget
                f'DELETE FROM "{target.table}" WHERE "{target.time_column}" < $1',  # noqa: S608
                cutoff,
            )
            results.append(PurgeResult(target.table, cutoff, int(status.split()[-1])))
        for chain, days, table in (
            ("audit", policy.audit_days, "audit_log"),
            ("consent", policy.consent_days, "consent_ledger"),
        ):
            cutoff = now - timedelta(days=days)
            rows = await conn.fetchval("SELECT purge_chain_prefix($1, $2)", chain, cutoff)
            results.append(PurgeResult(table, cutoff, int(rows)))
    for result in results:
        if result.rows:
            await records.audit(
                actor,
                "retention.purge",
                ("table", result.table),
                "retention policy",
                {"rows": result.rows, "cutoff": result.cutoff.isoformat()},
                at=now,
            )
    return results
