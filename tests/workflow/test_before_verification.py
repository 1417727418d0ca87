"""What an unverified person hears and what their "yes" counts for.

Before: at "Am I speaking with Testa?", "yes, her date of birth is ..." went on to the
date-of-birth question as the patient's yes (a proxy's yes); "what's this about?" was
answered with the workflow's purpose ("a health questionnaire you asked us for", "a
prescription refill"), and the health screening and refill openings named "the sleep
study" and "a prescription reminder" to whoever answered. Now a proxy's yes ends politely
as not available (intake, which takes a relative's answers, is unchanged), and before
verification only the clinic and that the call is for the patient are said (minimum
necessary). Each test fails before.
"""

from __future__ import annotations

import re

import pytest

from agent.workflow.effects import Hangup, Say, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all
from tests.workflow.helpers import NOW, WORKFLOWS

SHIPPED = load_all(WORKFLOWS)
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
          "patient": {"first_name": "Testa", "dob": "1980-03-05"}}
OUTBOUND = ["appointment_reminder", "health_screening", "no_show_reactivation",
            "refill_reminder"]
# Words that tell an unverified listener something about the patient's care.
CARE = re.compile(r"sleep|study|health|questionnaire|prescription|refill|medication|"
                  r"appointment|screening|missed|doctor|care\b", re.IGNORECASE)


def said(out: list) -> list[str]:
    return [e.text for e in out if isinstance(e, Say)]


@pytest.mark.parametrize("workflow", OUTBOUND)
@pytest.mark.parametrize("reply", ["yes, her date of birth is March 5 1980",
                                   "yeah, his birthday is March fifth nineteen eighty"])
def test_a_proxys_yes_at_the_opening_ends_as_not_available(workflow: str, reply: str) -> None:
    conv = Conversation(SHIPPED[workflow], RECORD, call_id="c1")
    conv.start(NOW)
    out = conv.handle(Utterance(reply), NOW)
    assert "not_available" in conv.path
    assert "ask_dob" not in conv.path
    assert any(isinstance(e, Hangup) for e in out)
    assert not conv.verified


def test_intake_still_takes_a_relatives_answers() -> None:
    conv = Conversation(SHIPPED["patient_intake"], RECORD, call_id="c1")
    conv.start(NOW)
    conv.handle(Utterance("yes, her date of birth is March 5 1980"), NOW)
    assert "not_available" not in conv.path


@pytest.mark.parametrize("workflow", OUTBOUND)
@pytest.mark.parametrize("question", ["what's this about?", "who is this?",
                                      "what is this regarding", "why are you calling"])
def test_before_verification_only_the_clinic_and_the_patient_are_named(
        workflow: str, question: str) -> None:
    conv = Conversation(SHIPPED[workflow], RECORD, call_id="c1")
    first = conv.start(NOW)
    out = conv.handle(Utterance(question), NOW)
    assert not conv.verified
    spoken = said(first) + said(out)
    assert spoken
    assert not [text for text in spoken if CARE.search(text)]
    assert any("Maple Grove Family Clinic" in text for text in said(out))
