"""A medical emergency or a crisis, said at any point, is answered first: call 911 (988 in
a crisis), then the caller is connected with staff.

Before: "I have chest pain" at "Am I speaking with Testa?" got "Is this Testa? Please say
yes or no."; at the intake's reason question it was stored as the reason and the caller
went on to scheduling; "I want to kill myself" was "Sorry, I did not understand that."
Nothing anywhere said 911 or 988."""

from __future__ import annotations

import pytest

from agent.grammar.es import to_canonical
from agent.workflow.effects import (
    AddDoNotCall,
    Effect,
    RecordRevocation,
    Say,
    Transfer,
    Utterance,
)
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all

from .helpers import NOW, WORKFLOWS
from .test_simulate_cli import _simulate

SHIPPED = load_all(WORKFLOWS)
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
          "patient": {"id": "pat-1001", "first_name": "Testa", "last_name": "Patientson",
                      "dob": "1980-03-05", "phone": "+15550100123"}}


def at(workflow: str, state: str | None = None) -> Conversation:
    conv = Conversation(SHIPPED[workflow], RECORD, call_id="c1")
    conv.start(NOW)
    if state is not None:
        conv.state = state
    return conv


def said(out: list[Effect]) -> list[Say]:
    return [e for e in out if isinstance(e, Say)]


@pytest.mark.parametrize(("workflow", "state"), [
    ("appointment_reminder", None), ("patient_intake", "ask_reason"),
    ("patient_intake", "ask_member_id"), ("health_screening", "q18"),
    ("escalation", None), ("refill_reminder", None)])
@pytest.mark.parametrize("words", ["I have chest pain", "I can't breathe",
                                   "my husband collapsed and he's not breathing"])
def test_an_emergency_is_told_to_call_911_then_staff(workflow: str, state: str | None,
                                                     words: str) -> None:
    conv = at(workflow, state)
    out = conv.handle(Utterance(words), NOW)
    [notice] = said(out)
    assert notice.prompt_id == "emergency_notice"
    assert "nine one one" in notice.text
    assert len([e for e in out if isinstance(e, Transfer)]) == 1
    assert "reason" not in conv._slots  # not stored as a reason for a visit


def test_a_crisis_gets_988_and_an_opt_out_said_with_it_still_counts() -> None:
    conv = at("appointment_reminder")
    out = conv.handle(Utterance("stop calling me, I want to kill myself"), NOW)
    [notice] = said(out)
    assert notice.prompt_id == "crisis_notice"
    assert "nine eight eight" in notice.text
    assert [type(e) for e in out if isinstance(e, (RecordRevocation, AddDoNotCall))] == [
        RecordRevocation, AddDoNotCall]
    assert any(isinstance(e, Transfer) for e in out)


@pytest.mark.parametrize("words", ["my emergency contact is my wife",
                                   "no emergency, just a checkup", "a stroke of luck"])
def test_words_that_are_no_emergency(words: str) -> None:
    out = at("patient_intake", "ask_reason").handle(Utterance(words), NOW)
    assert not any(s.prompt_id in ("emergency_notice", "crisis_notice") for s in said(out))


def test_by_text_the_numbers_are_digits() -> None:
    conv = Conversation(SHIPPED["appointment_reminder_sms"], RECORD, call_id="t1",
                        channel="sms")
    conv.start(NOW)
    [notice] = said(conv.handle(Utterance("I'm having chest pain"), NOW))
    assert "911" in notice.text


@pytest.mark.parametrize(("words", "prompt"), [("Tengo dolor de pecho", "emergency_notice"),
                                               ("Me quiero morir", "crisis_notice")])
def test_in_spanish(words: str, prompt: str) -> None:
    out = at("appointment_reminder").handle(Utterance(to_canonical(words)), NOW)
    assert [s.prompt_id for s in said(out)] == [prompt]


def test_simulate_an_emergency_at_the_intake() -> None:
    proc = _simulate("I think I'm having a heart attack\n", "patient_intake",
                     "--patient", "pat-1001")
    assert proc.returncode == 0, proc.stderr
    assert "AGENT: If this is a medical emergency, please hang up and call nine one one" in (
        proc.stdout)
    assert "[transfer to" in proc.stdout


def test_an_emergency_while_asking_appointment_or_calls_is_still_answered_first() -> None:
    """Before: at "cancel your appointment, or stop calls?" the turn went to that question
    only, which heard no answer in "I'm having chest pain" and asked again."""
    conv = at("appointment_reminder")
    conv.handle(Utterance("yes"), NOW)
    conv.handle(Utterance("March fifth nineteen eighty"), NOW)
    conv.handle(Utterance("cancel"), NOW)
    assert conv._disambiguating
    out = conv.handle(Utterance("I'm having chest pain"), NOW)
    assert [s.prompt_id for s in said(out)] == ["emergency_notice"]
    assert any(isinstance(e, Transfer) for e in out)
