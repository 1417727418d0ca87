"""Reminder cadence against the exempt caps (issue 12): the 72/24/2 h schedule must be
possible under "one call per day, three per week", read as calendar days in the patient's
time zone, and a confirmed appointment gets no further reminder. Pure, controlled clock."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from carrier.dialer.campaign import CampaignPolicy, plan_reminders, stopped_appointments
from carrier.dialer.gate import Address, Consent, Gate, GateFacts, GateRequest, PriorCall
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.rules import load_rules
from carrier.plugin import AppointmentFact, AppointmentState

RULES = load_rules()
GATE = Gate(RULES, PackageHolidays(RULES))
POLICY = CampaignPolicy()
LA = ZoneInfo("America/Los_Angeles")


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=LA).astimezone(dt.UTC)


def request() -> GateRequest:
    return GateRequest(patient_id="p-cad", number="+12135550142", purpose="appointment_reminder",
                       number_given_by_patient=True, free_to_patient=True,
                       address=Address(state="CA", tz="America/Los_Angeles"))


def facts(prior: list[PriorCall]) -> GateFacts:
    return GateFacts(consent={"voice": Consent.GRANTED}, org_dnc=False, national_dnc=False,
                     national_copy_date=dt.date(2026, 11, 1), prior_calls=tuple(prior))


def test_72_24_2_schedule_passes_the_daily_cap_across_a_local_day_boundary() -> None:
    # Thursday 10:00 in Los Angeles: reminders Monday 10:00, Wednesday 10:00, Thursday 08:00.
    # The last two are 22 h apart: a rolling 24 h reading refused the 2 h reminder.
    appt = AppointmentFact("a-1", "p-cad", local(2026, 11, 19, 10), AppointmentState.OPEN)
    planned = plan_reminders([appt], POLICY, local(2026, 11, 16, 9))
    assert [p.label for p in planned] == ["72h", "24h", "2h"]
    prior: list[PriorCall] = []
    for p in planned:
        decision = GATE.decide(request(), facts(prior), p.due_at)
        assert decision.allowed, (p.label, decision.rule, decision.reason)
        prior.append(PriorCall(at=p.due_at, subject="appointment_reminder", outcome="answered"))
    # a second call on Thursday (local) is refused; so is a fourth call in the week
    refused = GATE.decide(request(), facts(prior), local(2026, 11, 19, 9))
    assert refused.rule == "cap.exempt.daily"
    friday = GATE.decide(request(), facts(prior), local(2026, 11, 20, 10))
    assert friday.rule == "cap.exempt.weekly"


def test_day_is_the_patients_calendar_day_not_utc() -> None:
    # 15:00 and 17:30 Los Angeles time are one local day but two UTC days (23:00, 01:30).
    first = local(2026, 11, 17, 15)
    prior = [PriorCall(at=first, subject="appointment_reminder", outcome="answered")]
    same_day = GATE.decide(request(), facts(prior), local(2026, 11, 17, 17, 30))
    assert same_day.rule == "cap.exempt.daily"
    # just after local midnight... is outside the window; the next local morning passes
    # although it is under 24 h later
    assert GATE.decide(request(), facts(prior), local(2026, 11, 18, 8, 5)).allowed


def test_a_confirmed_appointment_gets_no_more_reminders() -> None:
    start = local(2026, 11, 19, 10)
    confirmed = AppointmentFact("a-2", "p-cad", start, AppointmentState.CONFIRMED)
    # confirmed on any channel (portal, SMS, front desk): the source reports the state
    assert plan_reminders([confirmed], POLICY, local(2026, 11, 16, 9)) == []
    assert stopped_appointments([confirmed]) == [("a-2", "confirmed")]
