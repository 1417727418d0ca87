"""Answers with a yes and a no in them, and habits that have ended.

Before: "yes I used to but not now" to "Do you take sleeping pills?" recorded yes; "yes,
no wait, no" to "Am I speaking with Testa?" was taken as yes (the earliest word won);
"I quit last year" and "not since last year" were no answer at all."""

from __future__ import annotations

import pytest

from agent.workflow.effects import Hangup, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all

from .helpers import NOW, WORKFLOWS

SHIPPED = load_all(WORKFLOWS)
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
          "patient": {"id": "pat-1001", "first_name": "Testa", "last_name": "Patientson",
                      "dob": "1980-03-05"}}


@pytest.mark.parametrize("said", ["yes I used to but not now", "I quit last year",
                                  "not since last year"])
def test_a_habit_that_ended_is_a_no_and_the_call_goes_on(said: str) -> None:
    conv = Conversation(SHIPPED["health_screening"], RECORD, call_id="c1")
    conv.start(NOW)
    conv.state = "q18"
    out = conv.handle(Utterance(said), NOW)
    assert conv._slots["q18"] is False
    assert not any(isinstance(e, Hangup) for e in out)


@pytest.mark.parametrize(("said", "patient"), [("yes, no wait, no", False),
                                               ("no, sorry, I mean yes", True)])
def test_a_corrected_answer_counts_as_corrected(said: str, patient: bool) -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    conv.handle(Utterance(said), NOW)
    assert (conv.state == "ask_dob") is patient, conv.state


def test_yes_and_no_is_asked_again() -> None:
    conv = Conversation(SHIPPED["health_screening"], RECORD, call_id="c1")
    conv.start(NOW)
    conv.state = "q18"
    conv.handle(Utterance("yes and no"), NOW)
    assert conv.state == "q18"
    assert "q18" not in conv._slots


def verified_reminder() -> Conversation:
    record = {**RECORD, "appointment": {"id": "appt-1", "provider_id": "prov-1",
                                        "day": "Tuesday, November 24", "time": "10:30 AM",
                                        "provider": "Dr. Ada Testwell"}}
    conv = Conversation(SHIPPED["appointment_reminder"], record, call_id="c1")
    conv.start(NOW)
    conv.handle(Utterance("yes"), NOW)
    conv.handle(Utterance("March fifth nineteen eighty"), NOW)
    assert conv.verified
    return conv


@pytest.mark.parametrize("said", ["please don't cancel my appointment",
                                  "no, don't cancel it", "I don't want to reschedule"])
def test_a_cancel_or_move_said_not_to_be_done_is_not_done(said: str) -> None:
    conv = verified_reminder()
    conv.handle(Utterance(said), NOW)
    assert conv.path[-1] not in ("confirm_cancel", "find_slots"), conv.path


@pytest.mark.parametrize("said", ["Yes but can we do 3pm instead",
                                  "could we do Friday morning instead?"])
def test_a_yes_that_asks_for_another_time_moves_rather_than_confirms(said: str) -> None:
    conv = verified_reminder()
    conv.handle(Utterance(said), NOW)
    assert "do_confirm" not in conv.path, conv.path
    assert "find_slots" in conv.path, conv.path
