"""Dialer objects built from the typed settings (`carrier.settings`), for app.py and the CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from carrier import metrics
from carrier.dialer.campaign import CampaignPolicy
from carrier.dialer.gate import Decision, Gate
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.inputs import gate_facts, request_for
from carrier.dialer.ports import ComplianceFacts, Contact, ContactInvalid
from carrier.dialer.records_adapter import RecordsDecisionRecorder, RecordsDirectory, RecordsFacts
from carrier.dialer.rules import DEFAULT_RULES_DIR, load_rules
from carrier.dialer.store import OutreachStore
from carrier.errors import ConfigError
from carrier.records.store import Records
from carrier.settings import DialerSettings, Settings


def policy_from_settings(d: DialerSettings) -> CampaignPolicy:
    return CampaignPolicy(
        reminder_offsets=tuple(dt.timedelta(hours=h) for h in d.reminder_offsets_h),
        no_show_delay=dt.timedelta(minutes=d.no_show_delay_min),
        retry_after=dt.timedelta(minutes=d.retry_delay_min),
        max_dials=d.max_attempts,
    )


def rules_dir_of(settings: Settings) -> Path:
    configured = Path(settings.config_dir) / "calling_rules"
    return configured if configured.is_dir() else DEFAULT_RULES_DIR


def gate_from_settings(settings: Settings, rules_dir: Path | None = None) -> Gate:
    return _gate_of(rules_dir or rules_dir_of(settings))


def _gate_of(rules_dir: Path | None) -> Gate:
    rules = load_rules(rules_dir if rules_dir and rules_dir.is_dir() else DEFAULT_RULES_DIR)
    return Gate(rules, PackageHolidays(rules))


async def gate_once(records: Records, patient_id: str, purpose: str, now: dt.datetime,
                    *, gate: Gate | None = None, rules_dir: Path | None = None,
                    contact: Contact | None = None,
                    facts: ComplianceFacts | None = None, outreach_id: int = 0) -> Decision:
    """One compliance decision for one patient outside a campaign, recorded in the audit
    log like the runner's (the demo call, `carrier call`, operators checking why a call
    would not go). ``contact`` overrides the patient record's (a number the operator
    gave), ``facts`` the records' consent and DNC lookups; without ``gate`` the rules of
    ``rules_dir`` (or the shipped ones) decide; its inputs come from the same
    `inputs.gate_facts` as every other decision."""
    if contact is None:
        try:
            contact = await RecordsDirectory(records).contact(patient_id)
        except ContactInvalid as bad:  # the operator is told what, never the value
            raise ConfigError("records", patient_id, bad.reason) from None
        if contact is None:
            raise ConfigError("records", patient_id, "no such patient in the records store")
    gate = gate or _gate_of(rules_dir)
    request = request_for(patient_id, purpose, contact)
    inputs = await gate_facts(request, facts or RecordsFacts(records),
                              OutreachStore(records.pool), now)
    decision = gate.decide(request, inputs, now)
    metrics.gate_decision(decision.allowed, decision.rule)
    await RecordsDecisionRecorder(records).record(request, decision, outreach_id=outreach_id,
                                                  at=now)
    return decision
