"""Calling-rule data: loads, is consistent with phonenumbers, refuses bad files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from phonenumbers import geocoder, timezone

from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.ports import Outcome
from carrier.dialer.rules import DEFAULT_RULES_DIR, DIAL_OUTCOMES, Window, load_rules
from carrier.errors import ConfigError

RULES = load_rules()
STATE_NAMES = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "DC": "Washington D.C.",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
    "PR": "Puerto Rico",
    "VI": "Virgin Islands",
    "GU": "Guam",
    "MP": "Northern Mariana Islands",
    "AS": "American Samoa",
}


def test_every_state_of_standards_md_is_present() -> None:
    assert set(RULES.states) == set(
        [
            "AL",
            "LA",
            "MS",
            "FL",
            "OK",
            "MD",
            "MA",
            "WA",
            "CT",
            "KY",
            "MI",
            "MN",
            "NM",
            "NV",
            "RI",
            "TX",
            "UT",
        ]
    )
    assert RULES.states["RI"].window_for(5) == Window(dt.time(10), dt.time(17))
    assert RULES.states["TX"].window_for(6) == Window(dt.time(12), dt.time(21))
    assert RULES.states["FL"].cap_24h_same_subject == 3
    assert RULES.registry_max_age == dt.timedelta(days=31)


def test_area_codes_agree_with_phonenumbers_geocoder() -> None:
    """Our hand-written table against an independent source, where it knows the code."""
    unknown = []
    for npa, state in RULES.area_codes.items():
        number = phonenumbers.parse(f"+1{npa}5550123")
        desc = geocoder.description_for_number(number, "en")
        if not desc:
            unknown.append(npa)  # newest overlays the library does not know yet
            continue
        assert STATE_NAMES[state] in desc or desc.endswith(f", {state}"), (npa, state, desc)
    assert len(unknown) < 10, unknown
    assert len(RULES.area_codes) > 330


def test_no_us_area_code_the_geocoder_knows_is_missing() -> None:
    for npa in range(200, 1000):
        number = phonenumbers.parse(f"+1{npa}5550123")
        if phonenumbers.region_code_for_number(number) not in ("US", "PR", "VI", "GU", "MP", "AS"):
            continue
        if geocoder.description_for_number(number, "en"):
            assert str(npa) in RULES.area_codes, npa


def test_unknown_area_code_means_every_rule_state() -> None:
    assert RULES.states_for_area_code("800") == frozenset(RULES.states)
    assert RULES.states_for_area_code("305") == {"FL"}


def test_state_holidays_come_from_the_package() -> None:
    cal = PackageHolidays(RULES)
    assert cal.holiday_name("AL", dt.date(2026, 11, 26)) == "Thanksgiving Day"
    assert cal.holiday_name("AL", dt.date(2026, 11, 17)) is None


def _copy_rules(tmp_path: Path) -> Path:
    for f in DEFAULT_RULES_DIR.glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text())
    return tmp_path


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("states:\n  FL: {window: {start: '20:00', end: '08:00'}}\n", "states.FL.window"),
        ("states:\n  FL: {window: {start: 8, end: '20:00'}}\n", "states.FL.window.start"),
        ("states:\n  FL: {curfew: true}\n", "states.FL"),
        ("states:\n  Florida: {no_sunday: true}\n", "states.Florida"),
        ("states:\n  FL: {cap_24h_same_subject: 0}\n", "states.FL.cap_24h_same_subject"),
        ("states: [\n", "<file>"),
    ],
)
def test_bad_state_file_is_refused_with_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    folder = _copy_rules(tmp_path)
    (folder / "states.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_rules(folder)
    assert info.value.key == key
    assert info.value.file.endswith("states.yaml")


def test_duplicate_area_code_is_refused(tmp_path: Path) -> None:
    folder = _copy_rules(tmp_path)
    (folder / "area_codes.yaml").write_text("FL: [305]\nNY: [305]\n")
    with pytest.raises(ConfigError, match="listed twice"):
        load_rules(folder)


def _offsets(zone: str) -> tuple[dt.timedelta | None, ...]:
    """A zone's UTC offsets in January and July (what the calling window sees)."""
    tz = ZoneInfo(zone)
    return tuple(dt.datetime(2026, m, 15, 12, tzinfo=tz).utcoffset() for m in (1, 7))


