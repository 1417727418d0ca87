"""Values spoken the way people say them are stored as said, or asked again.

Before: "six and a half" hours of sleep was stored as 6; "none", "not a drop" or "I don't
drink" at "how many drinks?" was asked again; "nineteen and eighty" as a birth year was
read as 2019; a date of birth in the future was kept; "my name is Testa, Testa Patientson"
stored "Testa". Each engine test below fails before its fix.
"""

from __future__ import annotations

import datetime as dt

import pytest

from agent.grammar import parse_slot
from agent.workflow.effects import Audit, Effect, Transfer, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all
from tests.grammar.corpus import tuned_right_held_out_share
from tests.workflow.helpers import NOW, WORKFLOWS

SHIPPED = load_all(WORKFLOWS)
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100"}
CATEGORIES = {"count", "birth", "fullname", "hear"}


def test_spoken_values_tuned_all_right_and_held_out_reported() -> None:
    right, total = tuned_right_held_out_share("conv2_tuned.tsv", "conv2_heldout.tsv", CATEGORIES)
    print(f"\nspoken values held-out: {right}/{total} = {right / total:.1%}")
    assert right / total >= 0.6  # a floor, not a target: the held-out split is never tuned


def answer(workflow: str, state: str, said: str) -> tuple[Conversation, list[Effect]]:
    conv = Conversation(SHIPPED[workflow], RECORD, call_id="c1")
    conv.start(NOW)
    conv.state = state
    return conv, conv.handle(Utterance(said), NOW)


# --- counts: halves are kept, zero words are 0, a range or a vague count is asked again ---

@pytest.mark.parametrize(("said", "stored"), [
    ("six and a half", 6.5), ("about six and a half hours", 6.5), ("seven", 7),
    ("one and a half", 1.5), ("zero", 0)])
def test_hours_of_sleep_keep_the_half(said: str, stored: float) -> None:
    # q13: "About how many hours do you sleep on a typical night?"
    conv, _ = answer("health_screening", "q13", said)
    assert conv._slots.get("q13") == stored
    assert conv.state != "q13"


@pytest.mark.parametrize(("said", "stored"), [
    ("none", 0), ("zero", 0), ("not a drop", 0), ("I don't drink", 0), ("nothing", 0),
    ("a couple", 2), ("a half", 0.5), ("a drink and a half", 1.5)])
def test_drinks_zero_words_and_halves(said: str, stored: float) -> None:
    # q17: "How many drinks do you have on a typical evening?"
    conv, _ = answer("health_screening", "q17", said)
    assert conv._slots.get("q17") == stored
    assert conv.state != "q17"


@pytest.mark.parametrize("said", ["two or three", "5-6", "a few", "several", "a handful"])
def test_a_range_or_vague_count_is_asked_again(said: str) -> None:
    conv, _ = answer("health_screening", "q17", said)
    assert "q17" not in conv._slots
    assert conv.state == "q17"


# --- dates of birth said oddly; none in the future or more than 120 years ago ------------

@pytest.mark.parametrize(("said", "born"), [
    ("nineteen and eighty, March 5th", dt.date(1980, 3, 5)),
    ("March 5th, eighty", dt.date(1980, 3, 5)),
    ("March 5th, the eighty", dt.date(1980, 3, 5)),
    ("March 5th oh five", dt.date(2005, 3, 5)),
    ("March 5th two thousand and three", dt.date(2003, 3, 5)),
    ("March the fifth nineteen eighty", dt.date(1980, 3, 5)),
    ("5th of March 80", dt.date(1980, 3, 5))])
def test_a_date_of_birth_said_oddly(said: str, born: dt.date) -> None:
    assert parse_slot("dob", said, NOW) == born


@pytest.mark.parametrize("said", ["March 5th 2040", "March 5th 1890", "December 24th 2026"])
def test_a_date_of_birth_in_the_future_or_too_long_ago_is_asked_again(said: str) -> None:
    assert parse_slot("dob", said, NOW) is None
    conv, _ = answer("health_screening", "ask_dob", said)
    assert conv.state == "ask_dob"
    assert "dob" not in conv._slots


# --- a first name said, then the full name -----------------------------------------------

@pytest.mark.parametrize(("said", "stored"), [
    ("my name is Testa, Testa Patientson", "Testa Patientson"),
    ("Testa, Testa Patientson", "Testa Patientson")])
def test_a_first_name_then_the_full_name_is_the_full_name(said: str, stored: str) -> None:
    assert parse_slot("name", said, NOW) == stored


# --- not heard, not followed, no English --------------------------------------------------

@pytest.mark.parametrize("said", ["sorry, you're cutting out", "I didn't quite get that",
                                  "could you go slower please", "I don't understand the question"])
def test_not_heard_asks_the_question_again_and_stores_nothing(said: str) -> None:
    conv, out = answer("health_screening", "q05", said)
    assert "q05" not in conv._slots
    assert conv.state == "q05"
    assert parse_slot("yes_no", said, NOW) is None
    assert not any(isinstance(e, Audit) and e.step.event == "no_match" for e in out)


@pytest.mark.parametrize("said", ["my English is not very good",
                                  "do you have someone who speaks Spanish"])
def test_a_caller_asking_for_another_language_is_put_through_to_staff(said: str) -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    out = conv.handle(Utterance(said), NOW)
    assert "not_available" not in conv.path
    assert any(isinstance(e, Transfer) for e in out)


@pytest.mark.parametrize("said", ["my English is good", "no I don't speak Spanish"])
def test_english_spoken_well_is_no_request_for_staff(said: str) -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    out = conv.handle(Utterance(said), NOW)
    assert not any(isinstance(e, Transfer) for e in out)
