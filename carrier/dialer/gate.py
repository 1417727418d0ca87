"""The compliance gate: may this outbound call be placed now?

Pure: the request, the facts gathered beforehand and `now` go in, a `Decision`
comes out. No I/O, no clock. Every refusal names exactly the rule that refused
(`tcpa.consent.revoked`, `hipaa.authorization.revoked`, `dnc.national.stale_copy`,
`window.state.FL`, ...); an allowed decision lists every rule it passed, so the audit
entry shows why.

Order of checks (first failure wins):
  number -> consent -> organisation DNC -> national registry (unless exempt)
  -> federal window -> state day/holiday/window rules -> exemption caps -> state caps.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from carrier.dialer.holiday_calendar import HolidayCalendar
from carrier.dialer.rules import CallingRules
from carrier.dialer.zones import number_zones

ALLOWED = "allowed"


class Consent(enum.StrEnum):
    GRANTED = "granted"
    REVOKED = "revoked"
    MISSING = "missing"
    # The ledger's last word is not readable yet (a revocation taken during a database
    # outage may still wait in a spool): refused for now, asked again later.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Address:
    """What the patient's record says; any part may be unknown."""

    state: str | None = None
    zip: str | None = None
    tz: str | None = None

    def __post_init__(self) -> None:
        if self.state is not None and not (len(self.state) == 2 and self.state.isupper()):
            raise ValueError("address state must be a two-letter code")


@dataclass(frozen=True)
class GateRequest:
    """What the gate decides on: who, which number, why. (The gateway's request to place
    a call is `carrier.call.DialRequest`, which carries the gate's yes as a Clearance.)"""

    patient_id: str
    number: str  # E.164
    purpose: str  # appointment_reminder, no_show, refill, marketing, ...
    number_given_by_patient: bool
    free_to_patient: bool
    address: Address | None = None
    subject: str | None = None  # same-subject caps; defaults to the purpose
    channel: str = "voice"

    def __post_init__(self) -> None:
        if not (self.number.startswith("+") and self.number[1:].isdigit()):
            raise ValueError("number must be E.164 (+ and digits)")
        if not self.patient_id or not self.purpose:
            raise ValueError("patient_id and purpose are required")

    @property
    def subject_key(self) -> str:
        return self.subject or self.purpose


@dataclass(frozen=True)
class PriorCall:
    """An earlier dial attempt to this patient (any campaign)."""

    at: dt.datetime
    subject: str
    outcome: str  # answered, machine, busy, no_answer, failed


@dataclass(frozen=True)
class GateFacts:
    # channel ("voice", "sms", ..., "all") -> status; "voice.written": written consent;
    # "voice.number": REVOKED when another patient at the number revoked
    consent: Mapping[str, Consent]
    org_dnc: bool
    national_dnc: bool
    national_copy_date: dt.date | None  # date of the registry copy scrubbed against
    prior_calls: Sequence[PriorCall] = ()
    # False: an addition to the organisation's list may still wait in a spool
    org_dnc_settled: bool = True


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str  # the refusing rule, or "allowed"
    reason: str  # short, no PHI
    details: Mapping[str, str] = field(default_factory=dict)
    passed: tuple[str, ...] = ()
    exempt: bool = False
    max_call_seconds: int | None = None  # a constraint on an allowed call
    # An allowed call's yes holds until then (UTC): the first moment a calling window
    # that let it through closes in any of the callee's zones. No INVITE after it.
    valid_until: dt.datetime | None = None

    def to_record(self) -> dict[str, object]:
        """JSON-ready form for the audit log (no number, no name)."""
        return {
            "allowed": self.allowed,
            "rule": self.rule,
            "reason": self.reason,
            "details": dict(self.details),
            "passed": list(self.passed),
            "exempt": self.exempt,
            "max_call_seconds": self.max_call_seconds,
            "valid_until": None if self.valid_until is None else self.valid_until.isoformat(),
        }


class DialRefused(Exception):
    """A dial the gate refused; carries the rule, like a SIP error its status code."""

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.rule = decision.rule
        super().__init__(f"dial refused by {decision.rule}: {decision.reason}")


class _Refuse(Exception):
    """Internal control flow: never escapes `Gate.decide`."""

    def __init__(self, rule: str, reason: str, **details: str) -> None:
        self.rule, self.reason, self.details = rule, reason, details
        super().__init__(rule)


