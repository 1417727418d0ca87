"""Campaign planning: which outreach is due when, and what to do after each attempt.

Pure: appointments (``carrier.plugin.AppointmentFact``, as the application's
``AppointmentSource`` reports them) and `now` in, `PlannedOutreach` rows and `Next`
steps out. `carrier.dialer.store` persists
them; `carrier.dialer.runner` drives them through the gate and the trunks.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from carrier.dialer.ports import Outcome
from carrier.plugin import AppointmentFact, AppointmentState

REMINDER_CAMPAIGN = "reminders"
NO_SHOW_CAMPAIGN = "no_show"
SCREENING_CAMPAIGN = "screening"
SCREENING = "screening"  # the purpose, and the need an appointment declares

# Appointment states after which no reminder may be dialled (the application maps its
# own status names onto these; the dialer never sees them).
STOP_STATES = frozenset({AppointmentState.CONFIRMED, AppointmentState.CLOSED,
                         AppointmentState.MISSED})
# A confirmed appointment still needs its screening; a closed or missed one does not.
SCREENING_STOP_STATES = frozenset({AppointmentState.CLOSED, AppointmentState.MISSED})


def stop_states(campaign: str) -> frozenset[AppointmentState]:
    """Appointment states after which this campaign's outreach is not dialled."""
    if campaign == NO_SHOW_CAMPAIGN:
        return frozenset()
    return SCREENING_STOP_STATES if campaign == SCREENING_CAMPAIGN else STOP_STATES

# Gate rules that will never pass for this outreach however long we wait.
PERMANENT_RULES = frozenset(
    {
        "number.invalid",
        "number.unsupported",
        "tcpa.consent.revoked",
        "tcpa.consent.revoked_at_number",
        "hipaa.authorization.revoked",
        "tcpa.consent.missing",
        "tcpa.consent.missing_written",
        "dnc.organisation",
        "dnc.national",
        "contact.unknown",
    }
)


@dataclass(frozen=True)
class CampaignPolicy:
    reminder_offsets: tuple[dt.timedelta, ...] = (
        dt.timedelta(hours=72),
        dt.timedelta(hours=24),
        dt.timedelta(hours=2),
    )
    # An offset whose time passed less than this long ago is still dialled.
    catch_up: dt.timedelta = dt.timedelta(minutes=30)
    no_show_delay: dt.timedelta = dt.timedelta(minutes=5)
    no_show_valid_for: dt.timedelta = dt.timedelta(days=3)
    max_dials: int = 3  # per outreach, retries for busy/no answer included
    retry_after: dt.timedelta = dt.timedelta(minutes=30)
    gate_defer: dt.timedelta = dt.timedelta(minutes=30)  # window/cap refusals: try later
    lease_for: dt.timedelta = dt.timedelta(minutes=5)
    # Screening calls: from this long before the appointment, until this long before it.
    screening_lead: dt.timedelta = dt.timedelta(days=7)
    screening_min_notice: dt.timedelta = dt.timedelta(days=1)

    def __post_init__(self) -> None:
        if not self.reminder_offsets or any(o <= dt.timedelta(0) for o in self.reminder_offsets):
            raise ValueError("reminder offsets must be positive")
        if self.max_dials < 1:
            raise ValueError("max_dials must be >= 1")


