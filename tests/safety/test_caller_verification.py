"""Issue 12: the caller's STIR/SHAKEN result reaches the workflow; an unverified inbound
caller ID needs a second factor (the full name, after the date of birth) before PHI."""

from __future__ import annotations

import pytest

from agent.workflow.effects import Say, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.records import caller_facts
from tests.workflow.helpers import NOW
from tests.workflow.test_engine_rules import RECORD, SHIPPED


def said(effects: list) -> list[Say]:  # type: ignore[type-arg]
    return [e for e in effects if isinstance(e, Say)]


@pytest.mark.parametrize(("stir", "verstat", "attest", "verified"), [
    ("passed", "TN-Validation-Passed", "A", True),
    ("passed", "No-TN-Validation", "B", False),  # partial attestation vouches for no number
    ("failed", "TN-Validation-Failed", None, False),
    ("none", "No-TN-Validation", None, False),
])
def test_caller_facts_from_verification(stir: str, verstat: str, attest: str | None,
                                        verified: bool) -> None:
    facts = caller_facts(outbound=False, stir_status=stir, verstat=verstat, attestation=attest)
    assert facts["verified"] is verified
    assert facts["stir_status"] == stir
    # a call we placed went to the patient's own number
    assert caller_facts(outbound=True, stir_status=stir, verstat=verstat,
                        attestation=attest)["verified"]


@pytest.mark.parametrize("workflow", ["appointment_reminder", "no_show_reactivation",
                                      "refill_reminder", "health_screening"])
def test_every_single_factor_verify_has_a_step_up(workflow: str) -> None:
    wf = SHIPPED[workflow]
    single = [s for s in wf.states.values() if s.verify is not None
              and len(s.verify.checks) == 1]
    assert single
    assert all(s.verify.step_up in wf.states for s in single)  # type: ignore[union-attr]


def _converse(verified: bool, turns: list[str]) -> list[Say]:
    record = {**RECORD, "caller": caller_facts(
        outbound=False, stir_status="passed" if verified else "failed",
        verstat="TN-Validation-Passed" if verified else "TN-Validation-Failed",
        attestation="A" if verified else None)}
    conv = Conversation(SHIPPED["appointment_reminder"], record, call_id="c1")
    out = said(conv.start(NOW))
    for turn in turns:
        out += said(conv.handle(Utterance(turn), NOW))
    return out


def test_unverified_caller_is_asked_for_a_second_factor_before_phi() -> None:
    out = _converse(False, ["yes", "March fifth nineteen eighty"])
    assert out[-1].prompt_id == "step_up_ask"
    assert not any(s.contains_phi for s in out)
    out = _converse(False, ["yes", "March fifth nineteen eighty", "Testa Patientson"])
    assert any(s.prompt_id == "details" and s.contains_phi for s in out)


def test_unverified_caller_with_the_wrong_name_hears_no_phi() -> None:
    out = _converse(False, ["yes", "March fifth nineteen eighty", "Somebody Else",
                            "March fifth nineteen eighty", "Another Person"])
    assert not any(s.contains_phi for s in out)
    assert out[-1].prompt_id == "cannot_verify"


def test_verified_caller_needs_only_the_date_of_birth() -> None:
    out = _converse(True, ["yes", "March fifth nineteen eighty"])
    assert any(s.prompt_id == "details" and s.contains_phi for s in out)
