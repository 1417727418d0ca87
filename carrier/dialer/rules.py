"""Calling rules as data: federal window, state rules, exemption, area codes.

The gate (`carrier.dialer.gate`) never reads files; `load_rules(folder)` turns
`config/calling_rules/*.yaml` into the frozen `CallingRules` it is given. A
bad file is refused with `ConfigError(file, key, reason)`. `state_zones.yaml` gives the
time zones of a patient whose address names a state but no zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from carrier.errors import ConfigError
from carrier.yaml_file import read_yaml

DEFAULT_RULES_DIR = Path(__file__).resolve().parents[2] / "config" / "calling_rules"


@dataclass(frozen=True)
class Window:
    """A daily window in local time; `start` inclusive, `end` exclusive."""

    start: dt.time
    end: dt.time

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError("window start must be before its end")

    def contains(self, local: dt.time) -> bool:
        return self.start <= local < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class StateRule:
    state: str
    window: Window | None = None
    saturday: Window | None = None
    sunday: Window | None = None
    no_sunday: bool = False
    no_holidays: bool = False
    cap_24h_same_subject: int | None = None

    def window_for(self, weekday: int) -> Window | None:
        """The window that applies on `weekday` (Monday=0), if any beyond federal."""
        if weekday == 5 and self.saturday is not None:
            return self.saturday
        if weekday == 6 and self.sunday is not None:
            return self.sunday
        return self.window


@dataclass(frozen=True)
class Exemption:
    purposes: frozenset[str]
    never_exempt: frozenset[str]
    max_call_seconds: int
    max_calls_per_day: int
    max_calls_per_week: int
    counted_outcomes: frozenset[str]


@dataclass(frozen=True)
class CallingRules:
    federal_window: Window
    registry_max_age: dt.timedelta
    registry_skip_for_exempt: bool
    exemption: Exemption
    states: Mapping[str, StateRule]
    area_codes: Mapping[str, str] = field(default_factory=dict)  # "305" -> "FL"
    # "FL" -> ("America/New_York", "America/Chicago"): every zone in use in the state
    state_zones: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # "448" -> "850": an overlay code and the code whose ground (and zones) it shares
    overlays: Mapping[str, str] = field(default_factory=dict)
    holiday_country: str = "US"
    holiday_categories: tuple[str, ...] = ("public",)
    written_consent_purposes: frozenset[str] = frozenset({"marketing"})

    def states_for_area_code(self, npa: str) -> frozenset[str]:
        """The state of a NANP area code; unknown -> every state with rules (strictest)."""
        state = self.area_codes.get(npa)
        if state is None:
            return frozenset(self.states)
        return frozenset({state})


def _time(file: str, key: str, value: Any) -> dt.time:
    if not isinstance(value, str):
        raise ConfigError(file, key, 'expected a quoted time like "08:00"')
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        raise ConfigError(file, key, f"not a time: {value!r}") from None


def _window(file: str, key: str, value: Any) -> Window:
    if not isinstance(value, dict) or set(value) != {"start", "end"}:
        raise ConfigError(file, key, 'expected {start: "HH:MM", end: "HH:MM"}')
    start = _time(file, f"{key}.start", value["start"])
    end = _time(file, f"{key}.end", value["end"])
    if start >= end:
        raise ConfigError(file, key, "start must be before end")
    return Window(start, end)


def _mapping(file: str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(file, key, "expected a mapping")
    return value


def _bool(file: str, key: str, value: Any) -> bool:
    """A YAML true/false. A quoted "false" is a string, and Python reads it as true."""
    if not isinstance(value, bool):
        raise ConfigError(file, key, "expected true or false (unquoted)")
    return value


def _known_keys(file: str, key: str, body: dict[str, Any], known: set[str]) -> None:
    """A misspelt optional key would be ignored and its default used: refuse it instead."""
    unknown = set(body) - known
    if unknown:
        raise ConfigError(file, key, f"unknown keys {sorted(map(str, unknown))}")


# What a dial attempt can come to (`carrier.dialer.ports.Outcome`, kept in step by
# tests/dialer/test_rules.py; ports imports the gate, which imports this module).
DIAL_OUTCOMES = ("answered", "machine", "busy", "no_answer", "failed", "trunk_down", "too_late",
                 "no_media_port", "stopped", "withdrawn")


def _outcomes(file: str, key: str, value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise ConfigError(file, key, "expected a list of dial outcomes")
    for item in value:
        if item not in DIAL_OUTCOMES:
            known = ", ".join(DIAL_OUTCOMES)
            raise ConfigError(file, key, f"unknown outcome {item!r} (known: {known})")
    if "answered" not in value:
        raise ConfigError(file, key, "must count answered calls: the caps count what patients hear")
    return frozenset(value)


def _positive_int(file: str, key: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(file, key, "expected a positive integer")
    return value


_STATE_KEYS = {
    "window",
    "saturday",
    "sunday",
    "no_sunday",
    "no_holidays",
    "cap_24h_same_subject",
}


def parse_state_rules(file: str, data: Any) -> dict[str, StateRule]:
    states = _mapping(file, "states", _mapping(file, "<top>", data).get("states"))
    out: dict[str, StateRule] = {}
    for code, raw in states.items():
        key = f"states.{code}"
        if not (isinstance(code, str) and len(code) == 2 and code.isupper()):
            raise ConfigError(file, key, "state must be a two-letter code")
        body = _mapping(file, key, raw)
        _known_keys(file, key, body, _STATE_KEYS)
        cap = body.get("cap_24h_same_subject")
        out[code] = StateRule(
            state=code,
            window=_window(file, f"{key}.window", body["window"]) if "window" in body else None,
            saturday=(
                _window(file, f"{key}.saturday", body["saturday"]) if "saturday" in body else None
            ),
            sunday=_window(file, f"{key}.sunday", body["sunday"]) if "sunday" in body else None,
            no_sunday=_bool(file, f"{key}.no_sunday", body.get("no_sunday", False)),
            no_holidays=_bool(file, f"{key}.no_holidays", body.get("no_holidays", False)),
            cap_24h_same_subject=(
                None if cap is None else _positive_int(file, f"{key}.cap_24h_same_subject", cap)
            ),
        )
    return out


def parse_area_codes(file: str, data: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for state, codes in _mapping(file, "<top>", data).items():
        if not isinstance(codes, list):
            raise ConfigError(file, str(state), "expected a list of area codes")
        for code in codes:
            npa = str(code)
            if not (len(npa) == 3 and npa.isdigit() and npa[0] in "23456789"):
                raise ConfigError(file, str(state), f"not a NANP area code: {code!r}")
            if npa in out:
                raise ConfigError(file, str(state), f"area code {npa} listed twice")
            out[npa] = str(state)
    return out


def parse_state_zones(file: str, data: Any) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for state, zones in _mapping(file, "<top>", data).items():
        key = str(state)
        if not (isinstance(state, str) and len(state) == 2 and state.isupper()):
            raise ConfigError(file, key, "state must be a two-letter code")
        if not isinstance(zones, list) or not zones:
            raise ConfigError(file, key, "expected a list of IANA time zone names")
        for zone in zones:
            try:
                ZoneInfo(str(zone))
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(file, key, f"unknown time zone {zone!r}") from None
        out[state] = tuple(map(str, zones))
    return out


def parse_overlays(file: str, data: Any) -> dict[str, str]:
    def npa(value: Any) -> str:
        code = str(value)
        if not (len(code) == 3 and code.isdigit() and code[0] in "23456789"):
            raise ConfigError(file, code, f"not a NANP area code: {value!r}")
        return code

    return {npa(k): npa(v) for k, v in _mapping(file, "<top>", data).items()}


def parse_federal(file: str, data: Any) -> dict[str, Any]:
    top = _mapping(file, "<top>", data)
    reg = _mapping(file, "national_registry", top.get("national_registry"))
    ex = _mapping(file, "healthcare_exemption", top.get("healthcare_exemption"))
    hol = _mapping(file, "holidays", top.get("holidays", {"country": "US"}))
    _known_keys(file, "<top>", top, {"window", "national_registry", "written_consent_purposes",
                                     "healthcare_exemption", "holidays"})
    _known_keys(file, "national_registry", reg, {"max_age_days", "skip_for_exempt"})
    _known_keys(file, "healthcare_exemption", ex, {
        "purposes", "never_exempt", "max_call_seconds", "max_calls_per_day",
        "max_calls_per_week", "counted_outcomes"})
    _known_keys(file, "holidays", hol, {"country", "categories"})
    exemption = Exemption(
        purposes=frozenset(map(str, ex.get("purposes", []))),
        never_exempt=frozenset(map(str, ex.get("never_exempt", []))),
        max_call_seconds=_positive_int(
            file, "healthcare_exemption.max_call_seconds", ex.get("max_call_seconds")
        ),
        max_calls_per_day=_positive_int(
            file, "healthcare_exemption.max_calls_per_day", ex.get("max_calls_per_day")
        ),
        max_calls_per_week=_positive_int(
            file, "healthcare_exemption.max_calls_per_week", ex.get("max_calls_per_week")
        ),
        counted_outcomes=_outcomes(
            file, "healthcare_exemption.counted_outcomes",
            ex.get("counted_outcomes", ["answered", "machine", "busy", "no_answer"]),
        ),
    )
    if exemption.purposes & exemption.never_exempt:
        raise ConfigError(file, "healthcare_exemption", "a purpose is both exempt and never exempt")
    return {
        "federal_window": _window(file, "window", top.get("window")),
        "registry_max_age": dt.timedelta(
            days=_positive_int(file, "national_registry.max_age_days", reg.get("max_age_days"))
        ),
        "registry_skip_for_exempt": _bool(
            file, "national_registry.skip_for_exempt", reg.get("skip_for_exempt", True)
        ),
        "exemption": exemption,
        "holiday_country": str(hol.get("country", "US")),
        "holiday_categories": tuple(map(str, hol.get("categories", ["public"]))),
        "written_consent_purposes": frozenset(
            map(str, top.get("written_consent_purposes", ["marketing"]))
        ),
    }


def _read(path: Path) -> Any:
    if not path.exists():
        raise ConfigError(str(path), "<file>", "missing")
    return read_yaml(path, whole="<file>")  # not UTF-8, not YAML, a key given twice: refused, named


def load_rules(folder: Path | str = DEFAULT_RULES_DIR) -> CallingRules:
    """Read federal.yaml, states.yaml, area_codes.yaml, state_zones.yaml and
    overlays.yaml from `folder`."""
    base = Path(folder)
    fed = parse_federal(str(base / "federal.yaml"), _read(base / "federal.yaml"))
    states = parse_state_rules(str(base / "states.yaml"), _read(base / "states.yaml"))
    codes = parse_area_codes(str(base / "area_codes.yaml"), _read(base / "area_codes.yaml"))
    zones = parse_state_zones(str(base / "state_zones.yaml"), _read(base / "state_zones.yaml"))
    overlays = parse_overlays(str(base / "overlays.yaml"), _read(base / "overlays.yaml"))
    return CallingRules(states=states, area_codes=codes, state_zones=zones, overlays=overlays,
                        **fed)
