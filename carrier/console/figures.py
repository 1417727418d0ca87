"""The clinic's own figures, from its records: what the console's figures page plots.

Every call figure comes from the call detail records (``call_details``, the one row per
call however it ended, :mod:`carrier.records.cdr`); a reminder call is a CDR whose
``gate_ref`` names a ``dial.decision`` audit entry for an outreach of purpose
``appointment_reminder`` (so a reminder is known by the compliance decision that let it
be dialled, not by a workflow's name).

* **No-show rate by week, before and after reminders**: of the appointments that started
  in a week (and are past), the share marked missed, split into those that had a reminder
  call placed (a CDR, not a gate refusal) before they started and those that had none.
  The first week with a reminder is marked on the chart ("reminders start"). Appointment
  facts come through the hosted application's :class:`carrier.plugin.AppointmentSource`
  (its ``upcoming`` over a past range), so the carrier never reads the application's
  tables. ``closed`` counts in the denominator whether it was attended or cancelled.
* **Reminder outcomes by week**: each reminder CDR in one category: machine (its
  answering-machine result), else confirmed, rescheduled, cancelled or opted out (its
  outcome), else no answer (hung up as busy or no answer); others are left out.
* **Workflow completion rate**: per workflow, the share of its answered calls that
  reached an end of their own (not abandoned, failed, cut at the length limit or a failed
  transfer).
* **Staff intervention rate by week**: transfers (tried: a transfer hangup, a transfer
  target or a transfer outcome) plus call-backs (``staff_task.created`` audit entries)
  per answered call.
* **Voice reply latency p50/p95**: from this process's ``carrier_reply_latency_seconds``
  histogram (the console shares ``carrier serve``'s process), interpolated within buckets
  as Prometheus' ``histogram_quantile`` does.

The pure functions take rows and return figures (tested with vectors). :class:`FigureReader`
gets the rows from their owners (the records facade: CDRs and the audit log; the dialer's
outreach store: what each outreach was for): read-only, no PHI, nothing decrypted; no SQL
here.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import Metric

from carrier.plugin import (
    AmdResult,
    AppointmentFact,
    AppointmentSource,
    AppointmentState,
    OutcomeKind,
)

if TYPE_CHECKING:
    from carrier.dialer.store import OutreachStore
    from carrier.records.cdr import GatedCall
    from carrier.records.store import Records

REMINDER_PURPOSE = "appointment_reminder"
REMINDER_CATEGORIES = ("confirmed", "rescheduled", "cancelled", "no answer", "machine",
                       "opted out")
_CALL_CATEGORY = {
    OutcomeKind.CONFIRMED.value: "confirmed",
    OutcomeKind.RESCHEDULED.value: "rescheduled",
    OutcomeKind.CANCELLED.value: "cancelled",
    OutcomeKind.OPTED_OUT.value: "opted out",
}
NO_ANSWER_CAUSES = frozenset({"no_answer", "busy"})
NOT_COMPLETED = frozenset({OutcomeKind.ABANDONED.value, OutcomeKind.FAILED.value,
                           OutcomeKind.LENGTH_LIMIT.value, OutcomeKind.TRANSFER_FAILED.value})
TRANSFERS = frozenset({OutcomeKind.TRANSFERRED.value, OutcomeKind.TRANSFER_FAILED.value})
CALLBACK_ACTION = "staff_task.created"


def week_of(t: dt.datetime | dt.date) -> dt.date:
    """The Monday (UTC) of ``t``'s ISO week."""
    d = t.astimezone(dt.UTC).date() if isinstance(t, dt.datetime) else t
    return d - dt.timedelta(days=d.weekday())


