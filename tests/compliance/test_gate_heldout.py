"""The gate against a held-out split of dial decisions written from STANDARDS.md.

``gate_heldout.tsv`` was written before this round read the gate's decision code or its
rules data, and is never tuned to: each row is one request, its facts and a local time,
with the decision the standards require (and, for a refusal, the family of the rule
that must refuse). The share right is printed and floored; the rows still wrong are
printed so a reader sees which readings of the standards the gate does not share.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from carrier.dialer.gate import Address, Consent, Gate, GateFacts, GateRequest, PriorCall
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.rules import load_rules

HERE = Path(__file__).parent
RULES = load_rules()
GATE = Gate(RULES, PackageHolidays(RULES))


def rows(name: str) -> list[list[str]]:
    lines = (HERE / name).read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


def _address(spec: str) -> Address | None:
    if spec == "-":
        return None
    key, value = spec.split("=", 1)
    return Address(**{key: value})


def _prior(spec: str, now: dt.datetime, purpose: str) -> tuple[PriorCall, ...]:
    calls: list[PriorCall] = []
    for part in [] if spec == "-" else spec.split(";"):
        count, rest = part.split("*", 1)
        outcome, rest = rest.split("@", 1)
        hours, _, subject = rest.partition(":")
        at = now + dt.timedelta(hours=float(hours.rstrip("h")))
        calls += [PriorCall(at=at - dt.timedelta(minutes=i), subject=subject or purpose,
                            outcome=outcome) for i in range(int(count))]
    return tuple(calls)


def decide(row: list[str]) -> tuple[bool, str]:
    (_id, number, addr, purpose, when, zone, consent, dnc, prior, given, free,
     *_rest) = row
    local = dt.datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(zone))
    now = local.astimezone(dt.UTC)
    copy_age = 40 if dnc == "stale" else 3
    request = GateRequest(patient_id="p-held", number=number, purpose=purpose,
                          number_given_by_patient=given == "y", free_to_patient=free == "y",
                          address=_address(addr))
    facts = GateFacts(
        consent={k: Consent(v) for k, v in (p.split("=") for p in consent.split(","))},
        org_dnc=dnc == "org", national_dnc=dnc == "national",
        national_copy_date=now.date() - dt.timedelta(days=copy_age),
        prior_calls=_prior(prior, now, purpose), org_dnc_settled=dnc != "unsettled")
    decision = GATE.decide(request, facts, now)
    return decision.allowed, decision.rule


def score(name: str) -> tuple[int, int, list[str]]:
    right, wrong = 0, []
    table = rows(name)
    for row in table:
        expect, rule_re = row[11], row[12]
        allowed, rule = decide(row)
        ok = allowed if expect == "allow" else (
            not allowed and re.search(rule_re, rule, re.IGNORECASE) is not None)
        if ok:
            right += 1
        else:
            wrong.append(f"{row[0]}: expected {expect} ({rule_re}), got "
                         f"{'allow' if allowed else 'refuse'} ({rule}) - {row[13]}")
    return right, len(table), wrong


def test_held_out_decisions_reported() -> None:
    right, total, wrong = score("gate_heldout.tsv")
    print(f"\ngate held-out: {right}/{total} = {right / total:.1%}")
    print("\n".join(wrong))
    # A floor, not a target: 67/81 on main before this round, 69/81 after (vi01, mz01).
    # Of the rows still wrong, 9 refuse as expected under a rule named otherwise (the
    # Sunday and holiday refusals name the state in their details, not in the rule; 555
    # refuses as window.zone_unknown); addr05 (the address's zone alone is used, as
    # STANDARDS.md says), con04 and con05 (a text or chat opt-out reaches calls through
    # the ledger's "all" entry and the do-not-call list, per sms.stop_revokes) are
    # readings of the standards the gate does not share.
    assert right / total >= 0.8
