"""The local calendar as the carrier's ``AppointmentSource`` (what the dialer may know).

The dialer asks which appointments exist and in what state, in the carrier's vocabulary
(:class:`carrier.plugin.AppointmentState`). The calendar's own status names stay here:
``STATE_OF`` is the one mapping, and every status the calendar can hold has an entry
(a test checks it against ``AppointmentStatus``). Only ids, patient ids, times and
states leave: no clinical data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from agent.scheduling.model import AppointmentStatus
from carrier.plugin import AppointmentFact, AppointmentState

STATE_OF: Mapping[AppointmentStatus, AppointmentState] = {
    AppointmentStatus.BOOKED: AppointmentState.OPEN,
    AppointmentStatus.CONFIRMED: AppointmentState.CONFIRMED,
    AppointmentStatus.CANCELLED: AppointmentState.CLOSED,
    AppointmentStatus.COMPLETED: AppointmentState.CLOSED,
    AppointmentStatus.MISSED: AppointmentState.MISSED,
}


def _fact(row: Mapping[str, Any]) -> AppointmentFact:
    needs = row.get("needs")  # not selected for missed appointments
    return AppointmentFact(str(row["id"]), str(row["patient_id"]), row["start_at"],
                           STATE_OF[AppointmentStatus(row["status"])], row["updated_at"],
                           needs=frozenset(needs or ()))


class CalendarAppointments:
    """``AppointmentSource`` over the local calendar's ``sched_appointments`` table."""

    def __init__(self, pool: Any, *, timeout: float = 5.0) -> None:
        self._pool = pool
        self._timeout = timeout

    async def upcoming(self, now: dt.datetime, horizon: dt.timedelta) -> list[AppointmentFact]:
        rows = await self._pool.fetch(
            "SELECT id, patient_id, start_at, status, updated_at, needs FROM sched_appointments"
            " WHERE start_at > $1 AND start_at <= $2 ORDER BY start_at",
            now, now + horizon, timeout=self._timeout)
        return [_fact(r) for r in rows]

    async def missed_since(self, since: dt.datetime) -> list[AppointmentFact]:
        """Appointments marked missed since ``since``; ``changed_at`` says when."""
        rows = await self._pool.fetch(
            "SELECT id, patient_id, start_at, status, updated_at FROM sched_appointments"
            " WHERE status = $1 AND updated_at >= $2 ORDER BY updated_at",
            str(AppointmentStatus.MISSED), since, timeout=self._timeout)
        return [_fact(r) for r in rows]

    async def state(self, appointment_id: str) -> AppointmentState | None:
        value = await self._pool.fetchval(
            "SELECT status FROM sched_appointments WHERE id = $1", appointment_id,
            timeout=self._timeout)
        return None if value is None else STATE_OF[AppointmentStatus(value)]
