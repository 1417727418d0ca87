"""Turns the application's appointments into outreach rows (the carrier never reads them).

The dialer asks the hosted application's :class:`carrier.plugin.AppointmentSource` which
appointments exist and in which :class:`carrier.plugin.AppointmentState`; it never sees
the application's tables or status names. `sync_campaigns` plans reminders for open
appointments (and screening calls for those that need one), stops them for closed or
confirmed ones (a confirmed appointment keeps its screening), re-times or drops those of
an appointment that moved, and plans reactivation calls for missed ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from carrier.dialer.campaign import (
    REMINDER_CAMPAIGN,
    SCREENING_CAMPAIGN,
    SCREENING_STOP_STATES,
    STOP_STATES,
    CampaignPolicy,
    plan_no_show,
    plan_reminders,
    plan_screening,
    screening_not_after,
)
from carrier.dialer.store import OutreachStore
from carrier.plugin import AppointmentSource, AppointmentState


@dataclass(frozen=True)
class SyncReport:
    added: int
    stopped: int


async def sync_campaigns(
    store: OutreachStore, source: AppointmentSource, policy: CampaignPolicy, now: dt.datetime
) -> SyncReport:
    """Idempotent: run it every minute; known outreach rows are never duplicated."""
    horizon = max(*policy.reminder_offsets, policy.screening_lead) + dt.timedelta(days=1)
    upcoming = await source.upcoming(now, horizon)
    planned = plan_reminders(upcoming, policy, now) + plan_screening(upcoming, policy, now)
    missed = await source.missed_since(now - policy.no_show_valid_for)
    planned += [plan_no_show(appt, appt.changed_at or now, policy) for appt in missed]
    # An appointment that moved: its reminders and screening not dialled yet follow it
    # (re-timed, or dropped when the new time leaves no room for them).
    added = await store.add(planned, now, follow=(REMINDER_CAMPAIGN, SCREENING_CAMPAIGN))
    # ``upcoming`` is every appointment starting in (now, now + horizon]: outreach timed
    # for a start there whose appointment is not among them moved out (or is gone).
    stopped = await store.drop_moved(
        REMINDER_CAMPAIGN, [(a.id, a.starts_at) for a in upcoming], now, now + horizon)
    stopped += await store.drop_moved(
        SCREENING_CAMPAIGN, [(a.id, screening_not_after(a, policy)) for a in upcoming], now,
        now + horizon - policy.screening_min_notice)
    for appt in upcoming:
        if appt.state in SCREENING_STOP_STATES:
            stopped += await store.stop_appointment(appt.id, appt.state.value, now)
        elif appt.state in STOP_STATES:  # confirmed: reminders stop, a screening goes on
            assert appt.state is AppointmentState.CONFIRMED
            stopped += await store.stop_appointment_campaign(
                appt.id, REMINDER_CAMPAIGN, appt.state.value, now)
    for appt in missed:  # reminders of a missed appointment are moot
        stopped += await store.stop_appointment_campaign(
            appt.id, REMINDER_CAMPAIGN, appt.state.value, now)
    return SyncReport(added, stopped)