def weeks(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every Monday from ``start``'s week to ``end``'s, inclusive."""
    first, last = week_of(start), week_of(end)
    return [first + dt.timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class NoShowWeek:
    week: dt.date
    reminded: int
    reminded_missed: int
    not_reminded: int
    not_reminded_missed: int

    @property
    def reminded_rate(self) -> float | None:
        return _rate(self.reminded_missed, self.reminded)

    @property
    def not_reminded_rate(self) -> float | None:
        return _rate(self.not_reminded_missed, self.not_reminded)


def no_show_by_week(appointments: Iterable[AppointmentFact], reminded: Collection[str],
                    start: dt.date, now: dt.datetime) -> list[NoShowWeek]:
    """Weekly no-show counts for appointments that started in ``[start, now)``, split by
    whether ``reminded`` (appointment ids with a reminder dial before they started)."""
    counts: dict[dt.date, Counter[str]] = {w: Counter() for w in weeks(start, now)}
    for a in appointments:
        if not start <= a.starts_at.astimezone(dt.UTC).date() or a.starts_at >= now:
            continue
        group = "reminded" if a.id in reminded else "not_reminded"
        c = counts.setdefault(week_of(a.starts_at), Counter())
        c[group] += 1
        if a.state is AppointmentState.MISSED:
            c[group + "_missed"] += 1
    return [NoShowWeek(w, c["reminded"], c["reminded_missed"], c["not_reminded"],
                       c["not_reminded_missed"]) for w, c in sorted(counts.items())]


def first_reminder_week(rows: Sequence[NoShowWeek]) -> int | None:
    """Index of the first week with a reminded appointment (the chart's marker)."""
    return next((i for i, r in enumerate(rows) if r.reminded), None)


def reminder_category(outcome: str | None, amd: str | None, cause: str | None
                      ) -> str | None:
    """One reminder CDR's category in :data:`REMINDER_CATEGORIES` (None: none of them)."""
    if amd == AmdResult.MACHINE.value:
        return "machine"
    category = _CALL_CATEGORY.get(outcome or "")
    if category is None and cause in NO_ANSWER_CAUSES:
        return "no answer"
    return category


def reminder_outcomes(rows: Iterable[tuple[dt.date, str | None, str | None, str | None, int]]
                      ) -> dict[dt.date, dict[str, int]]:
    """Per week, the count in every :data:`REMINDER_CATEGORIES`, from reminder CDRs
    grouped as (week, outcome, amd, hangup cause, n); a week with none is left out."""
    out: dict[dt.date, dict[str, int]] = {}
    for week, outcome, amd, cause, n in rows:
        category = reminder_category(outcome, amd, cause)
        if category is None:
            continue
        per = out.setdefault(week, dict.fromkeys(REMINDER_CATEGORIES, 0))
        per[category] += n
    return dict(sorted(out.items()))


def reminded_before(first_call: Mapping[str, dt.datetime],
                    appointments: Iterable[AppointmentFact]) -> set[str]:
    """The appointments whose first reminder call was placed before they started."""
    return {a.id for a in appointments
            if a.id in first_call and first_call[a.id] < a.starts_at}


@dataclass(frozen=True)
class Completion:
    workflow: str
    calls: int
    completed: int

    @property
    def rate(self) -> float | None:
        return _rate(self.completed, self.calls)


def completion_by_workflow(rows: Iterable[tuple[str | None, str | None, int]]
                           ) -> list[Completion]:
    """(workflow, outcome, n) rows to each workflow's completion. Calls with no workflow
    (refused, failed before answer) and calls still without an outcome are left out."""
    calls: Counter[str] = Counter()
    done: Counter[str] = Counter()
    for workflow, outcome, n in rows:
        if not workflow or not outcome:
            continue
        calls[workflow] += n
        if outcome not in NOT_COMPLETED:
            done[workflow] += n
    return [Completion(w, calls[w], done[w]) for w in sorted(calls)]


@dataclass(frozen=True)
class InterventionWeek:
    week: dt.date
    calls: int
    transfers: int
    callbacks: int

    @property
    def rate(self) -> float | None:
        return _rate(self.transfers + self.callbacks, self.calls)


def intervention_by_week(calls: Mapping[dt.date, int], transfers: Mapping[dt.date, int],
                         callbacks: Mapping[dt.date, int], start: dt.date, end: dt.date
                         ) -> list[InterventionWeek]:
    return [InterventionWeek(w, calls.get(w, 0), transfers.get(w, 0), callbacks.get(w, 0))
            for w in weeks(start, end)]


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The ``q`` quantile from cumulative buckets ``(upper bound, count <= bound)`` sorted
    by bound, the last being ``+Inf``: linear within the bucket it falls in, as
    Prometheus does; a quantile in the ``+Inf`` bucket is the highest finite bound.
    None when nothing was observed."""
    if not 0 <= q <= 1:
        raise ValueError("quantile must be within [0, 1]")
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:  # rank 0 before any observation
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


@dataclass(frozen=True)
class Latency:
    count: int
    p50: float | None
    p95: float | None


def reply_latency(families: Iterable[Metric], name: str = "carrier_reply_latency_seconds"
                  ) -> Latency:
    """p50/p95 of the reply-latency histogram from a registry's ``collect()``."""
    buckets: list[tuple[float, float]] = []
    for family in families:
        if family.name != name.removesuffix("_seconds") and family.name != name:
            continue
        for s in family.samples:
            if s.name == name + "_bucket":
                buckets.append((float(s.labels["le"]), s.value))
    buckets.sort()
    count = int(buckets[-1][1]) if buckets else 0
    return Latency(count, histogram_quantile(0.5, buckets), histogram_quantile(0.95, buckets))




# ---- reading the rows ------------------------------------------------------------------

REMINDER_LOOKBACK = dt.timedelta(days=60)  # a reminder this long before is still one


@dataclass(frozen=True)
class Figures:
    start: dt.date
    end: dt.datetime
    no_show: list[NoShowWeek]
    reminder_outcomes: dict[dt.date, dict[str, int]]
    completion: list[Completion]
    intervention: list[InterventionWeek]
    latency: Latency


class FigureReader:
    """Reads the rows behind :class:`Figures` through their owners (read-only): the call
    detail records and the audit log from the records facade, which outreach a dial was
    for from the dialer's outreach store, appointments from the application's port. The
    console has no SQL of its own."""

    def __init__(self, records: Records, outreach: OutreachStore,
                 appointments: AppointmentSource | None = None) -> None:
        self.records = records
        self.outreach = outreach
        self.appointments = appointments

    async def _reminders(self, since: dt.datetime, until: dt.datetime
                         ) -> list[tuple[GatedCall, str]]:
        """The reminder calls started in the range, each with its appointment id."""
        calls = await self.records.gated_calls(since, until)
        targets = await self.outreach.outreach_targets({c.outreach_id for c in calls})
        return [(c, targets[c.outreach_id][1]) for c in calls
                if c.outreach_id in targets and targets[c.outreach_id][0] == REMINDER_PURPOSE]

    async def read(self, start: dt.date, now: dt.datetime, latency: Latency) -> Figures:
        since = dt.datetime.combine(week_of(start), dt.time(), dt.UTC)
        records = self.records
        calls = await records.answered_calls_by_week(since, now, sorted(TRANSFERS))
        callbacks = await records.actions_by_week(CALLBACK_ACTION, since, now)
        flows = await records.answered_outcomes_by_workflow(since, now)
        reminders = await self._reminders(since - REMINDER_LOOKBACK, now)
        outcomes: Counter[tuple[dt.date, str | None, str | None, str]] = Counter(
            (week_of(c.started_at), c.outcome, c.amd, c.hangup_cause)
            for c, _ in reminders if c.started_at >= since)
        no_show: list[NoShowWeek] = []
        if self.appointments is not None:
            facts = list(await self.appointments.upcoming(since, now - since))
            first: dict[str, dt.datetime] = {}
            for c, appointment in reminders:
                first[appointment] = min(first.get(appointment, c.started_at), c.started_at)
            no_show = no_show_by_week(facts, reminded_before(first, facts), since.date(), now)
        return Figures(
            start=since.date(), end=now, no_show=no_show,
            reminder_outcomes=reminder_outcomes(
                (week, outcome, amd, cause, n)
                for (week, outcome, amd, cause), n in outcomes.items()),
            completion=completion_by_workflow(
                (r["workflow"], r["outcome"], r["n"]) for r in flows),
            intervention=intervention_by_week(
                {r["week"]: r["n"] for r in calls}, {r["week"]: r["transfers"] for r in calls},
                {r["week"]: r["n"] for r in callbacks}, since.date(), now.date()),
            latency=latency,
        )
