"""A budget of patient lookups by phone number per operator and hour.

Every lookup is audited, but an audit log is read after the fact: a scheduler's session
(or a stolen one) could walk through numbers one after another and collect the names and
dates of birth of a whole practice. ``console.phi_lookups_per_hour`` bounds that: past the
budget a lookup answers 429 (a page on the pages), is audited
``patients.lookup_limited`` and logged (the operator, never the number), until the oldest
lookup in the hour ages out. The budget is the operator's own, shared by the API and the
pages (the patients page, the consent page). Only lookups an operator asks for spend it:
a page shown again after recording a consent change or a language never is refused.
In this process's memory: a restart of ``serve`` starts every budget afresh.
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from carrier.console.problems import Problem

HOUR = timedelta(hours=1)
_log = logging.getLogger(__name__)


class LookupBudget:
    """Lookups per operator in a sliding hour (this process's)."""

    def __init__(self, per_hour: int) -> None:
        self.per_hour = per_hour
        self._seen: dict[str, deque[datetime]] = {}

    def spend(self, actor: str, now: datetime) -> timedelta | None:
        """Count one lookup by ``actor``; or, past the budget, how long until one frees."""
        times = self._seen.setdefault(actor, deque())
        while times and now - times[0] >= HOUR:
            times.popleft()
        if len(times) >= self.per_hour:
            return times[0] + HOUR - now
        times.append(now)
        return None


async def spend_lookup(ctx: Any, actor: str) -> None:
    """Spend one of ``actor``'s lookups, or refuse with 429 (audited, logged)."""
    wait = ctx.lookups.spend(actor, ctx.now())
    if wait is None:
        return
    minutes = max(1, -(-int(wait.total_seconds()) // 60))
    _log.warning("patient lookup budget spent", extra={
        "actor": actor, "per_hour": ctx.lookups.per_hour})
    await ctx.audit(actor, "patients.lookup_limited", ("operator", actor),
                    "console: lookup budget", {"per_hour": ctx.lookups.per_hour})
    raise Problem(429, f"{ctx.lookups.per_hour} patient lookups by phone number in an hour"
                  f" is this console's limit: try again in {minutes} minutes")
