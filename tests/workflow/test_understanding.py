"""Issue 12, understanding: patients as they really talk, typed through the simulator
(`carrier simulate`'s host) over the shipped workflows and the test clinic.

Testa Patientson (born 1980-03-05) has appt-1 on Tuesday, November 24 at 10:30 AM with
Dr. Ada Testwell; the clinic is open 9-5 on weekdays; it is Monday the 23rd, 10:00."""

from __future__ import annotations

import re

import pytest

from agent.workflow.effects import AddDoNotCall, Hangup, RecordRevocation, Say

from .helpers import run, spoken

DOB = "March fifth nineteen eighty"
PHI = ("Testwell", "10:30", "Patientson", "November 24", "1980")


def said(result: object, prompt_id: str) -> list[Say]:
    return [s for s in spoken(result.effects) if s.prompt_id == prompt_id]  # type: ignore[attr-defined]


def never_misunderstood(result: object) -> None:
    ids = [s.prompt_id for s in spoken(result.effects)]  # type: ignore[attr-defined]
    assert "no_match_default" not in ids
    assert "opening_reprompt" not in ids


# ---- identity ---------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["this is Testa", "it's me", "you got her", "speaking",
                                    "yeah that's me", "Testa speaking", "yes, this is she"])
def test_natural_confirmations_go_on_to_verification(answer: str) -> None:
    result = run("appointment_reminder", [answer, DOB, "confirm"])
    never_misunderstood(result)
    assert result.outcome == "confirmed"


@pytest.mark.parametrize("answer", ["yes, March fifth nineteen eighty", "3 5 1980",
                                    "it's me, my birthday is 3/5/80",
                                    "speaking. date of birth march 5th 1980"])
def test_date_of_birth_volunteered_at_the_greeting_is_used(answer: str) -> None:
    result = run("appointment_reminder", [answer, "confirm"])
    never_misunderstood(result)
    assert not said(result, "ask_dob")  # not asked for again
    assert result.path[:3] == ["opening", "ask_dob", "check_identity"]
    assert result.outcome == "confirmed"


def test_a_wrong_volunteered_date_of_birth_still_does_not_verify() -> None:
    result = run("appointment_reminder", ["yes, 4 6 1981", "4 6 1981"])
    assert result.outcome == "not_verified"
    assert not said(result, "details")


# ---- questions at any point ------------------------------------------------------------


@pytest.mark.parametrize("question", ["who is this?", "what's this about?",
                                      "which doctor is that with?", "what time was that?"])
def test_question_before_identity_answered_without_phi_then_asked_again(question: str) -> None:
    result = run("appointment_reminder", [question, "yes", DOB, "confirm"])
    says = spoken(result.effects)
    opening = next(i for i, s in enumerate(says) if s.prompt_id == "opening")
    reask = next(i for i, s in enumerate(says) if s.prompt_id == "opening_reprompt" or (
        s.prompt_id == "opening" and i > opening))
    assert "no_match_default" not in [s.prompt_id for s in says]
    answer = says[opening + 1:reask]
    assert answer, "the question was answered"
    for say in answer:
        assert not say.contains_phi
        assert "Maple Grove Family Clinic" in say.text or "confirmed who" in say.text
        for secret in PHI:
            assert secret not in say.text
    assert result.outcome == "confirmed"


def test_question_at_the_date_of_birth_step_is_answered_then_dob_asked_again() -> None:
    result = run("appointment_reminder", ["yes", "who's calling please", DOB, "confirm"])
    ids = [s.prompt_id for s in spoken(result.effects)]
    assert ids[ids.index("answer_who") + 2] == "ask_dob_reprompt"
    assert result.outcome == "confirmed"


