"""A budget of PHI lookups by phone number per operator and hour.

Every lookup is audited, but an audit log is read after the fact: a scheduler's session
(or a stolen one) could walk through numbers one after another and collect the names and
dates of birth of a whole practice, or who called the clinic when. ``console.
phi_lookups_per_hour`` bounds that: past the budget a lookup answers 429 (a page on the
pages), is audited ``patients.lookup_limited`` and logged (the operator, never the number),
until the oldest lookup in the hour ages out. The budget is the operator's own, shared by
the API and the pages: a patient search by number (patients page, consent page) and a
search of call records by number (its last digits) each spend one, as does every page that
shows the people on a number, the page shown again after a form too, unless the form
changed one of those people. A page shown again after a change was recorded is never
refused: past the budget it leaves the people out (:func:`lookup_allowed`).

The budget is kept in the records database (``console_phi_lookups``), so a restart of
``serve`` starts no budget afresh and every console on the database shares it. A budget
that cannot be checked (the database down) refuses the lookup (503), which needs the same
database anyway: fail closed. A ``HEAD`` (no data out) spends nothing (``app.HeadAsGet``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from carrier.console.problems import Problem
from carrier.records.dbedge import UNAVAILABLE
from carrier.records.phi_lookups import PhiLookups

HOUR = timedelta(hours=1)
_log = logging.getLogger(__name__)


class BudgetUnavailable(RuntimeError):
    """The records database could not count a lookup."""


class LookupBudget:
    """Lookups per operator in a sliding hour, in the records database."""

    def __init__(self, per_hour: int, pool: Any | None) -> None:
        self.per_hour = per_hour
        self.ledger = None if pool is None else PhiLookups(pool)

    async def spend(self, actor: str, now: datetime) -> timedelta | None:
        """Count one lookup by ``actor``; or, past the budget, how long until one frees.
        Raises :class:`BudgetUnavailable` when the database cannot say."""
        if self.ledger is None:
            raise BudgetUnavailable("no records database")
        try:
            return await self.ledger.spend(actor, now, limit=self.per_hour, window=HOUR)
        except UNAVAILABLE as exc:
            raise BudgetUnavailable(type(exc).__name__) from None


async def spend_lookup(ctx: Any, actor: str) -> None:
    """Spend one of ``actor``'s lookups, or refuse with 429 (audited, logged); 503 when
    the budget cannot be checked. A HEAD request spends nothing: it reads no data."""
    from carrier.console.app import answering_head  # noqa: PLC0415 - no import cycle

    if answering_head():
        return
    try:
        wait = await ctx.lookups.spend(actor, ctx.now())
    except BudgetUnavailable:
        _log.warning("patient lookup budget unavailable: lookup refused", extra={
            "actor": actor})
        raise Problem(503, "the records database cannot count this lookup against the"
                      " hour's budget: no lookup was made, try again shortly") from None
    if wait is None:
        return
    minutes = max(1, -(-int(wait.total_seconds()) // 60))
    _log.warning("patient lookup budget spent", extra={
        "actor": actor, "per_hour": ctx.lookups.per_hour})
    await ctx.audit(actor, "patients.lookup_limited", ("operator", actor),
                    "console: lookup budget", {"per_hour": ctx.lookups.per_hour})
    raise Problem(429, f"{ctx.lookups.per_hour} lookups by phone number in an hour"
                  f" is this console's limit: try again in {minutes} minutes")


async def lookup_allowed(ctx: Any, actor: str) -> bool:
    """For a page shown again after a change was recorded (which must not look refused):
    spend a lookup if one is left, else False (the page leaves the people out)."""
    try:
        await spend_lookup(ctx, actor)
    except Problem:
        return False
    return True
