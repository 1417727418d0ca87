"""Phone answers, round 3: the line reported, the question asked for, little English, days
said as people say them, a yes or no that is not a plain one, several answers at once.

Before: "sorry, I lost you there", "the line is breaking up" or "what was the question?"
at "Am I speaking with Testa?" were no answer (a missed turn counted toward the transfer),
and at the intake's name question "the line is breaking up" was asked again as a missed
name; "sorry, no understand" was a no (the call ended "not available"); "yeah no, that's
not me" was the patient's yes; "no, yes, I mean yes" was a no; "nope, wrong person" ended
as "not available" (the number stayed on the list for the patient); "yes, but not that
day" at the appointment's details confirmed it; "yes this is Testa, and I'd like to
reschedule" asked "Is this Testa?" again; "I guess" was no answer. Each test fails before.
"""

from __future__ import annotations

import datetime as dt

import pytest

from agent.grammar import parse_slot
from agent.grammar.completion import Completion, completion
from agent.workflow.effects import Action, Audit, Effect, Hangup, Say, Transfer, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all
from tests.grammar.corpus import tuned_right_held_out_share
from tests.workflow.helpers import NOW, WORKFLOWS

SHIPPED = load_all(WORKFLOWS)
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
          "patient": {"id": "pat-1001", "first_name": "Testa", "last_name": "Patientson",
                      "dob": "1980-03-05", "phone": "555-010-0199"},
          "appointment": {"id": "appt-1", "provider_id": "prov-1",
                          "day": "Tuesday, November 24", "time": "10:30 AM",
                          "provider": "Dr. Ada Testwell"}}
CATEGORIES = {"line", "question", "language", "date", "birth", "yesno", "several"}


def test_round3_tuned_all_right_and_held_out_reported() -> None:
    right, total = tuned_right_held_out_share("conv3_tuned.tsv", "conv3_heldout.tsv", CATEGORIES)
    print(f"\nround-3 phone answers held-out: {right}/{total} = {right / total:.1%}")
    assert right / total >= 0.8  # a floor, not a target: the held-out split is never tuned


def opening(said: str) -> tuple[Conversation, list[Effect]]:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    return conv, conv.handle(Utterance(said), NOW)


def audited(out: list[Effect]) -> list[tuple[str, str | None]]:
    return [(e.step.event, e.step.intent) for e in out if isinstance(e, Audit)]


@pytest.mark.parametrize("said", [
    "sorry, I lost you there", "the line is breaking up", "can you hear me?",
    "you keep cutting out", "I think we got cut off", "what was the question?",
    "sorry what did you ask"])
def test_the_line_or_the_question_asked_for_repeats_the_question(said: str) -> None:
    conv, out = opening(said)
    assert conv.state == "opening"
    assert audited(out) == [("global", "repeat")]  # no missed answer counted
    assert [e.prompt_id for e in out if isinstance(e, Say)] == ["opening"]
    assert not any(isinstance(e, (Hangup, Transfer)) for e in out)


@pytest.mark.parametrize("said", ["the line is breaking up", "sorry, I lost you there",
                                  "hello? hello? can you hear me?"])
def test_the_line_reported_is_no_name(said: str) -> None:
    conv = Conversation(SHIPPED["patient_intake"], {"org_name": "Maple Grove Family Clinic",
                                                    "callback_number": "555-010-0100"},
                        call_id="c1")
    conv.start(NOW)
    out = conv.handle(Utterance(said), NOW)
    assert conv.state == "welcome"
    assert "name" not in conv.slot_names
    assert ("global", "repeat") in audited(out)


@pytest.mark.parametrize("said", ["sorry, no understand", "I don't speak much English",
                                  "English not so good", "I speak only Spanish",
                                  "I speak a little bit English"])
def test_little_english_goes_to_staff_never_a_no(said: str) -> None:
    conv, out = opening(said)
    transfer = next(e for e in out if isinstance(e, Transfer))
    assert not any(isinstance(e, Hangup) for e in out), conv.state
    # the person taking the call is told it is the language (it read "asked for a person")
    assert "interpreter" in transfer.summary


