"""Slot values a patient did not give are not stored or acted on.

Before, a reply that corrected itself, ruled a value out, spanned or bounded a number,
or counted weeks from a day was read as a wrong value: "my zip is 12345, no wait, 12346"
stored 12345; "not Tuesday" searched Tuesday; "not Aetna, Cigna" stored Aetna; "my
medical insurance is Aetna" stored Medicaid; "not often" answered yes to "do you often
...?"; "between six and seven" drinks stored 13; "the week after next" searched next week.
Each engine test below fails on the parsers before the fix.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from agent.grammar import DatePreference
from agent.workflow.effects import Action, Effect, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all
from tests.grammar.corpus import tuned_right_held_out_share
from tests.workflow.helpers import NOW, WORKFLOWS

SHIPPED = load_all(WORKFLOWS)
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100"}
CATEGORIES = {"correction", "negated_day", "relative_week", "negated_carrier",
              "common_word_carrier", "negated_frequency", "number_span", "date_bound"}


def test_slot_misreads_tuned_all_right_and_held_out_reported() -> None:
    right, total = tuned_right_held_out_share("slots_tuned.tsv", "slots_heldout.tsv", CATEGORIES)
    print(f"\nslot misreads held-out: {right}/{total} = {right / total:.1%}")
    assert right / total >= 0.85  # a floor, not a target: the held-out split is never tuned


def at(workflow: str, state: str) -> Conversation:
    conv = Conversation(SHIPPED[workflow], RECORD, call_id="c1")
    conv.start(NOW)
    conv.state = state
    return conv


def answer(workflow: str, state: str, said: str) -> tuple[Conversation, list[Effect]]:
    conv = at(workflow, state)
    return conv, conv.handle(Utterance(said), NOW)


def searched(out: list[Effect]) -> list[Any]:
    """The preferences the reschedule search was run with."""
    return [e.args.get("preference") for e in out
            if isinstance(e, Action) and e.name == "find_free_slots"]


def offered() -> Conversation:
    conv = at("appointment_reminder", "offer_slots")
    conv._vars["offers"] = {"offers": [{"slot_id": f"s{i}", "label": f"Slot {i}"}
                                       for i in range(1, 4)]}
    return conv


# --- a value corrected in the same breath -------------------------------------------

@pytest.mark.parametrize(("state", "slot", "said", "stored"), [
    ("ask_zip", "zip", "my zip is 12345, no wait, 12346", "12346"),
    ("ask_phone", "phone", "555 555 0123, sorry, I mean 555 555 0124", "5555550124"),
    ("ask_carrier", "carrier", "Aetna, no wait, it's Cigna", "Cigna"),
])
def test_a_corrected_value_is_stored_as_corrected(state: str, slot: str, said: str,
                                                  stored: str) -> None:
    conv, _ = answer("patient_intake", state, said)
    assert conv._slots.get(slot) == stored


def test_a_half_corrected_phone_is_asked_again() -> None:
    conv, _ = answer("patient_intake", "ask_phone", "555 555 0123, no wait, 0124")
    assert "phone" not in conv._slots
    assert conv.state == "ask_phone"


def test_a_corrected_day_is_searched() -> None:
    conv = offered()
    prefs = searched(conv.handle(Utterance("Tuesday, no wait, Wednesday"), NOW))
    assert [p.date for p in prefs] == [dt.date(2026, 11, 25)]


# --- a day ruled out is no preference -------------------------------------------------

@pytest.mark.parametrize("said", ["not Tuesday", "anytime but Monday", "I can't do Tuesday",
                                  "Tuesday doesn't work for me", "not tomorrow"])
def test_a_day_ruled_out_is_not_searched(said: str) -> None:
    conv = offered()
    out = conv.handle(Utterance(said), NOW)
    assert searched(out) == []
    assert "preference" not in conv._slots
    assert "choice" not in conv._slots


def test_the_day_left_after_ruling_one_out_is_searched() -> None:
    conv = offered()
    prefs = searched(conv.handle(Utterance("Monday is bad, how about Thursday"), NOW))
    assert [p.date for p in prefs] == [dt.date(2026, 11, 26)]


# --- weeks counted from the day named -------------------------------------------------

@pytest.mark.parametrize(("said", "day", "days"), [
    ("the week after next", dt.date(2026, 12, 7), 7),
    ("a week from today", dt.date(2026, 11, 30), 1),
])
def test_weeks_are_counted_from_the_day_named(said: str, day: dt.date, days: int) -> None:
    conv = offered()
    prefs = searched(conv.handle(Utterance(said), NOW))
    assert [(p.date, p.days) for p in prefs] == [(day, days)]
    assert isinstance(prefs[0], DatePreference)


# --- a carrier said not to be theirs; an everyday word --------------------------------

@pytest.mark.parametrize(("said", "stored"), [
    ("not Aetna, Cigna", "Cigna"),
    ("I used to have Medicare but now I have Humana", "Humana"),
    ("my medical insurance is Aetna", "Aetna"),
])
def test_the_carrier_stored_is_the_one_they_have(said: str, stored: str) -> None:
    conv, _ = answer("patient_intake", "ask_carrier", said)
    assert conv._slots.get("carrier") == stored


def test_a_carrier_they_no_longer_have_is_not_stored() -> None:
    conv, _ = answer("patient_intake", "ask_carrier", "I don't have Medicaid anymore")
    assert "carrier" not in conv._slots
    assert conv.state == "ask_carrier"


# --- a frequency said not to hold -----------------------------------------------------

@pytest.mark.parametrize("said", ["not often", "not very often", "usually not"])
def test_not_often_is_no_to_an_often_question(said: str) -> None:
    # q11: "Do you often wake up with a headache?"
    conv, _ = answer("health_screening", "q11", said)
    assert conv._slots.get("q11") is False


@pytest.mark.parametrize("said", ["not every day", "not always"])
def test_not_every_day_is_not_every_day(said: str) -> None:
    conv, _ = answer("health_screening", "q11", said)
    assert conv._slots.get("q11") is not True


# --- a span, a choice of two, a bound -------------------------------------------------

@pytest.mark.parametrize("said", ["between six and seven", "twenty-four seven", "two or three",
                                  "less than five", "maybe 5 on weekends but 2 on weekdays",
                                  "I quit drinking 2 years ago"])
def test_a_span_or_bound_is_no_count(said: str) -> None:
    # q17: "How many drinks do you have on a typical evening?"
    conv, _ = answer("health_screening", "q17", said)
    assert "q17" not in conv._slots
    assert conv.state == "q17"


def test_one_number_is_stored_and_a_corrected_one_as_corrected() -> None:
    conv, _ = answer("health_screening", "q17", "seven, no wait, six")
    assert conv._slots.get("q17") == 6
    conv, _ = answer("health_screening", "q17", "about seven")
    assert conv._slots.get("q17") == 7