def test_after_verification_the_doctor_and_time_are_answered() -> None:
    result = run("appointment_reminder", ["yes", DOB, "which doctor is that with?",
                                          "what time was that?", "confirm"])
    assert "Dr. Ada Testwell" in said(result, "answer_provider")[0].text
    assert "10:30 AM" in said(result, "answer_time")[0].text
    assert said(result, "answer_time")[0].contains_phi
    assert len(said(result, "details_reprompt")) == 2  # asked again after each answer
    assert result.outcome == "confirmed"


# ---- dates of birth ---------------------------------------------------------------------


@pytest.mark.parametrize("dob", ["3 5 1980", "three five eighty", "march fifth eighty",
                                 "uh it's 03/05/1980", "the fifth of March, 1980",
                                 "um, march the 5th, nineteen eighty", "03051980",
                                 "zero three zero five nineteen eighty"])
def test_date_of_birth_forms_verify(dob: str) -> None:
    result = run("appointment_reminder", ["yes", dob, "confirm"])
    assert result.outcome == "confirmed", dob


def test_seven_fourteen_ninety_two_verifies_its_patient() -> None:
    result = run("no_show_reactivation", ["yes", "seven fourteen ninety two", "no"],
                 patient="pat-1003")
    assert "missed" in result.path


# ---- rescheduling honours what was asked -------------------------------------------------


def offers(result: object) -> list[str]:
    say = [s for s in spoken(result.effects)  # type: ignore[attr-defined]
           if s.prompt_id in ("offer_slots", "offer_nearest")][-1]
    return re.findall(r"(\w+day, \w+ \d+ at [\d:]+ [AP]M)", say.text)


def hour(label: str) -> int:
    h, suffix = re.search(r"at (\d+)(?::\d+)? ([AP]M)", label).groups()  # type: ignore[union-attr]
    return int(h) % 12 + (12 if suffix == "PM" else 0)


def test_thursday_afternoon_offers_thursday_afternoon_only() -> None:
    result = run("appointment_reminder", ["yes", DOB, "reschedule", "Thursday afternoon"])
    found = offers(result)[-3:]
    assert found
    assert all(o.startswith("Thursday, November 26") for o in found)
    assert all(hour(o) >= 12 for o in found)


def test_preference_said_with_the_request_is_used_at_once() -> None:
    result = run("appointment_reminder", ["yes", DOB, "can I move it to next Tuesday"])
    assert all(o.startswith("Tuesday, December 1") for o in offers(result))


def test_whatevers_earliest_and_anything_next_week() -> None:
    earliest = run("appointment_reminder", ["yes", DOB, "reschedule", "whatever's earliest"])
    assert said(earliest, "offer_slots")
    week = run("appointment_reminder", ["yes", DOB, "reschedule", "anything next week"])
    last = [s for s in spoken(week.effects) if s.prompt_id == "offer_slots"][-1]
    assert "November 30" in last.text or "December" in last.text
    assert "November 2" not in last.text.replace("November 30", "")


def test_later_that_day_is_the_appointments_day_after_its_time() -> None:
    result = run("appointment_reminder", ["yes", DOB, "reschedule", "later that day"])
    found = offers(result)[-3:]
    assert found
    assert all(o.startswith("Tuesday, November 24") for o in found)
    assert all(hour(o) >= 11 for o in found)


def test_nothing_matching_is_said_and_the_nearest_offered_never_silently() -> None:
    result = run("appointment_reminder", ["yes", DOB, "reschedule", "Saturday morning"])
    nearest = said(result, "offer_nearest")
    assert nearest, "the caller hears that nothing matched"
    assert "nothing open on Saturday morning" in nearest[0].text
    assert "Monday, November 30" in nearest[0].text  # the first open day after Saturday


# ---- cancel versus opt-out ---------------------------------------------------------------


@pytest.mark.parametrize("unclear", [["yes", "yes"], ["whatever", "I don't know"],
                                     ["cancel", "cancel"]])