def test_state_zones_cover_every_zone_of_the_states_area_codes() -> None:
    """Every zone `phonenumbers` gives an area code keeps the same clock as one of its
    state's zones; every state with area codes has zones."""
    assert set(RULES.area_codes.values()) <= set(RULES.state_zones)
    for npa, state in RULES.area_codes.items():
        number = phonenumbers.parse(f"+1{npa}5550123")
        kept = {_offsets(z) for z in RULES.state_zones[state]}
        for zone in timezone.time_zones_for_number(number):
            if zone != "Etc/Unknown":
                assert _offsets(zone) in kept, (npa, state, zone)


def test_bad_state_zone_is_refused(tmp_path: Path) -> None:
    folder = _copy_rules(tmp_path)
    (folder / "state_zones.yaml").write_text("FL: [America/Miami_Beach]\n")
    with pytest.raises(ConfigError, match="unknown time zone") as info:
        load_rules(folder)
    assert info.value.key == "FL"


COUNTED = "counted_outcomes: [answered, machine, busy, no_answer]"


def _edit_federal(folder: Path, old: str, new: str) -> None:
    path = folder / "federal.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        # A misspelt outcome counted nothing for it: the caps silently let that call repeat.
        ("counted_outcomes: [", "counted_outcomes: [answerd, ",
         "healthcare_exemption.counted_outcomes", "unknown outcome"),
        # A cap that counts no answered call counts nothing a patient heard.
        (COUNTED, "counted_outcomes: [busy, no_answer]",
         "healthcare_exemption.counted_outcomes", "answered"),
        # A misspelt key was ignored: the operator's `false` became the default `true`.
        ("skip_for_exempt: true", "skip_for_exmept: false",
         "national_registry", "unknown keys"),
        ("counted_outcomes:", "counted_outcome:", "healthcare_exemption", "unknown keys"),
        ("written_consent_purposes:", "written_consent_purpose:", "<top>", "unknown keys"),
        # A quoted "false" read as true.
        ("skip_for_exempt: true", "skip_for_exempt: 'false'",
         "national_registry.skip_for_exempt", "true or false"),
    ],
)
def test_bad_federal_file_is_refused_with_file_and_key(
    tmp_path: Path, old: str, new: str, key: str, reason: str
) -> None:
    folder = _copy_rules(tmp_path)
    _edit_federal(folder, old, new)
    with pytest.raises(ConfigError, match=reason) as info:
        load_rules(folder)
    assert info.value.key == key
    assert info.value.file.endswith("federal.yaml")


def test_quoted_false_in_a_state_rule_is_refused(tmp_path: Path) -> None:
    folder = _copy_rules(tmp_path)
    (folder / "states.yaml").write_text("states:\n  FL: {no_sunday: 'false'}\n")
    with pytest.raises(ConfigError, match="true or false") as info:
        load_rules(folder)
    assert info.value.key == "states.FL.no_sunday"


def test_exempt_caps_count_every_call_that_rang_the_patient() -> None:
    """FCC 15-72: a provider may *initiate* one exempt call a day, three a week. A call
    that rang unanswered or found the line busy was initiated; one that never left our
    trunk (trunk down, window closed) or that the network refused was not."""
    counted = RULES.exemption.counted_outcomes
    assert {"answered", "machine", "busy", "no_answer"} <= counted
    assert not counted & {"trunk_down", "too_late", "failed", "no_media_port", "stopped"}


def test_counted_outcome_names_are_the_dialers() -> None:
    assert set(DIAL_OUTCOMES) == {o.value for o in Outcome}


def test_overlays_name_area_codes_of_one_state(tmp_path: Path) -> None:
    for overlay, older in RULES.overlays.items():
        assert RULES.area_codes[overlay] == RULES.area_codes[older], overlay
    folder = _copy_rules(tmp_path)
    (folder / "overlays.yaml").write_text('"448": "85"\n')
    with pytest.raises(ConfigError, match="not a NANP area code"):
        load_rules(folder)
