"""The agent's side of the carrier contract: purpose -> workflow, outcome -> OutcomeKind."""

from __future__ import annotations

import dataclasses

import pytest

from agent.contract import OUTCOME_KINDS, WORKFLOW_FOR_PURPOSE, outcome_kind, workflow_for
from agent.handler import AgentRuntime, VoiceCallHandler
from carrier.call import Direction
from carrier.plugin import CallContext, CallHandler, OutcomeKind

SHIPPED = {"appointment_reminder": 1, "no_show_reactivation": 1, "refill_reminder": 1,
           "patient_intake": 1, "health_screening": 1}


def pick(context: CallContext, called: str = "+15550100100") -> str | None:
    return workflow_for(context, called, routes={"+15550100101": "appointment_reminder"},
                        default="patient_intake", known=SHIPPED)


@pytest.mark.parametrize(("purpose", "workflow"), [
    ("appointment_reminder", "appointment_reminder"),
    ("no_show", "no_show_reactivation"),
    ("refill", "refill_reminder"),
    ("health_screening", "health_screening"),  # a purpose naming a workflow runs it
    ("no_such_purpose", None),
])
def test_outbound_purpose_names_the_workflow(purpose: str, workflow: str | None) -> None:
    assert pick(CallContext(direction=Direction.OUTBOUND, purpose=purpose)) == workflow


def test_every_dial_purpose_maps_to_a_shipped_workflow() -> None:
    assert set(WORKFLOW_FOR_PURPOSE.values()) <= set(SHIPPED)


def test_inbound_calls_follow_the_dialled_number_else_the_default() -> None:
    inbound = CallContext(direction=Direction.INBOUND)
    assert pick(inbound, "+15550100101") == "appointment_reminder"
    assert pick(inbound, "+15550100199") == "patient_intake"


@pytest.mark.parametrize(("outcome", "kind"), [
    ("confirmed", OutcomeKind.CONFIRMED),
    ("cancelled", OutcomeKind.CANCELLED),
    ("rescheduled", OutcomeKind.RESCHEDULED),
    ("booked", OutcomeKind.RESCHEDULED),
    ("opted_out", OutcomeKind.OPTED_OUT),
    ("transferred", OutcomeKind.TRANSFERRED),
    ("machine_message", OutcomeKind.MACHINE_MESSAGE),
    ("incomplete", OutcomeKind.ABANDONED),
    ("length_limit", OutcomeKind.LENGTH_LIMIT),
    ("engine_error", OutcomeKind.FAILED),
    ("declined", OutcomeKind.COMPLETED),
    ("not_verified", OutcomeKind.COMPLETED),
    (None, OutcomeKind.ABANDONED),
])
def test_workflow_outcomes_map_onto_outcome_kinds(outcome: str | None,
                                                  kind: OutcomeKind) -> None:
    assert outcome_kind(outcome, transfer_ok=None) is kind


def test_a_failed_transfer_is_reported_as_such() -> None:
    assert outcome_kind("transferred", transfer_ok=False) is OutcomeKind.TRANSFER_FAILED
    assert outcome_kind("transferred", transfer_ok=True) is OutcomeKind.TRANSFERRED


def test_every_mapped_kind_is_a_carrier_kind() -> None:
    assert all(isinstance(k, OutcomeKind) for k in OUTCOME_KINDS.values())


def test_the_handler_satisfies_the_carrier_contract() -> None:
    assert isinstance(VoiceCallHandler.__new__(VoiceCallHandler), CallHandler)


def test_the_runtime_keeps_no_store_of_calls() -> None:
    """Regression: ``AgentRuntime.results`` kept every call's unredacted transcript for
    the life of the process. The shared runtime holds configuration and services only."""
    names = {f.name for f in dataclasses.fields(AgentRuntime)}
    assert "results" not in names
    assert not any("list" in str(f.type) for f in dataclasses.fields(AgentRuntime))
