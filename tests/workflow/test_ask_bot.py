"""Asked whether it is automated, the agent says so, wherever it is asked.

Before: "are you a robot?", "is this a recording?", "is this AI?" were not understood
("Sorry, I did not understand that"), at a free-text question they were stored as the
caller's answer, and "am I talking to a real person?" transferred the call without an
answer."""

from __future__ import annotations

import pytest

from agent.workflow.effects import Effect, Say, Transfer, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all

from .helpers import NOW, WORKFLOWS
from .test_simulate_cli import _simulate

SHIPPED = load_all(WORKFLOWS)
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
          "patient": {"id": "pat-1001", "first_name": "Testa", "last_name": "Patientson",
                      "dob": "1980-03-05"}}


def said(effects: list[Effect]) -> list[str]:
    return [e.prompt_id for e in effects if isinstance(e, Say)]


@pytest.mark.parametrize("question", ["are you a robot?", "is this a recording?",
                                      "Is this AI?", "am I talking to a real person?"])
def test_the_agent_says_it_is_automated_then_asks_again(question: str) -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    out = conv.handle(Utterance(question), NOW)
    assert said(out)[0] == "answer_bot"
    assert "automated assistant" in next(e.text for e in out if isinstance(e, Say))
    assert not any(isinstance(e, Transfer) for e in out)
    assert conv.state == "opening"


def test_asked_at_a_free_text_question_it_is_answered_not_stored() -> None:
    conv = Conversation(SHIPPED["patient_intake"], RECORD, call_id="c1")
    conv.start(NOW)
    conv.state = "ask_reason"
    out = conv.handle(Utterance("wait, are you a robot?"), NOW)
    assert said(out)[0] == "answer_bot"
    assert conv.state == "ask_reason"
    assert "reason" not in conv._slots


def test_asking_for_a_person_still_transfers() -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    out = conv.handle(Utterance("I want a real person"), NOW)
    assert any(isinstance(e, Transfer) for e in out)


def test_simulate_answers_are_you_a_robot() -> None:
    proc = _simulate("are you a robot?\n", "patient_intake", "--patient", "pat-1001")
    assert proc.returncode == 0, proc.stderr
    assert "AGENT: I am an automated assistant for Maple Grove Family Clinic." in proc.stdout
