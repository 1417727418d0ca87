"""The callee's local time from a number whose exchange the zone data does not know.

`phonenumbers` knows the time zone of most exchanges; for one it does not know (a new
block, an overlay code newer than the data, the fictional 555 exchange) it falls back
to one zone for the whole area code. Where the area code spans two zones that one zone
is the wrong clock for part of it: before, a patient in Pensacola (area code 850, Central
time; the code's fallback is Eastern) was called at 07:30 her time, and one in
Chattanooga (423, Eastern; fallback Central) at 21:30. Now such a number must fit the
window in every zone its area code (or the code it overlays) is in.

And the US territories: the area codes of the Virgin Islands, Guam, the Northern
Marianas and American Samoa were no state's, so each call there was held to every
state's rules at once (Alabama's 8-8 refused an 8:45 pm call to St Thomas), and
American Samoa's number had no zone at all (always refused).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from carrier.dialer.gate import Consent, Gate, GateFacts, GateRequest
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.rules import load_rules

RULES = load_rules()
GATE = Gate(RULES, PackageHolidays(RULES))


def decide(number: str, zone: str, y: int, mo: int, d: int, h: int, mi: int = 0):
    now = dt.datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)
    request = GateRequest(patient_id="p-zone", number=number, purpose="appointment_reminder",
                          number_given_by_patient=True, free_to_patient=True)
    facts = GateFacts(consent={"voice": Consent.GRANTED}, org_dnc=False, national_dnc=False,
                      national_copy_date=now.date())
    return GATE.decide(request, facts, now)


@pytest.mark.parametrize(("number", "zone", "hour", "minute", "why"), [
    ("+18505550115", "America/New_York", 8, 30, "850: 07:30 in the Central panhandle"),
    ("+14485550115", "America/New_York", 8, 30, "448 overlays 850"),
    ("+14235550116", "America/Chicago", 20, 30, "423: 21:30 in Chattanooga"),
    ("+12705550117", "America/New_York", 10, 30, "270: 09:30 in western Kentucky (KY 10-9)"),
    ("+13645550117", "America/New_York", 10, 30, "364 overlays 270"),
    ("+18125550118", "America/New_York", 8, 30, "812: 07:30 in Evansville"),
    ("+19305550118", "America/New_York", 8, 30, "930 overlays 812"),
    ("+15415550119", "America/Los_Angeles", 20, 30, "541: 21:30 in Ontario, OR"),
    ("+14585550119", "America/Los_Angeles", 20, 30, "458 overlays 541"),
    ("+13085550120", "America/Chicago", 8, 30, "308: 07:30 in the Nebraska panhandle"),
    ("+19065550121", "America/New_York", 9, 30, "906: 08:30 in Iron Mountain (MI 9-9)"),
])
def test_an_unknown_exchange_must_fit_every_zone_of_its_area_code(
        number: str, zone: str, hour: int, minute: int, why: str) -> None:
    decision = decide(number, zone, 2026, 11, 17, hour, minute)
    assert not decision.allowed, why
    assert decision.rule.startswith("window."), decision.rule


@pytest.mark.parametrize(("number", "zone", "hour"), [
    ("+12125550142", "America/New_York", 8),  # one zone: unchanged
    ("+18505550115", "America/New_York", 10),  # 09:00 in the panhandle
    ("+14235550116", "America/Chicago", 19),
])
def test_a_time_that_fits_every_zone_is_still_allowed(number: str, zone: str, hour: int) -> None:
    assert decide(number, zone, 2026, 11, 17, hour).allowed


@pytest.mark.parametrize(("number", "zone", "hour", "minute", "allowed"), [
    ("+13405550114", "America/St_Thomas", 20, 45, True),
    ("+13405550114", "America/St_Thomas", 7, 45, False),
    ("+16715550113", "Pacific/Guam", 20, 30, True),
    ("+16705550113", "Pacific/Saipan", 20, 30, True),
    ("+16845550112", "Pacific/Pago_Pago", 10, 0, True),
    ("+16845550112", "Pacific/Pago_Pago", 21, 15, False),
])
def test_territories_get_the_federal_rules_in_their_own_time(
        number: str, zone: str, hour: int, minute: int, allowed: bool) -> None:
    decision = decide(number, zone, 2026, 1, 15, hour, minute)
    assert decision.allowed is allowed, decision
    if not allowed:
        assert decision.rule == "window.federal"
