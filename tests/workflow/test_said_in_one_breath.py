"""What a caller says in one breath with who they are, and a question asked again and again.

Before: "this is Testa Patientson, born March 3 1980, I need to move my appointment" at
"am I speaking with Testa?" took the yes and the date of birth, verified the caller, and
then read the appointment details and asked to confirm: the wish to reschedule, said in
that same turn, was dropped. Now a wish to reschedule or cancel said before the caller is
verified is kept, and the first question after verification that takes it acts on it.

Before: "what?", "say that again", key * never counted as attempts, so a caller on a bad
line could have one question repeated until the call's length limit. Now a question is
repeated at most ``MAX_REPEATS`` times; the next request for it goes where a question
that failed its attempts goes (staff, else the call-back offer when no one answers).
"""

from __future__ import annotations

import pytest

from agent.workflow.effects import Action, Dtmf, Say, Transfer, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.engine_parts import MAX_REPEATS
from agent.workflow.loader import load_all
from tests.workflow.helpers import NOW, WORKFLOWS

SHIPPED = load_all(WORKFLOWS)
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
          "patient": {"id": "p1", "first_name": "Testa", "last_name": "Patientson",
                      "dob": "1980-03-03"},
          "appointment": {"id": "a1", "status": "booked", "day": "Tuesday"}}

# The phrasings the fix was made against.
RESCHEDULE = [
    "this is Testa Patientson, born March 3 1980, I need to move my appointment",
    "yes this is Testa, March 3rd 1980, I want to reschedule",
    "speaking, my date of birth is 3/3/1980 and I need a different time",
]
# Held out: written before the fix, never tuned to.
RESCHEDULE_HELD_OUT = [
    "yeah it's me, Testa, march third nineteen eighty, can we change the appointment",
    "yes, Testa Patientson, 03/03/1980, I have to move it to another day",
    # a held-out miss until round 5 heard a moving verb with the appointment as its
    # object as a move (tests/grammar/test_conv5_answers.py; not tuned to this row)
    "this is she, born on the third of March 1980, I need to push my appointment back",
    "hi yes, Testa here, DOB March 3 1980, I'm calling to reschedule",
]


def _start(workflow: str) -> Conversation:
    conv = Conversation(SHIPPED[workflow], RECORD, call_id="c1")
    conv.start(NOW)
    return conv


@pytest.mark.parametrize("turn", RESCHEDULE + RESCHEDULE_HELD_OUT)
def test_a_reschedule_wish_said_with_identity_is_acted_on_after_verification(turn: str
                                                                              ) -> None:
    conv = _start("appointment_reminder")
    out = conv.handle(Utterance(turn), NOW)
    assert conv.verified
    assert conv.path[-1] == "find_slots", conv.path
    assert any(isinstance(e, Action) and e.name == "find_free_slots" for e in out)


def test_no_show_takes_the_wish_as_well() -> None:
    conv = _start("no_show_reactivation")
    conv.handle(Utterance(RESCHEDULE[0]), NOW)
    assert conv.path[-1] == "find_slots", conv.path


def test_a_cancel_wish_said_with_identity_is_asked_to_be_confirmed() -> None:
    conv = _start("appointment_reminder")
    conv.handle(Utterance("speaking, born March 3 1980, I need to cancel my appointment"), NOW)
    assert conv.path[-1] == "confirm_cancel", conv.path


def test_the_wish_waits_for_verification() -> None:
    """A wrong date of birth: the wish is not acted on for someone unverified."""
    conv = _start("appointment_reminder")
    conv.handle(Utterance("this is Testa, born March 4 1980, I need to reschedule"), NOW)
    assert not conv.verified
    assert "find_slots" not in conv.path
    conv.handle(Utterance("March 3 1980"), NOW)
    assert conv.verified
    assert conv.path[-1] == "find_slots", conv.path


def test_a_plain_yes_and_date_of_birth_still_reads_the_details() -> None:
    conv = _start("appointment_reminder")
    conv.handle(Utterance("yes this is Testa, born March 3 1980"), NOW)
    assert conv.path[-1] == "details"


@pytest.mark.parametrize("ask", [Utterance("what?"), Utterance("say that again"),
                                 Utterance("sorry, you're breaking up"), Dtmf("*")])
def test_a_question_is_repeated_at_most_max_repeats_times(ask: object) -> None:
    conv = _start("appointment_reminder")
    for _ in range(MAX_REPEATS):
        out = conv.handle(ask, NOW)  # type: ignore[arg-type]
        assert [e.prompt_id for e in out if isinstance(e, Say)] == ["opening"]
        assert not conv.finished
    out = conv.handle(ask, NOW)  # type: ignore[arg-type]
    assert conv.finished
    assert any(isinstance(e, Transfer) for e in out)


def test_repeats_count_per_question() -> None:
    conv = _start("appointment_reminder")
    for _ in range(MAX_REPEATS):
        conv.handle(Utterance("what?"), NOW)
    conv.handle(Utterance("yes"), NOW)  # a new question: its own repeats
    for _ in range(MAX_REPEATS):
        conv.handle(Utterance("pardon?"), NOW)
    assert not conv.finished
    assert conv.state == "ask_dob"
