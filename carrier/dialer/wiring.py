"""Dialer objects built from the typed settings (`carrier.settings`), for app.py and the CLI."""

from __future__ import annotations

import datetime as dt

from carrier.dialer.campaign import CampaignPolicy
from carrier.dialer.throttle import TrunkLimits, TrunkPool
from carrier.errors import ConfigError
from carrier.settings import DialerSettings, Settings


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
