"""Dialer objects built from the typed settings (`carrier.settings`), for app.py and the CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from carrier.dialer.campaign import CampaignPolicy
from carrier.dialer.gate import Decision
from carrier.dialer.throttle import TrunkLimits, TrunkPool
from carrier.errors import ConfigError
from carrier.settings import DialerSettings, Settings, default_config_dir


def policy_from_settings(d: DialerSettings) -> CampaignPolicy:
    return CampaignPolicy(
        reminder_offsets=tuple(dt.timedelta(hours=h) for h in d.reminder_offsets_h),
        no_show_delay=dt.timedelta(minutes=d.no_show_delay_min),
        retry_after=dt.timedelta(minutes=d.retry_delay_min),
        max_dials=d.max_attempts,
    )


def trunk_pool_from_settings(s: Settings, *, down_for: float = 30.0) -> TrunkPool:
    """The dialer's trunk, then its failover chain, each with its CPS and concurrency."""
    chain: list[TrunkLimits] = []
    name: str | None = s.dialer.trunk
    while name is not None and name not in {t.name for t in chain}:
        try:
            t = s.trunk(name)
        except KeyError:
            raise ConfigError("carrier.yaml", "dialer.trunk", f"unknown trunk {name!r}") from None
        chain.append(
            TrunkLimits(t.name, cps=t.calls_per_second, max_concurrent=t.max_concurrent_calls)
        )
        name = t.failover
    return TrunkPool(chain, down_for=down_for)


async def gate_once(records: Any, patient_id: str, purpose: str, now: dt.datetime,
                    *, rules_dir: Path | None = None) -> Decision:
    """One compliance decision for one patient, recorded in the audit log like the
    runner's (used by the demo call and by operators checking why a call would not go)."""
    from carrier.dialer.gate import DialRequest, Gate, GateFacts  # noqa: PLC0415
    from carrier.dialer.holiday_calendar import PackageHolidays  # noqa: PLC0415
    from carrier.dialer.records_adapter import (  # noqa: PLC0415
        RecordsDecisionRecorder,
        RecordsDirectory,
        RecordsFacts,
    )
    from carrier.dialer.rules import load_rules  # noqa: PLC0415
    from carrier.dialer.store import OutreachStore  # noqa: PLC0415

    folder = rules_dir or (Path(default_config_dir()) / "calling_rules")
    rules = load_rules(folder) if folder.is_dir() else load_rules()
    contact = await RecordsDirectory(records).contact(patient_id)
    if contact is None:
        raise ConfigError("clinic", patient_id, "no such patient in the records store")
    request = DialRequest(patient_id=patient_id, number=contact.number, purpose=purpose,
                          number_given_by_patient=contact.number_given_by_patient,
                          free_to_patient=contact.free_to_patient, address=contact.address)
    facts_src = RecordsFacts(records)
    national, copy_date = await facts_src.national_dnc(contact.number)
    prior = await OutreachStore(records.pool).prior_calls(patient_id,
                                                          now - dt.timedelta(days=7))
    facts = GateFacts(await facts_src.consent(patient_id), await facts_src.org_dnc(
        contact.number), national, copy_date, tuple(prior))
    decision = Gate(rules, PackageHolidays(rules)).decide(request, facts, now)
    await RecordsDecisionRecorder(records).record(request, decision, outreach_id=0, at=now)
    return decision
