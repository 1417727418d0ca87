"""Gate test matrix (issue 7, "Done when" (3)): pure, controlled clock.

All numbers are fictional 555-01xx numbers. Dates: Tue 2026-11-17 is a plain
weekday, Sun 2026-11-22 a Sunday, Thu 2026-11-26 Thanksgiving.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import timezone

from carrier.dialer.gate import (
    ALLOWED,
    Address,
    Consent,
    Decision,
    DialRefused,
    Gate,
    GateFacts,
    GateRequest,
    PriorCall,
)
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.rules import load_rules

RULES = load_rules()
GATE = Gate(RULES, PackageHolidays(RULES))
UTC = dt.UTC

NY = "+12125550142"  # New York, America/New_York, no state rules
FL = "+13055550123"  # Florida
AL = "+12055550111"  # Alabama, America/Chicago
TX = "+12145550177"  # Dallas, America/Chicago
ID = "+12085550166"  # Idaho: America/Boise and America/Los_Angeles
UT = "+18015550190"  # Utah


def at(zone: str, y: int, mo: int, d: int, h: int, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(zone)).astimezone(UTC)


TUE_10_NY = at("America/New_York", 2026, 11, 17, 10)


def request(number: str = NY, **kw: object) -> GateRequest:
    base = GateRequest(
        patient_id="p-001",
        number=number,
        purpose="appointment_reminder",
        number_given_by_patient=True,
        free_to_patient=True,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def facts(**kw: object) -> GateFacts:
    base = GateFacts(
        consent={"voice": Consent.GRANTED, "voice.written": Consent.GRANTED},
        org_dnc=False,
        national_dnc=False,
        national_copy_date=dt.date(2026, 11, 14),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def answered(
    now: dt.datetime, hours_ago: float, subject: str = "appointment_reminder"
) -> PriorCall:
    return PriorCall(at=now - dt.timedelta(hours=hours_ago), subject=subject, outcome="answered")


def refused(decision: Decision, rule: str) -> None:
    assert not decision.allowed, decision
    assert decision.rule == rule, decision
    assert decision.max_call_seconds is None
    with pytest.raises(DialRefused) as info:
        raise DialRefused(decision)
    assert info.value.rule == rule


# -- allowed cases ---------------------------------------------------------------


def test_plain_exempt_reminder_is_allowed_with_call_length_limit() -> None:
    d = GATE.decide(request(), facts(), TUE_10_NY)
    assert d.allowed
    assert d.rule == ALLOWED
    assert d.exempt
    assert d.max_call_seconds == 60
    for rule in ("tcpa.consent", "dnc.organisation", "window.federal", "cap.exempt.weekly"):
        assert rule in d.passed
    assert "+1212" not in str(d.to_record())  # no number in the audit record


def test_florida_before_eight_pm_is_allowed() -> None:
    d = GATE.decide(request(FL), facts(), at("America/New_York", 2026, 11, 17, 19, 59))
    assert d.allowed
    assert "window.state.FL" in d.passed
    assert "cap.state.FL.24h" in d.passed


def test_texas_sunday_afternoon_is_allowed() -> None:
    d = GATE.decide(request(TX), facts(), at("America/Chicago", 2026, 11, 22, 13))
    assert d.allowed, d


def test_holiday_in_state_without_holiday_rule_is_allowed() -> None:
    d = GATE.decide(request(NY), facts(), at("America/New_York", 2026, 11, 26, 11))
    assert d.allowed, d


def test_marketing_with_fresh_copy_and_no_hit_is_allowed_without_length_limit() -> None:
    d = GATE.decide(request(purpose="marketing"), facts(), TUE_10_NY)
    assert d.allowed
    assert not d.exempt
    assert d.max_call_seconds is None
    assert "dnc.national" in d.passed


def test_exempt_call_skips_national_registry_hit() -> None:
    d = GATE.decide(request(), facts(national_dnc=True), TUE_10_NY)
    assert d.allowed
    assert "dnc.national.exempt" in d.passed


# -- refusals, each naming its rule ---------------------------------------------


def test_night_time_in_callee_zone() -> None:
    # 22:30 in New York is 03:30 UTC, "daytime" nowhere near the callee.
    refused(
        GATE.decide(request(), facts(), at("America/New_York", 2026, 11, 17, 22, 30)),
        "window.federal",
    )


def test_callee_zone_from_address_wins_over_number() -> None:
    # A New York number, but the patient lives in Los Angeles: 08:30 NY is 05:30 there.
    req = request(address=Address(state="CA", tz="America/Los_Angeles"))
    d = GATE.decide(req, facts(), at("America/New_York", 2026, 11, 17, 8, 30))
    refused(d, "window.federal")
    assert d.details["zone"] == "America/Los_Angeles"


def test_florida_number_at_half_past_eight_pm() -> None:
    d = GATE.decide(request(FL), facts(), at("America/New_York", 2026, 11, 17, 20, 30))
    refused(d, "window.state.FL")
    assert d.details["local_time"] == "20:30"


def test_revoked_consent() -> None:
    refused(
        GATE.decide(request(), facts(consent={"voice": Consent.REVOKED}), TUE_10_NY),
        "tcpa.consent.revoked",
    )


def test_marketing_needs_written_consent() -> None:
    d = GATE.decide(
        request(purpose="marketing"), facts(consent={"voice": Consent.GRANTED}), TUE_10_NY
    )
    refused(d, "tcpa.consent.missing_written")
    # an exempt reminder does not
    assert GATE.decide(request(), facts(consent={"voice": Consent.GRANTED}), TUE_10_NY).allowed


def test_revoked_on_all_channels_overrides_voice_grant() -> None:
    c = {"voice": Consent.GRANTED, "all": Consent.REVOKED}
    refused(GATE.decide(request(), facts(consent=c), TUE_10_NY), "tcpa.consent.revoked")


def test_missing_consent() -> None:
    refused(
        GATE.decide(request(), facts(consent={"sms": Consent.GRANTED}), TUE_10_NY),
        "tcpa.consent.missing",
    )


def test_number_on_organisation_dnc() -> None:
    refused(GATE.decide(request(), facts(org_dnc=True), TUE_10_NY), "dnc.organisation")


def test_number_on_national_dnc_non_exempt_purpose() -> None:
    refused(
        GATE.decide(request(purpose="marketing"), facts(national_dnc=True), TUE_10_NY),
        "dnc.national",
    )


@pytest.mark.parametrize(
    "change",
    [
        {"free_to_patient": False},
        {"number_given_by_patient": False},
        {"purpose": "billing"},
    ],
)
def test_exemption_only_where_its_conditions_hold(change: dict[str, object]) -> None:
    d = GATE.decide(request(**change), facts(national_dnc=True), TUE_10_NY)
    refused(d, "dnc.national")
    assert d.details["exempt"].startswith("no")


def test_stale_national_copy_32_days() -> None:
    copy = TUE_10_NY.date() - dt.timedelta(days=32)
    d = GATE.decide(request(purpose="marketing"), facts(national_copy_date=copy), TUE_10_NY)
    refused(d, "dnc.national.stale_copy")
    ok = GATE.decide(
        request(purpose="marketing"),
        facts(national_copy_date=copy + dt.timedelta(days=1)),
        TUE_10_NY,
    )
    assert ok.allowed  # 31 days is still fresh


def test_no_national_copy_at_all() -> None:
    refused(
        GATE.decide(request(purpose="marketing"), facts(national_copy_date=None), TUE_10_NY),
        "dnc.national.stale_copy",
    )


def test_fourth_exempt_call_in_a_week() -> None:
    prior = [answered(TUE_10_NY, h) for h in (30, 60, 100)]
    refused(GATE.decide(request(), facts(prior_calls=prior), TUE_10_NY), "cap.exempt.weekly")
    # the oldest one leaves the 7-day window: allowed again
    later = TUE_10_NY + dt.timedelta(hours=72)
    assert GATE.decide(request(), facts(prior_calls=prior), later).allowed


def test_second_exempt_call_in_a_day() -> None:
    prior = [answered(TUE_10_NY, 5)]
    refused(GATE.decide(request(), facts(prior_calls=prior), TUE_10_NY), "cap.exempt.daily")


@pytest.mark.parametrize("outcome", ["busy", "no_answer", "machine"])
def test_a_call_that_rang_or_was_busy_counts_towards_exempt_caps(outcome: str) -> None:
    """The exemption lets a provider initiate one call a day: a call that rang
    unanswered was initiated (config/calling_rules/federal.yaml, counted_outcomes)."""
    prior = [replace(answered(TUE_10_NY, 1), outcome=outcome)]
    refused(GATE.decide(request(), facts(prior_calls=prior), TUE_10_NY), "cap.exempt.daily")


@pytest.mark.parametrize("outcome", ["failed", "trunk_down", "too_late", "no_media_port",
                                     "stopped"])
def test_a_call_that_never_rang_does_not_count_towards_exempt_caps(outcome: str) -> None:
    prior = [replace(answered(TUE_10_NY, 1), outcome=outcome)]
    assert GATE.decide(request(), facts(prior_calls=prior), TUE_10_NY).allowed


def test_florida_fourth_attempt_same_subject_in_24h() -> None:
    now = at("America/New_York", 2026, 11, 17, 15)
    prior = [replace(answered(now, h, "marketing"), outcome="no_answer") for h in (1, 2, 3)]
    d = GATE.decide(request(FL, purpose="marketing"), facts(prior_calls=prior), now)
    refused(d, "cap.state.FL.24h")
    other = [replace(p, subject="survey") for p in prior]
    assert GATE.decide(request(FL, purpose="marketing"), facts(prior_calls=other), now).allowed


def test_multi_timezone_number_one_zone_outside_hours() -> None:
    # 08:30 in Boise is 07:30 in Los Angeles: Idaho's 208 spans both.
    d = GATE.decide(request(ID), facts(), at("America/Boise", 2026, 11, 17, 8, 30))
    refused(d, "window.federal")
    assert d.details["zone"] == "America/Los_Angeles"
    assert GATE.decide(request(ID), facts(), at("America/Boise", 2026, 11, 17, 9, 30)).allowed


def test_sunday_in_a_no_sunday_state() -> None:
    d = GATE.decide(request(AL), facts(), at("America/Chicago", 2026, 11, 22, 12))
    refused(d, "window.state.no_sunday")
    assert d.details["state"] == "AL"


def test_holiday_in_a_no_holiday_state() -> None:
    d = GATE.decide(request(UT), facts(), at("America/Denver", 2026, 11, 26, 12))
    refused(d, "window.holiday")
    assert d.details["holiday"] == "Thanksgiving Day"


def test_texas_sunday_before_noon() -> None:
    refused(
        GATE.decide(request(TX), facts(), at("America/Chicago", 2026, 11, 22, 11, 30)),
        "window.state.TX",
    )


def test_address_state_adds_its_rules_to_the_number_state() -> None:
    # A New York number, patient living in Connecticut (9-8): 08:30 is refused.
    req = request(address=Address(state="CT", tz="America/New_York"))
    refused(
        GATE.decide(req, facts(), at("America/New_York", 2026, 11, 17, 8, 30)), "window.state.CT"
    )


def test_non_geographic_number_gets_strictest_states() -> None:
    # 800 numbers map to every zone and no state: Sunday is refused (no-Sunday states).
    now = at("America/New_York", 2026, 11, 22, 14)
    d = GATE.decide(request("+18005550100"), facts(), now)
    assert not d.allowed


def test_invalid_and_foreign_numbers() -> None:
    refused(GATE.decide(request("+123"), facts(), TUE_10_NY), "number.invalid")
    refused(GATE.decide(request("+442079460123"), facts(), TUE_10_NY), "number.unsupported")


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        GATE.decide(request(), facts(), dt.datetime(2026, 11, 17, 10))


def test_request_validates_itself() -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        request("2125550142")


# -- properties --------------------------------------------------------------------

NUMBERS = [
    NY,
    FL,
    AL,
    TX,
    ID,
    UT,
    "+19075550101",
    "+18085550102",
    "+14015550103",
    "+19155550104",
    "+18005550100",
]
KNOWN_RULES = re.compile(
    r"^(allowed|number\.(invalid|unsupported)|"
    r"tcpa\.consent\.(revoked|missing|missing_written|unsettled)|"
    r"dnc\.(organisation|national|national\.stale_copy)|window\.(federal|holiday|zone_unknown|"
    r"state\.no_sunday|state\.[A-Z]{2})|cap\.exempt\.(daily|weekly)|cap\.state\.[A-Z]{2}\.24h)$"
)
moments = st.datetimes(
    min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31), timezones=st.just(UTC)
)
consents = st.sampled_from(list(Consent))
priors = st.lists(
    st.builds(
        PriorCall,
        at=moments,
        subject=st.sampled_from(["appointment_reminder", "marketing"]),
        outcome=st.sampled_from(["answered", "machine", "busy", "no_answer"]),
    ),
    max_size=6,
)
requests = st.builds(
    GateRequest,
    patient_id=st.just("p-1"),
    number=st.sampled_from(NUMBERS),
    purpose=st.sampled_from(["appointment_reminder", "no_show", "refill", "marketing"]),
    number_given_by_patient=st.booleans(),
    free_to_patient=st.booleans(),
)
gate_facts = st.builds(
    GateFacts,
    consent=st.fixed_dictionaries({"voice": consents, "voice.written": consents}),
    org_dnc=st.booleans(),
    national_dnc=st.booleans(),
    national_copy_date=st.dates(dt.date(2025, 11, 1), dt.date(2027, 12, 31)),
    prior_calls=priors,
)


def _zones_of(number: str) -> list[ZoneInfo]:
    return [ZoneInfo(z) for z in timezone.time_zones_for_number(phonenumbers.parse(number))]


@settings(max_examples=300, deadline=None)
@given(req=requests, f=gate_facts, now=moments)
def test_never_allows_outside_8_to_21_in_any_candidate_zone(
    req: GateRequest, f: GateFacts, now: dt.datetime
) -> None:
    d = GATE.decide(req, f, now)
    assert KNOWN_RULES.match(d.rule), d.rule
    if d.allowed:
        for zone in _zones_of(req.number):
            local = now.astimezone(zone)
            assert dt.time(8) <= local.time() < dt.time(21), (zone, local)
        assert f.consent["voice"] is Consent.GRANTED
        assert not f.org_dnc
        assert (d.max_call_seconds == 60) == d.exempt


@settings(max_examples=200, deadline=None)
@given(req=requests, f=gate_facts, now=moments, extra=priors)
def test_more_prior_calls_never_turn_a_refusal_into_an_allow(
    req: GateRequest, f: GateFacts, now: dt.datetime, extra: list[PriorCall]
) -> None:
    fewer = GATE.decide(req, f, now)
    more = GATE.decide(req, replace(f, prior_calls=[*f.prior_calls, *extra]), now)
    if more.allowed:
        assert fewer.allowed
    assert GATE.decide(req, f, now) == fewer  # deterministic


def test_revoked_hipaa_authorization_is_its_own_rule() -> None:
    c = {"voice": Consent.GRANTED, "voice.hipaa": Consent.REVOKED}
    refused(GATE.decide(request(), facts(consent=c), TUE_10_NY), "hipaa.authorization.revoked")
    both = {"voice": Consent.REVOKED, "voice.hipaa": Consent.REVOKED}
    refused(GATE.decide(request(), facts(consent=both), TUE_10_NY), "tcpa.consent.revoked")
    granted = {"voice": Consent.GRANTED, "voice.hipaa": Consent.GRANTED}
    assert GATE.decide(request(), facts(consent=granted), TUE_10_NY).allowed


# -- the callee's zone when the address gives a state but no time zone ------------------


@pytest.mark.parametrize(("state", "local"), [
    ("AZ", "America/Phoenix"),  # no DST: 06:30 there in November
    ("HI", "Pacific/Honolulu"),  # no DST: 03:30 there
    ("CA", "America/Los_Angeles"),
])
def test_address_state_without_zone_gives_the_callee_zone(state: str, local: str) -> None:
    # A New York number; the patient lives in `state` (no time zone on file). 08:30 in New
    # York is before 8 there. Before: the number's zone was used and the call was allowed.
    req = request(address=Address(state=state))
    d = GATE.decide(req, facts(), at("America/New_York", 2026, 11, 17, 8, 30))
    refused(d, "window.federal")
    assert d.details["zone"] == local


def test_address_state_spanning_zones_must_fit_all() -> None:
    # Patient in Florida (Eastern and Central), Texas number's zone would be Central only:
    # 19:30 Central is 20:30 Eastern, past Florida's 8 pm.
    req = request(TX, address=Address(state="FL"))
    d = GATE.decide(req, facts(), at("America/Chicago", 2026, 11, 17, 19, 30))
    refused(d, "window.state.FL")
    assert d.details["zone"] == "America/New_York"


def test_territory_address_state_without_zone() -> None:
    # Guam (UTC+10, no DST) with a New York number: 10:00 New York is 01:00 in Guam.
    req = request(address=Address(state="GU"))
    refused(GATE.decide(req, facts(), TUE_10_NY), "window.federal")


def test_a_national_copy_dated_in_the_future_is_no_fresh_copy() -> None:
    # A copy date typed wrong (2062 for 2026) would read as fresh for decades: refused.
    tomorrow_but_one = TUE_10_NY.date() + dt.timedelta(days=2)
    d = GATE.decide(request(purpose="marketing"), facts(national_copy_date=tomorrow_but_one),
                    TUE_10_NY)
    refused(d, "dnc.national.stale_copy")
    # A day ahead is a zone difference (the copy dated in UTC), not an error.
    ok = GATE.decide(request(purpose="marketing"),
                     facts(national_copy_date=TUE_10_NY.date() + dt.timedelta(days=1)),
                     TUE_10_NY)
    assert ok.allowed
