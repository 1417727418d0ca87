"""The agent's side of ``carrier.plugin``: which workflow serves a call, and what it came to.

The carrier speaks of a dial *purpose* and an :class:`OutcomeKind`; workflow names and
their outcome names belong to the agent. This module is the one translation between
the two vocabularies (pure tables, no I/O).
"""

from __future__ import annotations

from collections.abc import Mapping

from carrier.call import Direction
from carrier.plugin import CallContext, OutcomeKind

# The dialer's purpose of an outbound call -> the shipped workflow that serves it.
WORKFLOW_FOR_PURPOSE: Mapping[str, str] = {
    "appointment_reminder": "appointment_reminder",
    "no_show": "no_show_reactivation",
    "refill": "refill_reminder",
    "screening": "health_screening",  # planned by the dialer for appointments that need it
}

# A workflow's outcome name -> how the carrier needs to know it. Names not listed are
# some other end of a workflow (declined, not_verified, refill_requested...): COMPLETED.
OUTCOME_KINDS: Mapping[str, OutcomeKind] = {
    "confirmed": OutcomeKind.CONFIRMED,
    "cancelled": OutcomeKind.CANCELLED,
    "rescheduled": OutcomeKind.RESCHEDULED,
    "booked": OutcomeKind.RESCHEDULED,  # a missed appointment replaced by a new one
    "opted_out": OutcomeKind.OPTED_OUT,
    "transferred": OutcomeKind.TRANSFERRED,
    "transfer_failed": OutcomeKind.TRANSFER_FAILED,
    "machine_message": OutcomeKind.MACHINE_MESSAGE,
    "incomplete": OutcomeKind.ABANDONED,  # the engine's word for a caller who hung up
    "length_limit": OutcomeKind.LENGTH_LIMIT,
    "engine_error": OutcomeKind.FAILED,
}


def workflow_for(context: CallContext, called: str, *, routes: Mapping[str, str],
                 default: str, known: Mapping[str, object]) -> str | None:
    """The workflow that runs this call, or None when nothing known serves it.

    Outbound: the purpose's workflow (a purpose that is itself a workflow's id, as in an
    operator's test call or a bench, runs that workflow). Inbound: the dialled number's
    route, else the default workflow.
    """
    if context.direction is Direction.OUTBOUND and context.purpose:
        name = WORKFLOW_FOR_PURPOSE.get(context.purpose, context.purpose)
    else:
        name = routes.get(called) or default
    return name if name in known else None


MEMORY_CHANNELS = frozenset({"voice", "sms", "web"})


def memory_channel(context: CallContext) -> str:
    """The channel a conversation is remembered under: ``voice``, unless the carrier names
    another in the context (``extra["channel"]``: ``web`` for the patient web page)."""
    channel = context.extra.get("channel")
    return channel if isinstance(channel, str) and channel in MEMORY_CHANNELS else "voice"


def outcome_kind(outcome: str | None, *, transfer_ok: bool | None) -> OutcomeKind:
    """``outcome``: the workflow's last remembered outcome (None: it never got there)."""
    if transfer_ok is False:
        return OutcomeKind.TRANSFER_FAILED
    if outcome is None:
        return OutcomeKind.ABANDONED
    return OUTCOME_KINDS.get(outcome, OutcomeKind.COMPLETED)
