"""Campaign planning, retry policy and trunk throttling: pure, controlled clock."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carrier.dialer.campaign import (
    Appointment,
    CampaignPolicy,
    Step,
    after_dial,
    after_refusal,
    plan_no_show,
    plan_reminders,
    stopped_appointments,
)
from carrier.dialer.ports import Outcome
from carrier.dialer.throttle import TokenBucket, TrunkLimits, TrunkPool

NOW = dt.datetime(2026, 11, 16, 15, 0, tzinfo=dt.UTC)
POLICY = CampaignPolicy()


def appt(hours_ahead: float, status: str = "scheduled", aid: str = "a1") -> Appointment:
    return Appointment(aid, "p1", NOW + dt.timedelta(hours=hours_ahead), status)


def test_reminders_at_72_24_and_2_hours() -> None:
    plan = plan_reminders([appt(100)], POLICY, NOW)
    assert [p.label for p in plan] == ["72h", "24h", "2h"]
    assert [NOW + dt.timedelta(hours=100) - p.due_at for p in plan] == [
        dt.timedelta(hours=h) for h in (72, 24, 2)
    ]
    assert all(p.not_after == NOW + dt.timedelta(hours=100) for p in plan)
    assert {p.purpose for p in plan} == {"appointment_reminder"}


def test_offsets_are_configurable_and_past_ones_skipped() -> None:
    policy = CampaignPolicy(reminder_offsets=(dt.timedelta(hours=48), dt.timedelta(minutes=90)))
    assert [p.label for p in plan_reminders([appt(30)], policy, NOW)] == ["90m"]
    # a 24 h offset that fell due 10 minutes ago is still dialled (catch-up), now
    plan = plan_reminders([appt(23 + 50 / 60)], POLICY, NOW)
    assert [p.label for p in plan] == ["24h", "2h"]
    assert plan[0].due_at == NOW - dt.timedelta(minutes=10)


@pytest.mark.parametrize("status", ["confirmed", "cancelled", "missed"])
def test_closed_appointments_get_no_reminders(status: str) -> None:
    assert plan_reminders([appt(100, status)], POLICY, NOW) == []
    assert stopped_appointments([appt(100, status)]) == [("a1", status)]


def test_past_appointment_gets_nothing() -> None:
    assert plan_reminders([appt(-1)], POLICY, NOW) == []


def test_no_show_reactivation_within_minutes() -> None:
    p = plan_no_show(appt(-1, "missed"), NOW, POLICY)
    assert p.due_at - NOW == dt.timedelta(minutes=5)
    assert p.purpose == "no_show"
    assert p.label == "missed"


def test_retry_policy() -> None:
    until = NOW + dt.timedelta(hours=5)
    assert after_dial(Outcome.ANSWERED, 1, until, POLICY, NOW).step is Step.DONE
    busy = after_dial(Outcome.BUSY, 1, until, POLICY, NOW)
    assert busy.step is Step.RETRY
    assert busy.due_at == NOW + POLICY.retry_after
    assert after_dial(Outcome.NO_ANSWER, POLICY.max_dials, until, POLICY, NOW).step is Step.DONE
    late = NOW + dt.timedelta(minutes=10)
    assert after_dial(Outcome.BUSY, 1, late, POLICY, NOW).step is Step.EXPIRED
    assert after_dial(Outcome.FAILED, 1, until, POLICY, NOW).step is Step.DONE


def test_refusals_permanent_or_deferred() -> None:
    until = NOW + dt.timedelta(hours=5)
    assert after_refusal("tcpa.consent.revoked", until, POLICY, NOW).step is Step.DONE
    assert after_refusal("dnc.organisation", until, POLICY, NOW).step is Step.DONE
    later = after_refusal("window.state.FL", until, POLICY, NOW)
    assert later.step is Step.RETRY
    assert later.due_at == NOW + POLICY.gate_defer
    assert after_refusal("cap.exempt.daily", NOW, POLICY, NOW).step is Step.EXPIRED


def test_policy_validates_itself() -> None:
    with pytest.raises(ValueError, match="positive"):
        CampaignPolicy(reminder_offsets=(dt.timedelta(0),))


# -- throttling ------------------------------------------------------------------------


def test_token_bucket_paces_calls_per_second() -> None:
    b = TokenBucket(rate=2.0, burst=1.0)
    assert b.try_take(0.0)
    assert not b.try_take(0.1)
    assert b.ready_at(0.1) == pytest.approx(0.5)
    assert b.try_take(0.5)


def test_concurrency_limit_and_failover() -> None:
    pool = TrunkPool(
        [
            TrunkLimits("primary", cps=100, max_concurrent=2, burst=10),
            TrunkLimits("secondary", cps=100, max_concurrent=1, burst=10),
        ],
        down_for=30,
    )
    assert [pool.acquire(0.0) for _ in range(4)] == ["primary", "primary", "secondary", None]
    pool.release("primary")
    assert pool.acquire(0.0) == "primary"
    for name in ("primary", "primary", "secondary"):
        pool.release(name)
    pool.mark_down("primary", 1.0)
    assert pool.acquire(2.0) == "secondary"
    assert pool.acquire(2.0) is None  # secondary full, primary down
    pool.release("secondary")
    assert pool.acquire(31.5) == "primary"  # back after down_for
    with pytest.raises(RuntimeError):
        TrunkPool([TrunkLimits("t", 1, 1)]).release("t")


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(0.5, 50),
    burst=st.integers(1, 5),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=60),
)
def test_bucket_never_exceeds_rate_plus_burst(rate: float, burst: int, gaps: list[float]) -> None:
    b = TokenBucket(rate=rate, burst=burst)
    t, taken = 0.0, 0
    for gap in gaps:
        t += gap
        taken += b.try_take(t)
    assert taken <= burst + rate * t + 1e-9