def offset_label(offset: dt.timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


@dataclass(frozen=True)
class PlannedOutreach:
    campaign: str
    appointment_id: str
    patient_id: str
    purpose: str
    label: str  # "72h", "24h", "2h", "missed": unique per (campaign, appointment)
    due_at: dt.datetime
    not_after: dt.datetime


def plan_reminders(
    appointments: Iterable[AppointmentFact], policy: CampaignPolicy, now: dt.datetime
) -> list[PlannedOutreach]:
    """Reminder outreach for scheduled appointments, skipping offsets already past."""
    out: list[PlannedOutreach] = []
    for appt in appointments:
        if appt.state in STOP_STATES or appt.starts_at <= now:
            continue
        for offset in sorted(policy.reminder_offsets, reverse=True):
            due = appt.starts_at - offset
            if due < now - policy.catch_up:
                continue
            out.append(
                PlannedOutreach(
                    campaign=REMINDER_CAMPAIGN,
                    appointment_id=appt.id,
                    patient_id=appt.patient_id,
                    purpose="appointment_reminder",
                    label=offset_label(offset),
                    due_at=max(due, now - policy.catch_up),
                    not_after=appt.starts_at,
                )
            )
    return out


def screening_not_after(appt: AppointmentFact, policy: CampaignPolicy) -> dt.datetime:
    """The last moment of an appointment's screening call (time to act on the answers)."""
    return appt.starts_at - policy.screening_min_notice


def plan_screening(
    appointments: Iterable[AppointmentFact], policy: CampaignPolicy, now: dt.datetime
) -> list[PlannedOutreach]:
    """A screening call for each open or confirmed appointment that needs one, due
    ``screening_lead`` before it (or now) and no later than ``screening_min_notice``
    before it, so there is time to act on the answers."""
    out: list[PlannedOutreach] = []
    for appt in appointments:
        if SCREENING not in appt.needs or appt.state in SCREENING_STOP_STATES:
            continue
        not_after = screening_not_after(appt, policy)
        if not_after <= now:
            continue
        out.append(PlannedOutreach(
            campaign=SCREENING_CAMPAIGN, appointment_id=appt.id, patient_id=appt.patient_id,
            purpose=SCREENING, label=SCREENING,
            due_at=max(now, appt.starts_at - policy.screening_lead), not_after=not_after))
    return out


def plan_no_show(
    appt: AppointmentFact, marked_at: dt.datetime, policy: CampaignPolicy
) -> PlannedOutreach:
    """Reactivation call a few minutes after an appointment is marked missed."""
    return PlannedOutreach(
        campaign=NO_SHOW_CAMPAIGN,
        appointment_id=appt.id,
        patient_id=appt.patient_id,
        purpose="no_show",
        label="missed",
        due_at=marked_at + policy.no_show_delay,
        not_after=marked_at + policy.no_show_valid_for,
    )


def stopped_appointments(appointments: Sequence[AppointmentFact]) -> list[tuple[str, str]]:
    """(appointment id, state) pairs whose pending reminders must be cancelled."""
    return [(a.id, a.state.value) for a in appointments if a.state in STOP_STATES]


class Step(enum.StrEnum):
    DONE = "done"  # finished: answered, machine, or nothing more to try
    RETRY = "retry"  # back to pending at `due_at`
    EXPIRED = "expired"  # the next try would be too late


@dataclass(frozen=True)
class Next:
    step: Step
    reason: str
    due_at: dt.datetime | None = None


def after_dial(
    outcome: Outcome, dials: int, not_after: dt.datetime, policy: CampaignPolicy, now: dt.datetime,
    *, rule: str | None = None,
) -> Next:
    """What follows a dial attempt (`dials` counts this one; `rule`: a withdrawn one's)."""
    if outcome in (Outcome.ANSWERED, Outcome.MACHINE):
        return Next(Step.DONE, outcome.value)
    if outcome in (Outcome.TOO_LATE, Outcome.WITHDRAWN):
        # Nothing was sent: as a refusal (the window's, or the gate's at dial time).
        why = "window.closing" if outcome is Outcome.TOO_LATE else rule or "dial.withdrawn"
        return after_refusal(why, not_after, policy, now)
    if outcome in (Outcome.BUSY, Outcome.NO_ANSWER, Outcome.TRUNK_DOWN, Outcome.NO_MEDIA_PORT,
                   Outcome.STOPPED):
        # No media port (this node was full) or stopped (the process was stopping before a
        # trunk slot came): nothing was sent, so it is not a dial; stopped is due again now.
        stopped = outcome is Outcome.STOPPED
        if dials >= policy.max_dials and outcome not in (Outcome.NO_MEDIA_PORT, Outcome.STOPPED):
            return Next(Step.DONE, f"{outcome.value}, {dials} dials")
        due = now if stopped else now + policy.retry_after
        if due >= not_after:
            return Next(Step.EXPIRED, outcome.value)
        return Next(Step.RETRY, outcome.value, due)
    return Next(Step.DONE, outcome.value)


def after_refusal(
    rule: str, not_after: dt.datetime, policy: CampaignPolicy, now: dt.datetime
) -> Next:
    """What follows a gate refusal: permanent rules end it, others wait and ask again."""
    if rule in PERMANENT_RULES:
        return Next(Step.DONE, f"refused:{rule}")
    due = now + policy.gate_defer
    if due >= not_after:
        return Next(Step.EXPIRED, f"refused:{rule}")
    return Next(Step.RETRY, f"refused:{rule}", due)
