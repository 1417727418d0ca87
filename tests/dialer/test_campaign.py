"""Campaign planning, retry policy and trunk throttling: pure, controlled clock."""

from __future__ import annotations

import datetime as dt

import pytest

from carrier.dialer.campaign import (
    CampaignPolicy,
    Step,
    after_dial,
    after_refusal,
    plan_no_show,
    plan_reminders,
    stopped_appointments,
)
from carrier.dialer.ports import Outcome
from carrier.plugin import AppointmentFact, AppointmentState

NOW = dt.datetime(2026, 11, 16, 15, 0, tzinfo=dt.UTC)
POLICY = CampaignPolicy()


def appt(hours_ahead: float, state: AppointmentState = AppointmentState.OPEN,
         aid: str = "a1") -> AppointmentFact:
    return AppointmentFact(aid, "p1", NOW + dt.timedelta(hours=hours_ahead), state)


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


@pytest.mark.parametrize("state", [AppointmentState.CONFIRMED, AppointmentState.CLOSED,
                                   AppointmentState.MISSED])
def test_closed_appointments_get_no_reminders(state: AppointmentState) -> None:
    assert plan_reminders([appt(100, state)], POLICY, NOW) == []
    assert stopped_appointments([appt(100, state)]) == [("a1", state.value)]


def test_past_appointment_gets_nothing() -> None:
    assert plan_reminders([appt(-1)], POLICY, NOW) == []


def test_no_show_reactivation_within_minutes() -> None:
    p = plan_no_show(appt(-1, AppointmentState.MISSED), NOW, POLICY)
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