class Gate:
    def __init__(self, rules: CallingRules, holidays: HolidayCalendar) -> None:
        self.rules = rules
        self.holidays = holidays

    def decide(self, request: GateRequest, facts: GateFacts, now: dt.datetime) -> Decision:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        passed: list[str] = []
        ctx: dict[str, str] = {}
        try:
            exempt, until = self._run(request, facts, now, passed, ctx)
        except _Refuse as refusal:
            return Decision(
                allowed=False,
                rule=refusal.rule,
                reason=refusal.reason,
                details={**ctx, **refusal.details},
                passed=tuple(passed),
            )
        return Decision(
            allowed=True,
            rule=ALLOWED,
            reason="all rules passed",
            details=ctx,
            passed=tuple(passed),
            exempt=exempt,
            max_call_seconds=self.rules.exemption.max_call_seconds if exempt else None,
            valid_until=until,
        )

    # -- the checks, in order ---------------------------------------------------

    def _run(
        self,
        req: GateRequest,
        facts: GateFacts,
        now: dt.datetime,
        passed: list[str],
        ctx: dict[str, str],
    ) -> tuple[bool, dt.datetime]:
        parsed, exempt = self._standing(req, facts, now, passed, ctx)
        zones = self._zones(req, parsed)
        states = self._states(req, parsed)
        ctx["zones"] = ",".join(str(z) for z in zones)
        ctx["states"] = ",".join(sorted(states)) or "-"
        locals_ = [now.astimezone(z) for z in zones]
        ctx["local_time"] = ",".join(f"{t.tzinfo} {t:%a %H:%M}" for t in locals_)
        self._federal_window(locals_)
        passed.append("window.federal")
        passed.extend(self._state_windows(states, locals_))

        if exempt:
            self._exempt_caps(facts, now, zones, ctx)
            passed.extend(["cap.exempt.daily", "cap.exempt.weekly"])
        passed.extend(self._state_caps(req, facts, states, now, ctx))
        return exempt, self._window_closes(states, locals_)

    def recheck(self, request: GateRequest, facts: GateFacts, now: dt.datetime) -> Decision:
        """The standing rules alone (number, consent, do-not-call lists), asked again right
        before the INVITE of a call the gate allowed: what a patient or staff can change
        while the call waits for its trunk slot. The window is the clearance's
        ``valid_until``; the caps were counted with this call's own attempt begun."""
        passed: list[str] = []
        ctx: dict[str, str] = {"at": "dial"}
        try:
            self._standing(request, facts, now, passed, ctx)
        except _Refuse as refusal:
            return Decision(False, refusal.rule, refusal.reason,
                            {**ctx, **refusal.details}, tuple(passed))
        return Decision(True, ALLOWED, "standing unchanged", ctx, tuple(passed))

    def _standing(self, req: GateRequest, facts: GateFacts, now: dt.datetime,
                  passed: list[str], ctx: dict[str, str]
                  ) -> tuple[phonenumbers.PhoneNumber, bool]:
        parsed = _parse(req.number)
        passed.append("number.valid")

        self._consent(req, facts)
        passed.append("tcpa.consent")

        if not facts.org_dnc_settled:
            raise _Refuse("dnc.organisation.unsettled",
                          "an addition to the organisation's list is not readable yet")
        if facts.org_dnc:
            raise _Refuse("dnc.organisation", "number is on the organisation's do-not-call list")
        passed.append("dnc.organisation")

        exempt, why = self._exemption(req)
        ctx["exempt"] = "yes" if exempt else f"no ({why})"

        if exempt and self.rules.registry_skip_for_exempt:
            passed.append("dnc.national.exempt")
        else:
            self._national(facts, now, ctx)
            passed.extend(["dnc.national.fresh_copy", "dnc.national"])
        return parsed, exempt

    def _consent(self, req: GateRequest, facts: GateFacts) -> None:
        statuses = [facts.consent.get(req.channel), facts.consent.get("all")]
        if Consent.REVOKED in statuses:
            raise _Refuse("tcpa.consent.revoked", "consent was revoked", channel=req.channel)
        if facts.consent.get(f"{req.channel}.number") is Consent.REVOKED:
            raise _Refuse("tcpa.consent.revoked_at_number",
                          "someone at this number revoked consent", channel=req.channel)
        # A revoked HIPAA authorization is its own refusal, never a TCPA revocation: the
        # patient withdrew permission for PHI on this channel, so no automated call that
        # would speak it is placed (permanent, like a revocation).
        hipaa = [facts.consent.get(f"{req.channel}.hipaa"), facts.consent.get("all.hipaa")]
        if Consent.REVOKED in hipaa:
            raise _Refuse("hipaa.authorization.revoked", "HIPAA authorization was revoked",
                          channel=req.channel)
        if Consent.UNKNOWN in statuses or Consent.UNKNOWN in hipaa:
            raise _Refuse("tcpa.consent.unsettled",
                          "the consent ledger's last word is not readable yet",
                          channel=req.channel)
        if Consent.GRANTED not in statuses:
            raise _Refuse("tcpa.consent.missing", "no consent on file", channel=req.channel)
        if req.purpose in self.rules.written_consent_purposes:
            written = facts.consent.get(f"{req.channel}.written")
            if written is not Consent.GRANTED:
                raise _Refuse(
                    "tcpa.consent.missing_written",
                    "telemarketing needs prior express written consent",
                    channel=req.channel,
                )

    def _exemption(self, req: GateRequest) -> tuple[bool, str]:
        ex = self.rules.exemption
        if req.purpose in ex.never_exempt or req.purpose not in ex.purposes:
            return False, "purpose not exempt"
        if not req.free_to_patient:
            return False, "not free to the patient"
        if not req.number_given_by_patient:
            return False, "not the number the patient gave"
        return True, ""

    def _national(self, facts: GateFacts, now: dt.datetime, ctx: dict[str, str]) -> None:
        copy = facts.national_copy_date
        if copy is None:
            raise _Refuse("dnc.national.stale_copy",
                          "no national registry copy imported for the number's area code")
        age = (now.date() - copy).days
        ctx["registry_copy_age_days"] = str(age)
        if age < -1:  # a day ahead is the copy dated in UTC; more is a wrong date
            raise _Refuse("dnc.national.stale_copy",
                          "national registry copy is dated in the future")
        if age > self.rules.registry_max_age.days:
            raise _Refuse(
                "dnc.national.stale_copy",
                f"national registry copy is {age} days old "
                f"(limit {self.rules.registry_max_age.days})",
            )
        if facts.national_dnc:
            raise _Refuse("dnc.national", "number is on the national do-not-call registry")

    def _states(self, req: GateRequest, parsed: phonenumbers.PhoneNumber) -> frozenset[str]:
        """Address state plus the area code's state; neither known -> every rule state."""
        found: set[str] = set()
        if req.address is not None and req.address.state is not None:
            found.add(req.address.state)
        npa = phonenumbers.national_significant_number(parsed)[:3]
        npa_state = self.rules.area_codes.get(npa)
        if npa_state is not None:
            found.add(npa_state)
        if not found:
            return frozenset(self.rules.states)
        return frozenset(found)

    def _zones(self, req: GateRequest, parsed: phonenumbers.PhoneNumber) -> list[ZoneInfo]:
        """The address's time zone; else every zone of the address's state (a state may
        span zones: the call must fit all); else every zone the number may be in. Before
        the state's zones were used, a patient in Arizona with a New York number was
        called at 06:30 her time."""
        address = req.address
        if address is not None and address.tz:
            names: Sequence[str] = [address.tz]
        elif address is not None and address.state in self.rules.state_zones:
            names = self.rules.state_zones[address.state or ""]
        else:  # an unknown exchange: every zone of its area code (carrier.dialer.zones)
            npa = phonenumbers.national_significant_number(parsed)[:3]
            names = number_zones(parsed, self.rules.overlays, self.rules.state_zones,
                                 self.rules.area_codes.get(npa))
        if not names:
            raise _Refuse("window.zone_unknown", "the callee's time zone cannot be determined")
        try:
            return [ZoneInfo(n) for n in names]
        except (ZoneInfoNotFoundError, ValueError):
            raise _Refuse("window.zone_unknown", "unknown time zone name") from None

    def _federal_window(self, locals_: list[dt.datetime]) -> None:
        win = self.rules.federal_window
        for local in locals_:
            if not win.contains(local.time()):
                raise _Refuse(
                    "window.federal",
                    f"outside {win} local time",
                    zone=str(local.tzinfo),
                    local_time=f"{local:%H:%M}",
                )

    def _state_windows(self, states: frozenset[str], locals_: list[dt.datetime]) -> list[str]:
        passed: list[str] = []
        for state in sorted(states):
            rule = self.rules.states.get(state)
            if rule is None:
                continue
            for local in locals_:
                where = {"state": state, "zone": str(local.tzinfo), "local_time": f"{local:%H:%M}"}
                if rule.no_sunday and local.weekday() == 6:
                    raise _Refuse(
                        "window.state.no_sunday", f"no calls on Sunday in {state}", **where
                    )
                if rule.no_holidays:
                    name = self.holidays.holiday_name(state, local.date())
                    if name is not None:
                        raise _Refuse(
                            "window.holiday", f"public holiday in {state}", holiday=name, **where
                        )
                win = rule.window_for(local.weekday())
                if win is not None and not win.contains(local.time()):
                    raise _Refuse(f"window.state.{state}", f"outside {win} in {state}", **where)
            passed.append(f"window.state.{state}")
        return passed

    def _window_closes(self, states: frozenset[str], locals_: list[dt.datetime]) -> dt.datetime:
        """When the first window this call passed closes, in UTC (each zone's own clock, so
        a DST change that day is counted)."""
        ends: list[dt.datetime] = []
        for local in locals_:
            wins = [self.rules.federal_window]
            for state in states:
                rule = self.rules.states.get(state)
                win = None if rule is None else rule.window_for(local.weekday())
                if win is not None:
                    wins.append(win)
            ends.extend(dt.datetime.combine(local.date(), w.end, tzinfo=local.tzinfo)
                        for w in wins)
        return min(ends).astimezone(dt.UTC)

    def _exempt_caps(self, facts: GateFacts, now: dt.datetime, zones: Sequence[ZoneInfo],
                     ctx: dict[str, str]) -> None:
        """One call per day, three per week, "day" read as the rule means it: a calendar
        day in the patient's time zone (STANDARDS.md), not a rolling 24 h, so the 24 h and
        2 h reminders (yesterday 10:00, today 08:00) are one call on each of two days.
        The week is the seven local calendar days ending today. Where the zone is
        uncertain, a call counts for a day if it fell on that day in any candidate zone."""
        ex = self.rules.exemption
        counted = [c for c in facts.prior_calls
                   if c.outcome in ex.counted_outcomes and c.at <= now]

        def days_back(call: PriorCall) -> int:
            return min((now.astimezone(z).date() - call.at.astimezone(z).date()).days
                       for z in zones)

        day = sum(1 for c in counted if days_back(c) == 0)
        week = sum(1 for c in counted if days_back(c) < 7)
        ctx["exempt_calls_today"], ctx["exempt_calls_week"] = str(day), str(week)
        if day >= ex.max_calls_per_day:
            raise _Refuse(
                "cap.exempt.daily",
                f"{day} exempt call(s) today in the patient's time zone "
                f"(limit {ex.max_calls_per_day})",
            )
        if week >= ex.max_calls_per_week:
            raise _Refuse(
                "cap.exempt.weekly",
                f"{week} exempt call(s) in the last 7 local days (limit {ex.max_calls_per_week})",
            )

    def _state_caps(
        self, req: GateRequest, facts: GateFacts, states: frozenset[str], now: dt.datetime,
        ctx: dict[str, str],
    ) -> list[str]:
        passed: list[str] = []
        since = now - dt.timedelta(hours=24)
        same = sum(
            1 for c in facts.prior_calls if c.subject == req.subject_key and since < c.at <= now
        )
        ctx["same_subject_24h"] = str(same)
        for state in sorted(states):
            rule = self.rules.states.get(state)
            if rule is None or rule.cap_24h_same_subject is None:
                continue
            if same >= rule.cap_24h_same_subject:
                raise _Refuse(
                    f"cap.state.{state}.24h",
                    f"{same} call(s) on this subject in 24 h (limit {rule.cap_24h_same_subject})",
                    state=state,
                )
            passed.append(f"cap.state.{state}.24h")
        return passed


def _parse(number: str) -> phonenumbers.PhoneNumber:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        raise _Refuse("number.invalid", "not a dialable E.164 number") from None
    if parsed.country_code != 1:
        raise _Refuse("number.unsupported", "only NANP numbers are covered by these rules")
    if len(phonenumbers.national_significant_number(parsed)) != 10:
        raise _Refuse("number.invalid", "a NANP number has ten digits")
    return parsed
