"""A dial decision's record carries the inputs it was made on, not only its rule.

Before: an allowed call's audit entry named the rules it passed, the zones and states,
but not the callee's local time the windows were judged at, nor how many calls the caps
counted; a reviewer (or a plaintiff's lawyer asking "what time was it for her, and how
many times had you called that week?") had to rebuild both from other tables. Now the
decision's details hold the local time in each zone and the counts each cap compared.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from carrier.dialer.gate import Consent, Gate, GateFacts, GateRequest, PriorCall
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.rules import load_rules
from carrier.records.audit import _DIGIT_RUN

RULES = load_rules()
GATE = Gate(RULES, PackageHolidays(RULES))
NOW = dt.datetime(2026, 11, 17, 10, 5, tzinfo=ZoneInfo("America/New_York")).astimezone(dt.UTC)


def _request(number: str, purpose: str = "appointment_reminder") -> GateRequest:
    return GateRequest(patient_id="p-ev", number=number, purpose=purpose,
                       number_given_by_patient=True, free_to_patient=True)


def _facts(*prior: PriorCall, written: bool = False) -> GateFacts:
    consent = {"voice": Consent.GRANTED}
    if written:
        consent["voice.written"] = Consent.GRANTED
    return GateFacts(consent=consent, org_dnc=False, national_dnc=False,
                     national_copy_date=NOW.date(), prior_calls=prior)


def test_an_allowed_exempt_call_records_local_times_and_cap_counts() -> None:
    two_days = PriorCall(NOW - dt.timedelta(days=2), "appointment_reminder", "answered")
    decision = GATE.decide(_request("+18505550115"), _facts(two_days), NOW)
    assert decision.allowed, decision
    assert decision.details["local_time"] == (
        "America/Chicago Tue 09:05,America/New_York Tue 10:05")
    assert decision.details["exempt_calls_today"] == "0"
    assert decision.details["exempt_calls_week"] == "1"
    assert not _DIGIT_RUN.search(",".join(decision.details.values()))  # passes the PHI screen


def test_a_state_cap_records_what_it_counted() -> None:
    earlier = PriorCall(NOW - dt.timedelta(hours=3), "marketing", "no_answer")
    decision = GATE.decide(_request("+13055550123", "marketing"), _facts(earlier, written=True),
                           NOW)
    assert decision.allowed, decision
    assert decision.details["same_subject_24h"] == "1"
    assert decision.details["local_time"] == "America/New_York Tue 10:05"