def test_a_person_asked_for_is_still_that() -> None:
    _conv, out = opening("can I talk to a person")
    transfer = next(e for e in out if isinstance(e, Transfer))
    assert "caller asked for a person" in transfer.summary


@pytest.mark.parametrize(("said", "state"), [
    ("yeah no, that's not me", "not_available"),
    ("no, yes, I mean yes", "ask_dob"),
    ("I guess", "ask_dob"),
    ("yep that's me", "ask_dob"),
    ("yes this is Testa, and I'd like to reschedule", "ask_dob"),
])
def test_a_yes_or_no_that_is_not_a_plain_one(said: str, state: str) -> None:
    conv, _out = opening(said)
    assert conv.state == state


def test_wrong_person_is_a_wrong_number() -> None:
    _conv, out = opening("nope, wrong person")
    assert [e.reason for e in out if isinstance(e, Hangup)] == ["wrong_number"]


def test_wrong_person_said_by_a_relative_is_no_wrong_number() -> None:
    _conv, out = opening("no, wrong person, I'm her husband")
    assert [e.reason for e in out if isinstance(e, Hangup)] == ["patient_not_available"]


def verified() -> Conversation:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    conv.handle(Utterance("yes"), NOW)
    conv.handle(Utterance("March fifth nineteen eighty"), NOW)
    assert conv.verified
    assert conv.state == "details"
    return conv


@pytest.mark.parametrize("said", ["yes, but not that day", "yes, just not on Tuesday"])
def test_a_yes_with_the_day_taken_back_confirms_nothing(said: str) -> None:
    conv = verified()
    out = conv.handle(Utterance(said), NOW)
    assert not any(isinstance(e, Action) and e.name == "confirm_appointment" for e in out)
    assert conv.state in ("details", "find_slots")


@pytest.mark.parametrize("said", ["yes, but not that day", "not that time",
                                  "I can't do that day"])
def test_the_appointments_day_turned_down_is_a_move(said: str) -> None:
    conv = verified()
    out = conv.handle(Utterance(said), NOW)
    assert any(isinstance(e, Action) and e.name == "find_free_slots" for e in out)


def test_identity_date_of_birth_and_a_move_in_one_breath() -> None:
    conv, _out = opening("yes this is Testa, born March 5th 1980, and I'd like to reschedule")
    assert conv.verified
    # the move is acted on once verified (it stopped at the details and was lost)
    assert conv.state == "find_slots"


@pytest.mark.parametrize(("said", "day"), [
    ("next Tuesday", dt.date(2026, 12, 1)), ("the day after tomorrow", dt.date(2026, 11, 25)),
    ("this Friday at 3", dt.date(2026, 11, 27)), ("the twenty-first", dt.date(2026, 12, 21)),
    ("December 5th 26", dt.date(2026, 12, 5)), ("12/5/26", dt.date(2026, 12, 5)),
    ("next week", None), ("whatever is earliest", None)])
def test_a_date_question_takes_a_day_said_from_today(said: str, day: dt.date | None) -> None:
    assert parse_slot("date", said, NOW) == day


@pytest.mark.parametrize("partial", ["I guess", "I suppose"])
def test_a_hedge_does_not_end_the_turn_early(partial: str) -> None:
    """"I guess" is a yes, "I guess not" a no: a pause after the hedge is no end of turn."""
    assert completion(partial, NOW, slot_type=None, intents=("affirm", "deny")) is (
        Completion.UNKNOWN)


@pytest.mark.parametrize("partial", ["the day after", "this Friday at", "the twenty", "next"])
def test_a_day_half_said_still_waits(partial: str) -> None:
    assert completion(partial, NOW, slot_type="date") is Completion.INCOMPLETE


# --- round 3b: each fails before its fix ---


