"""The clinic's own figures, from its records: what the console's figures page plots.

* **No-show rate by week, before and after reminders**: of the appointments that started
  in a week (and are past), the share marked missed, split into those that had a reminder
  call placed before they started and those that had none. The first week with a reminder
  is marked on the chart ("reminders start"). Appointment facts come through the hosted
  application's :class:`carrier.plugin.AppointmentSource` (its ``upcoming`` over a past
  range), so the carrier never reads the application's tables. ``closed`` counts in the
  denominator whether it was attended or cancelled (the port does not tell them apart).
* **Reminder outcomes by week**: confirmed, rescheduled, cancelled and opted out (the
  answered reminder calls' outcomes in the call records), no answer (busy or unanswered
  dials) and machine (the dialer's answering-machine result).
* **Workflow completion rate**: per workflow, the share of its calls that reached an end
  of their own (not abandoned, failed, cut at the length limit or a failed transfer).
* **Staff intervention rate by week**: transfers (tried) plus call-backs (staff tasks a
  call created) per call.
* **Voice reply latency p50/p95**: from this process's ``carrier_reply_latency_seconds``
  histogram (the console shares ``carrier serve``'s process), interpolated within buckets
  as Prometheus' ``histogram_quantile`` does.

The pure functions take rows and return figures (tested with vectors). :class:`FigureReader`
gets the rows from their owners (the records facade, the dialer's outreach store): read-only
counts by week, no PHI, nothing decrypted; no SQL here.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import Metric

from carrier.plugin import AppointmentFact, AppointmentSource, AppointmentState, OutcomeKind

if TYPE_CHECKING:
    from carrier.dialer.store import OutreachStore
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
_DIAL_CATEGORY = {"no_answer": "no answer", "busy": "no answer", "machine": "machine"}
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


def reminder_outcomes(call_outcomes: Iterable[tuple[dt.date, str, int]],
                      dial_outcomes: Iterable[tuple[dt.date, str, int]]
                      ) -> dict[dt.date, dict[str, int]]:
    """Per week, the count in every :data:`REMINDER_CATEGORIES` (others are left out).

    ``call_outcomes``: (week, call record outcome, n) of answered reminder calls;
    ``dial_outcomes``: (week, dialer attempt outcome, n) of reminder dials."""
    out: dict[dt.date, dict[str, int]] = {}
    for rows, mapping in ((call_outcomes, _CALL_CATEGORY), (dial_outcomes, _DIAL_CATEGORY)):
        for week, outcome, n in rows:
            category = mapping.get(outcome)
            if category is None:
                continue
            per = out.setdefault(week, dict.fromkeys(REMINDER_CATEGORIES, 0))
            per[category] += n
    return dict(sorted(out.items()))


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
    """Reads the rows behind :class:`Figures` through their owners (read-only): call records
    and the audit log from the records facade, dials from the dialer's outreach store,
    appointments from the application's port. The console has no SQL of its own."""

    def __init__(self, records: Records, outreach: OutreachStore,
                 appointments: AppointmentSource | None = None) -> None:
        self.records = records
        self.outreach = outreach
        self.appointments = appointments

    async def read(self, start: dt.date, now: dt.datetime, latency: Latency) -> Figures:
        since = dt.datetime.combine(week_of(start), dt.time(), dt.UTC)
        records, outreach = self.records, self.outreach
        calls = await records.calls_by_week(since, now, sorted(TRANSFERS))
        callbacks = await records.actions_by_week(CALLBACK_ACTION, since, now)
        flows = await records.outcomes_by_workflow(since, now)
        dials = await outreach.dial_outcomes_by_week(REMINDER_PURPOSE, since, now)
        answered = await records.outbound_outcomes_by_week(
            since, now, await outreach.patients_dialled_for(REMINDER_PURPOSE))
        no_show: list[NoShowWeek] = []
        if self.appointments is not None:
            facts = await self.appointments.upcoming(since, now - since)
            reminded = await outreach.reminded_appointments(
                REMINDER_PURPOSE, since - dt.timedelta(days=60), now)
            no_show = no_show_by_week(facts, reminded, since.date(), now)
        return Figures(
            start=since.date(), end=now, no_show=no_show,
            reminder_outcomes=reminder_outcomes(
                [(r["week"], r["outcome"], r["n"]) for r in answered],
                [(r["week"], r["outcome"], r["n"]) for r in dials]),
            completion=completion_by_workflow(
                (r["workflow"], r["outcome"], r["n"]) for r in flows),
            intervention=intervention_by_week(
                {r["week"]: r["n"] for r in calls}, {r["week"]: r["transfers"] for r in calls},
                {r["week"]: r["n"] for r in callbacks}, since.date(), now.date()),
            latency=latency,
        )