def test_unclear_cancel_answer_is_asked_again_never_an_opt_out(unclear: list[str]) -> None:
    result = run("appointment_reminder", ["yes", DOB, "cancel", *unclear, "confirm"])
    assert not any(isinstance(e, (RecordRevocation, AddDoNotCall)) for e in result.effects)
    assert said(result, "cancel_disambiguation_again")
    assert result.outcome == "confirmed"  # back at the question, nothing changed


def test_clear_answers_to_cancel_or_stop() -> None:
    appointment = run("appointment_reminder", ["yes", DOB, "cancel", "the appointment", "yes"])
    assert appointment.outcome == "cancelled"
    stop = run("appointment_reminder", ["yes", DOB, "cancel", "stop calls"])
    assert stop.outcome == "opted_out"
    assert any(isinstance(e, RecordRevocation) for e in stop.effects)


def test_a_plain_yes_is_never_an_opt_out_anywhere_in_the_reminder() -> None:
    result = run("appointment_reminder", ["yes", DOB, "yes"])
    assert result.outcome == "confirmed"
    assert not any(isinstance(e, RecordRevocation) for e in result.effects)


# ---- declines and deferrals ---------------------------------------------------------------


@pytest.mark.parametrize(("turns", "step"), [
    (["not right now"], "opening"), (["yes", "I'm driving"], "ask_dob"),
    (["yes", DOB, "call me back later"], "details"), (["yes", DOB, "not now, I'm at work"],
                                                       "details")])
def test_deferrals_close_politely_with_a_call_back(turns: list[str], step: str) -> None:
    result = run("appointment_reminder", turns)
    never_misunderstood(result)
    assert result.outcome == "incomplete"
    hangup = next(e for e in result.effects if isinstance(e, Hangup))
    assert hangup.reason == "call_back_later"
    assert not any(isinstance(e, RecordRevocation) for e in result.effects)


def test_not_right_now_answers_a_screening_question_rather_than_ending() -> None:
    answers = ["yes", "yes", "yes", "yes", "no", "yes", "yes", "yes", "no", "no", "no", "no",
               "six", "no", "no", "not right now"]
    result = run("health_screening", ["yes", DOB, *answers])
    assert "q19" in result.path


# ---- intake --------------------------------------------------------------------------------


def test_intake_name_from_a_greeting_is_the_name_only_and_insurers_are_recognised() -> None:
    turns = ["Hi, my name is Testa Patientson and I need to see a doctor", "March 5th 1980",
             "five five five, oh one oh oh, one two three", "one oh oh oh one",
             "um I've got medi care", "Z Z X one two three four five six seven eight nine",
             "yes", "My knee has been swelling since Tuesday, after I fell."]
    result = run("patient_intake", turns)
    saved = {kind: values for _, kind, values in result.saved}
    assert saved["demographics"]["name"] == "Testa Patientson"
    assert saved["insurance"]["carrier"] == "Medicare"
    assert saved["visit_reason"]["reason"] == ("My knee has been swelling since Tuesday, after "
                                               "I fell.")


# ---- screening -----------------------------------------------------------------------------


def test_screening_maps_frequencies_and_dont_know_per_question() -> None:
    # q01 adult, q02 snore "nearly every night", q03 loud "I don't know" (don't-know
    # branch), q04 tired "several days" (an "often" question: not yet a yes), q06 observed
    # apnoea "not that I know of", q07 bp "hardly ever" ...
    answers = ["yes", "nearly every night", "I don't know", "several days",
               "not that I know of", "no", "no", "no", "sometimes", "no", "six", "no", "no",
               "no", "no", "no", "no", "no", "no", "no", "yes"]
    result = run("health_screening", ["yes", DOB, *answers])
    saved = next(v for _, k, v in result.saved if k == "screening")["answers"]
    assert saved["q02"] is True
    assert "q03" not in saved
    assert saved["q04"] is False
    assert saved["q06"] is False
    assert saved["q11"] is False  # "sometimes" to "do you often wake with a headache?"
    assert result.outcome == "not_qualified"