def test_round3_second_held_out_reported() -> None:
    right, total = tuned_right_held_out_share("conv3_tuned.tsv", "conv3_heldout2.tsv",
                                              CATEGORIES)
    print(f"\nround-3 phone answers second held-out: {right}/{total} = {right / total:.1%}")
    assert right / total >= 0.7  # a floor, not a target: the held-out split is never tuned


@pytest.mark.parametrize("said", ["sorry, I can't understand you",
                                  "I can't make out what you're saying"])
def test_not_understanding_the_agent_is_no_no(said: str) -> None:
    """"I can't understand you" was a no ("I can't"): the call ended "not available"."""
    conv, out = opening(said)
    assert conv.state == "opening"
    assert audited(out) == [("global", "repeat")]


def test_unsure_of_the_question_is_no_unknown_date_of_birth() -> None:
    """"I'm not sure what you're asking" at the date of birth was "I don't know": the call
    ended as identity not verified."""
    conv, _out = opening("yes")
    out = conv.handle(Utterance("I'm not sure what you're asking"), NOW)
    assert conv.state == "ask_dob"
    assert not any(isinstance(e, Hangup) for e in out)


@pytest.mark.parametrize("said", ["I guess not", "uh-uh", "yeah nah"])
def test_a_no_said_the_everyday_way(said: str) -> None:
    conv, _out = opening(said)
    assert conv.state == "not_available"


@pytest.mark.parametrize(("said", "dob"), [
    ("fifteen March nineteen seventy-eight", dt.date(1978, 3, 15)),  # was the 19th
    ("twenty five March 1980", dt.date(1980, 3, 25)), ("five March 1980", dt.date(1980, 3, 5))])
def test_a_day_said_as_a_number_before_the_month(said: str, dob: dt.date) -> None:
    assert parse_slot("dob", said, NOW) == dob


@pytest.mark.parametrize(("said", "day"), [
    ("I need to reschedule to Tuesday, December 1st", dt.date(2026, 12, 1)),  # was Nov 24
    ("can we move it to Thursday the 3rd", dt.date(2026, 12, 3)),
    ("I want to reschedule, Tuesday the first if possible", dt.date(2026, 12, 1))])
def test_a_weekday_said_with_its_date_searches_that_date(said: str, day: dt.date) -> None:
    conv = verified()
    out = conv.handle(Utterance(said), NOW)
    search = next(e for e in out if isinstance(e, Action) and e.name == "find_free_slots")
    assert search.args["preference"].date == day


@pytest.mark.parametrize(("said", "part"), [
    ("can we move it to this Friday at 3", "afternoon"),
    ("I'd like to reschedule to tomorrow at 9:30", "morning"),
    ("reschedule to Monday at 8 pm", "evening"),
    ("can we do Friday afternoon instead", "afternoon")])
def test_a_time_said_with_the_day_asks_for_that_part_of_it(said: str, part: str) -> None:
    """Before: "this Friday at 3" searched Friday from its first (morning) time."""
    conv = verified()
    out = conv.handle(Utterance(said), NOW)
    search = next(e for e in out if isinstance(e, Action) and e.name == "find_free_slots")
    assert search.args["preference"].part_of_day == part


@pytest.mark.parametrize("said", ["I can't hear out of my left ear",
                                  "I cannot hear well in my right ear since last week"])
def test_the_callers_own_hearing_is_a_reason_not_a_repeat(said: str) -> None:
    """Before: "I can't hear out of my left ear" as the reason for the visit was a request
    to repeat: the question was asked again, and again, and the reason never stored."""
    conv = Conversation(SHIPPED["patient_intake"], {"org_name": "Maple Grove Family Clinic",
                                                    "callback_number": "555-010-0100"},
                        call_id="c1")
    conv.start(NOW)
    conv.state = "ask_reason"
    out = conv.handle(Utterance(said), NOW)
    assert ("global", "repeat") not in audited(out)
    assert conv.state != "ask_reason"
