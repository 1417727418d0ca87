"""The clinic's figures from rows: vectors with known answers."""

from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client import CollectorRegistry, Histogram

from agent.scheduling.outreach import CalendarAppointments
from carrier.console.figures import (
    FigureReader,
    Latency,
    completion_by_workflow,
    first_reminder_week,
    histogram_quantile,
    intervention_by_week,
    no_show_by_week,
    reminded_before,
    reminder_outcomes,
    reply_latency,
    week_of,
    weeks,
)
from carrier.dialer.store import OutreachStore
from carrier.plugin import AppointmentFact, AppointmentState
from carrier.records.cdr import CallDetail

UTC = dt.UTC
MON = dt.date(2026, 11, 2)  # a Monday


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, tzinfo=UTC)


def appt(i: int, day: int, state: AppointmentState) -> AppointmentFact:
    return AppointmentFact(f"a{i}", f"p{i}", at(day), state)


def test_weeks_start_on_monday_utc() -> None:
    assert week_of(at(8, 23)) == MON  # Sunday night is still the week of the 2nd
    assert week_of(dt.datetime(2026, 11, 9, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
                   ) == MON  # 22:30 UTC on Sunday
    assert weeks(dt.date(2026, 11, 4), dt.date(2026, 11, 17)) == [
        MON, MON + dt.timedelta(7), MON + dt.timedelta(14)]


def test_no_show_split_by_reminder_and_week() -> None:
    facts = [
        appt(1, 3, AppointmentState.MISSED), appt(2, 4, AppointmentState.CLOSED),
        appt(3, 5, AppointmentState.CLOSED), appt(4, 5, AppointmentState.MISSED),
        # week 2: reminders started
        appt(5, 10, AppointmentState.CLOSED), appt(6, 10, AppointmentState.CONFIRMED),
        appt(7, 11, AppointmentState.MISSED), appt(8, 12, AppointmentState.MISSED),
        appt(9, 20, AppointmentState.MISSED),  # still in the future: left out
    ]
    rows = no_show_by_week(facts, {"a5", "a6", "a7"}, MON, at(16))
    assert [r.week for r in rows] == [MON, MON + dt.timedelta(7), MON + dt.timedelta(14)]
    w1, w2, w3 = rows
    assert (w1.not_reminded, w1.not_reminded_missed, w1.reminded) == (4, 2, 0)
    assert w1.not_reminded_rate == 0.5
    assert w1.reminded_rate is None
    assert (w2.reminded, w2.reminded_missed, w2.not_reminded, w2.not_reminded_missed) == (
        3, 1, 1, 1)
    assert w2.reminded_rate == pytest.approx(1 / 3)
    assert (w3.reminded, w3.not_reminded) == (0, 0)
    assert first_reminder_week(rows) == 1


def test_reminder_outcomes_put_each_reminder_cdr_in_one_of_six_categories() -> None:
    w = MON
    got = reminder_outcomes([
        (w, "confirmed", "human", "local_bye", 5), (w, "rescheduled", None, "remote_bye", 1),
        (w, "opted_out", "human", "local_bye", 2), (w, "cancelled", None, "local_bye", 1),
        (w, "abandoned", "human", "remote_bye", 3),  # none of the six: left out
        (w, "no_answer", None, "no_answer", 4), (w, "busy", None, "busy", 1),
        (w, "machine_message", "machine", "local_bye", 2),
        (w, "confirmed", "machine", "local_bye", 1),  # the machine result wins
        (w, "rejected", None, "rejected", 9), (w, "trunk_down", None, "trunk_down", 9),
        (w + dt.timedelta(7), "machine_message", "machine", "remote_bye", 1)])
    assert got[w] == {"confirmed": 5, "rescheduled": 1, "cancelled": 1, "no answer": 5,
                      "machine": 3, "opted out": 2}
    assert got[w + dt.timedelta(7)] == {"confirmed": 0, "rescheduled": 0, "cancelled": 0,
                                        "no answer": 0, "machine": 1, "opted out": 0}
    assert list(got) == [w, w + dt.timedelta(7)]


def test_a_reminder_counts_only_when_placed_before_the_appointment() -> None:
    facts = [appt(1, 10, AppointmentState.MISSED), appt(2, 10, AppointmentState.CLOSED),
             appt(3, 10, AppointmentState.CLOSED)]
    first = {"a1": at(9), "a2": at(10, 11), "a9": at(1)}  # a2: after it started
    assert reminded_before(first, facts) == {"a1"}


def test_workflow_completion_leaves_out_calls_without_a_workflow() -> None:
    rows = [("reminder", "confirmed", 6), ("reminder", "abandoned", 2),
            ("reminder", "length_limit", 1), ("reminder", "transfer_failed", 1),
            ("inbound", "transferred", 3), ("inbound", "failed", 1),
            (None, "failed", 7), ("inbound", None, 4)]
    got = {c.workflow: (c.calls, c.completed) for c in completion_by_workflow(rows)}
    assert got == {"inbound": (4, 3), "reminder": (10, 6)}


def test_intervention_rate_counts_transfers_and_callbacks_per_call() -> None:
    w2 = MON + dt.timedelta(7)
    rows = intervention_by_week({MON: 20, w2: 0}, {MON: 3}, {MON: 1, w2: 2}, MON, w2)
    assert rows[0].rate == pytest.approx(0.2)
    assert rows[1].rate is None  # no calls that week: no rate, not zero


@pytest.mark.parametrize(("q", "expected"), [
    (0.5, 0.25 + 0.25 * 3 / 6),  # rank 5 in (0.25, 0.5]: 2 below, 8 at its top
    (0.95, 1.0),                 # rank 9.5 is exactly the top of (0.5, 1.0]
    (0.9, 0.5 + 0.5 * 1 / 1.5),  # rank 9 inside (0.5, 1.0]
    (0.0, 0.0),
])
def test_histogram_quantile_vectors(q: float, expected: float) -> None:
    buckets = [(0.1, 0.0), (0.25, 2.0), (0.5, 8.0), (1.0, 9.5), (float("inf"), 10.0)]
    assert histogram_quantile(q, buckets) == pytest.approx(expected)


def test_histogram_quantile_edges() -> None:
    assert histogram_quantile(0.5, []) is None
    assert histogram_quantile(0.5, [(1.0, 0.0), (float("inf"), 0.0)]) is None
    assert histogram_quantile(0.99, [(1.0, 1.0), (float("inf"), 10.0)]) == 1.0
    with pytest.raises(ValueError, match="quantile"):
        histogram_quantile(1.5, [(1.0, 1.0)])


def test_reply_latency_from_a_real_registry() -> None:
    reg = CollectorRegistry()
    h = Histogram("carrier_reply_latency_seconds", "x", buckets=(0.25, 0.5, 1.0),
                  registry=reg)
    for v in (0.1, 0.2, 0.3, 0.4, 0.45, 0.6, 0.7, 0.8, 0.9, 2.0):
        h.observe(v)
    got = reply_latency(reg.collect())
    assert got.count == 10
    assert got.p50 == pytest.approx(0.25 + 0.25 * 3 / 3)
    assert got.p95 == pytest.approx(1.0)  # in +Inf: the highest finite bound
    assert reply_latency(CollectorRegistry().collect()).p50 is None


# ---- the reader, on a real database: CDRs written as the carrier writes them -------------

NOW = dt.datetime(2026, 11, 18, 12, tzinfo=UTC)
W2 = MON + dt.timedelta(7)


def cdr(cid: str, when: dt.datetime, *, answered: bool = True, direction: str = "outbound",
        cause: str = "local_bye", **kw: object) -> CallDetail:
    kw.setdefault("sip_status", 200 if answered else None)
    return CallDetail(call_id=cid, direction=direction, started_at=when,
                      answered_at=when + dt.timedelta(seconds=5) if answered else None,
                      ended_at=when + dt.timedelta(minutes=2), hangup_cause=cause,
                      to_number="+15555550100", **kw)  # type: ignore[arg-type]


async def _seed(records) -> None:  # type: ignore[no-untyped-def]
    pool = records.pool
    await pool.execute("INSERT INTO sched_providers (id, name) VALUES ('dr', 'Dr Synthetic')")
    appts = [("a1", at(3), "missed"), ("a2", at(4), "completed"), ("a3", at(10), "missed"),
             ("a4", at(11), "confirmed"), ("a5", at(12), "completed"), ("a6", at(13), "missed")]
    for aid, start, status in appts:
        await pool.execute(
            "INSERT INTO sched_appointments (id, patient_id, provider_id, start_at, end_at,"
            " status, updated_at) VALUES ($1, 'p', 'dr', $2, $3, $4, $2)",
            aid, start, start + dt.timedelta(minutes=30), status)
    await pool.execute("INSERT INTO dialer_campaigns (id, purpose) VALUES"
                       " ('rem', 'appointment_reminder'), ('ns', 'no_show')")
    gate: dict[str, str] = {}  # appointment -> its outreach's dial.decision entry id
    for oid, (campaign, aid) in enumerate([("rem", "a3"), ("rem", "a4"), ("rem", "a5"),
                                           ("ns", "a1"), ("rem", "a6"), ("rem", "a2")], 1):
        purpose = "appointment_reminder" if campaign == "rem" else "no_show"
        await pool.execute(
            "INSERT INTO dialer_outreach (id, campaign_id, appointment_id, patient_id, purpose,"
            " label, due_at, not_after) VALUES ($1, $2, $3, 'p', $4, 'x', $5, $5)",
            oid, campaign, aid, purpose, at(2))
        gate[aid] = str(await records.audit("dialer", "dial.decision", ("outreach", oid),
                                            "ok", {"purpose": purpose}, at=at(2)))
    rows = [
        # reminders (week 2) ...
        cdr("r-a3", at(9), answered=False, cause="no_answer", sip_status=487,
            workflow="appointment_reminder", outcome="no_answer", gate_ref=gate["a3"]),
        cdr("r-a3b", at(10, 8), workflow="reminder", outcome="cancelled", gate_ref=gate["a3"]),
        cdr("r-a4", at(9), workflow="reminder", outcome="confirmed", amd="human",
            gate_ref=gate["a4"], consent_ref="consent-1"),
        cdr("r-a4b", at(9, 11), answered=False, cause="busy", sip_status=486,
            workflow="appointment_reminder", outcome="busy", gate_ref=gate["a4"]),
        cdr("r-a5", at(9), workflow="reminder", outcome="machine_message", amd="machine",
            gate_ref=gate["a5"]),
        cdr("r-a5b", at(10), workflow="reminder", outcome="opted_out", gate_ref=gate["a5"]),
        cdr("r-a6", at(14), workflow="reminder", outcome="rescheduled", gate_ref=gate["a6"]),
        # ... a no-show call (another purpose) and a gate refusal: no reminder outcome
        cdr("n-a1", at(9), answered=False, cause="busy", sip_status=486, workflow="no_show",
            outcome="busy", gate_ref=gate["a1"]),
        cdr("gate:a2", at(3), answered=False, cause="gate_refused", workflow="reminder",
            outcome="calling_window", gate_ref=gate["a2"]),
        # ... nor a dial this node had no media port for: nothing was sent
        cdr("ports:a2", at(3, 1), answered=False, cause="no_media_port", workflow="reminder",
            outcome="no_media_port", gate_ref=gate["a2"]),
        # a gate reference that is no audit entry id (as a test double writes): no reminder
        cdr("r-odd", at(10), workflow="reminder", outcome="confirmed", gate_ref="gate-entry-1"),
        # inbound calls
        cdr("i-w1", at(3), direction="inbound", workflow="intake", outcome="completed"),
        cdr("i-1", at(10), direction="inbound", workflow="intake", outcome="transferred",
            cause="transfer", transfer_target="tel:+15555550199"),
        cdr("i-2", at(10), direction="inbound", workflow="intake", outcome="abandoned",
            cause="remote_bye"),
        cdr("i-3", at(11), direction="inbound", workflow="intake", outcome="completed"),
        cdr("i-4", at(11), direction="inbound", workflow="intake", outcome="transfer_failed"),
        cdr("i-refused", at(11), answered=False, direction="inbound", cause="refused",
            sip_status=403, outcome="refused"),
        # outside the range: before it, and after now
        cdr("i-old", dt.datetime(2026, 10, 20, tzinfo=UTC), direction="inbound",
            workflow="intake", outcome="transferred", cause="transfer"),
        cdr("i-late", NOW + dt.timedelta(hours=1), direction="inbound", workflow="intake",
            outcome="abandoned"),
    ]
    for row in rows:
        await records.record_cdr(row)
    # the old per-call table is not where the figures come from
    await pool.execute(
        "INSERT INTO call_records (call_id, direction, workflow, patient_id, started_at,"
        " ended_at, outcome) VALUES ('legacy', 'inbound', 'intake', 'p', $1, $1,"
        " 'transferred')", at(10))
    for day in (10, 12):
        await records.audit("agent", "staff_task.created", ("staff_task", str(day)),
                            "refill_request", at=at(day))
    await records.drain_spool()


@pytest.mark.postgres
async def test_the_reader_on_cdrs_with_known_answers(records) -> None:  # type: ignore[no-untyped-def]
    await _seed(records)
    reader = FigureReader(records, OutreachStore(records.pool), CalendarAppointments(records.pool))
    f = await reader.read(MON, NOW, Latency(0, None, None))
    w1, w2, w3 = f.no_show
    # week 1: a1 (its call was a no-show call) and a2 (the gate refused its reminder, then
    # its dial found no free media port: it was never rung)
    assert (w1.not_reminded, w1.not_reminded_missed, w1.reminded) == (2, 1, 0)
    # week 2: a3, a4, a5 reminded; a6's reminder came after it started
    assert (w2.reminded, w2.reminded_missed, w2.not_reminded, w2.not_reminded_missed) == (
        3, 1, 1, 1)
    assert w3.reminded + w3.not_reminded == 0
    assert first_reminder_week(f.no_show) == 1
    assert f.reminder_outcomes == {W2: {"confirmed": 1, "rescheduled": 1, "cancelled": 1,
                                        "no answer": 2, "machine": 1, "opted out": 1}}
    assert {c.workflow: (c.calls, c.completed) for c in f.completion} == {
        "intake": (5, 3), "reminder": (6, 6)}
    iv = {r.week: (r.calls, r.transfers, r.callbacks) for r in f.intervention}
    assert iv == {MON: (1, 0, 0), W2: (10, 2, 2), W2 + dt.timedelta(7): (0, 0, 0)}
    assert f.intervention[1].rate == pytest.approx(4 / 10)
