"""The console's ledger of PHI lookups by phone number (``console_phi_lookups``).

One row per lookup granted, per operator (the audit actor): the console's budget
(``console.phi_lookups_per_hour``, :mod:`carrier.console.lookups`) counts them in a sliding
window. In the database rather than one process's memory, so that a restart of ``serve``
grants no fresh budget and every console on the database shares one. An operator's
lookups are counted one at a time (a transaction-scoped advisory lock), so lookups sent
at once get no more than the budget; rows older than the window go as the next is counted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

_LOCK = 0x636F6E73  # "cons": with the actor's hash, one operator's count at a time


class PhiLookups:
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def spend(self, actor: str, now: datetime, *, limit: int,
                    window: timedelta) -> timedelta | None:
        """Count one lookup by ``actor`` at ``now``; or, with ``limit`` already in the
        window, none, and how long until the oldest ages out. Database errors propagate
        (``carrier.records.dbedge.UNAVAILABLE``: it is down)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK, actor)
            await conn.execute("DELETE FROM console_phi_lookups WHERE actor = $1"
                               " AND at <= $2", actor, now - window)
            row = await conn.fetchrow("SELECT count(*) AS n, min(at) AS oldest"
                                      " FROM console_phi_lookups WHERE actor = $1", actor)
            if row["n"] >= limit:
                oldest: datetime = row["oldest"]
                return max(oldest + window - now, timedelta(0))
            await conn.execute("INSERT INTO console_phi_lookups (actor, at) VALUES ($1, $2)",
                               actor, now)
        return None
