"""Everyday questions about the clinic, asked at any point, are answered from the clinic's
own data, or handed plainly to staff, and the question is asked again.

Before: "where are you located?", "what are your hours?", "are you open Saturday?", "what
number can I call you back on?", "do you take my insurance?", "how much will it cost?", "is
there parking?", "what should I bring?" got "Sorry, I did not understand that." (three in a
row handed the caller to staff), and at a free-text question (the reason for a visit) the
question was stored as the answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.i18n import load_overlays, localised, spanish_dates, to_canonical
from agent.workflow.effects import (
    Action,
    Effect,
    Listen,
    RecordRevocation,
    Say,
    Transfer,
    Utterance,
)
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all
from agent.workflow.records import ClinicFileSource, ClinicInfo, build_record

from .helpers import NOW, ROOT, WORKFLOWS

SHIPPED = load_all(WORKFLOWS)
SOURCE = ClinicFileSource(ROOT / "config" / "clinic.yaml")  # the shipped clinic file
PATIENT = {"id": "pat-1001", "first_name": "Testa", "last_name": "Patientson",
           "dob": "1980-03-05"}
ADDRESS = "100 Example Avenue, New York, NY 10001"
HOURS = "Monday to Friday, from 9 AM to 5 PM"
QUESTIONS = {  # question -> (prompt answering it, words the answer must say)
    "Where are you located?": ("answer_address", ADDRESS),
    "What's the address?": ("answer_address", ADDRESS),
    "What are your hours?": ("answer_hours", HOURS),
    "Are you open Saturday?": ("answer_hours", HOURS),
    "What number can I call you back on?": ("answer_callback", "555-010-0100"),
    "Do you take my insurance?": ("answer_billing", "say representative"),
    "How much will it cost?": ("answer_billing", "say representative"),
    "Is there parking?": ("answer_staff", "say representative"),
    "What should I bring?": ("answer_staff", "say representative"),
}


def record(appointment: bool = True) -> dict[str, object]:
    rec = build_record(SOURCE.clinic(), PATIENT, None, {})
    if appointment:
        rec["appointment"] = {"id": "appt-1", "provider": "Dr. Ada Testwell",
                              "day": "Tuesday, November 24", "time": "10:30 AM",
                              "provider_id": "prov-1", "status": "booked"}
    return rec


def says(effects: list[Effect]) -> list[Say]:
    return [e for e in effects if isinstance(e, Say)]


def verified_reminder() -> Conversation:
    conv = Conversation(SHIPPED["appointment_reminder"], record(), call_id="c1")
    conv.start(NOW)
    conv.handle(Utterance("yes"), NOW)
    conv.handle(Utterance("March 5 1980"), NOW)
    assert conv.verified
    assert conv.state == "details"
    return conv


def test_the_record_carries_the_clinics_own_data_and_no_more() -> None:
    from agent.workflow.records import spoken_weekdays  # noqa: PLC0415 - new here; the rest of the file runs before the fix

    assert record(appointment=False)["clinic"] == {
        "address_line": ADDRESS, "days": "Monday to Friday", "opens": "9 AM", "closes": "5 PM"}
    bare = build_record(ClinicInfo("Demo Clinic", "+15550100100", "America/New_York"),
                        None, None, {})
    assert bare["clinic"] == {}  # nothing in the file: nothing to say
    assert spoken_weekdays((0, 2, 4)) == "Monday, Wednesday and Friday"
    assert spoken_weekdays((0, 1, 2, 3, 4, 5)) == "Monday to Saturday"
    assert spoken_weekdays((5, 6)) == "Saturday and Sunday"


@pytest.mark.parametrize("question", list(QUESTIONS))
def test_before_verification_the_question_is_answered_then_asked_again(question: str) -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], record(), call_id="c1")
    conv.start(NOW)
    out = conv.handle(Utterance(question), NOW)
    prompt_id, words = QUESTIONS[question]
    spoken = says(out)
    assert [s.prompt_id for s in spoken] == [prompt_id, "opening_reprompt"]
    assert words in spoken[0].text
    assert not spoken[0].contains_phi
    assert not any(isinstance(e, Transfer) for e in out)
    assert conv.state == "opening"


def test_no_answer_speaks_phi_before_verification() -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], record(), call_id="c1")
    conv.start(NOW)
    for question in QUESTIONS:
        for said in says(conv.handle(Utterance(question), NOW)):
            assert not said.contains_phi
            for phi in ("Testwell", "November 24", "10:30", "Patientson", "1980"):
                assert phi not in said.text
    assert not conv.verified
    assert conv.state == "opening"
    assert not conv.finished


@pytest.mark.parametrize("question", list(QUESTIONS))
def test_after_verification_the_question_is_answered_then_asked_again(question: str) -> None:
    conv = verified_reminder()
    out = conv.handle(Utterance(question), NOW)
    prompt_id, words = QUESTIONS[question]
    spoken = says(out)
    assert [s.prompt_id for s in spoken] == [prompt_id, "details_reprompt"]
    assert words in spoken[0].text
    assert conv.state == "details"
    out = conv.handle(Utterance("confirm"), NOW)
    assert any(isinstance(e, Action) and e.name == "confirm_appointment" for e in out)


def test_what_the_state_acts_on_still_wins() -> None:
    conv = verified_reminder()
    out = conv.handle(Utterance("can you text me the address?"), NOW)
    assert any(isinstance(e, Action) and e.name == "text_address" for e in out)
    conv = verified_reminder()
    out = conv.handle(Utterance("can I talk to someone about my insurance?"), NOW)
    assert any(isinstance(e, Transfer) for e in out)


@pytest.mark.parametrize("said", ["stop calling me, what's your address?",
                                  "don't call me back, what's your number?",
                                  "what number do I call to stop these calls?"])
def test_an_opt_out_with_a_question_is_an_opt_out(said: str) -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], record(), call_id="c1")
    conv.start(NOW)
    out = conv.handle(Utterance(said), NOW)
    assert conv.finished
    assert any(isinstance(e, RecordRevocation) for e in out)
    assert [s.prompt_id for s in says(out)] == ["optout_goodbye"]


def test_without_an_address_in_the_file_staff_are_offered_not_a_guess() -> None:
    rec = build_record(ClinicInfo("Demo Clinic", "+15550100100", "America/New_York"),
                       PATIENT, None, {})
    conv = Conversation(SHIPPED["appointment_reminder"], rec, call_id="c1")
    conv.start(NOW)
    for question in ("where are you located?", "what are your hours?"):
        spoken = says(conv.handle(Utterance(question), NOW))
        assert spoken[0].prompt_id == "answer_staff"


@pytest.mark.parametrize("question", ["Where are you located?", "How much will it cost?",
                                      "Is there parking?"])
def test_at_a_free_text_question_it_is_answered_not_stored(question: str) -> None:
    conv = Conversation(SHIPPED["patient_intake"], record(appointment=False), call_id="c1")
    conv.start(NOW)
    conv.state = "ask_reason"
    out = conv.handle(Utterance(question), NOW)
    assert says(out)[0].prompt_id == QUESTIONS[question][0]
    assert conv.state == "ask_reason"
    assert "reason" not in conv._slots


def test_a_reason_that_mentions_a_cost_is_still_the_reason() -> None:
    conv = Conversation(SHIPPED["patient_intake"], record(appointment=False), call_id="c1")
    conv.start(NOW)
    conv.state = "ask_reason"
    conv.handle(Utterance("my knee pain and the cost of my medication"), NOW)
    assert conv._slots.get("reason") == "my knee pain and the cost of my medication"


def test_by_text_the_reminder_answers_and_staff_are_reached_by_calling() -> None:
    conv = Conversation(SHIPPED["appointment_reminder_sms"], record(), call_id="t1",
                        channel="sms")
    conv.start(NOW)
    out = conv.handle(Utterance("what's your address?"), NOW)
    assert ADDRESS in says(out)[0].text
    out = conv.handle(Utterance("do you take my insurance?"), NOW)
    assert says(out)[0].prompt_id == "answer_billing"
    assert "call Maple Grove Family Clinic at 555-010-0100" in says(out)[0].text
    assert not any(isinstance(e, (Transfer, RecordRevocation)) for e in out)
    assert isinstance(out[-1], Listen)
    assert not conv.finished


def test_in_spanish_the_clinic_is_answered_in_spanish() -> None:
    overlay = load_overlays(WORKFLOWS / "es").for_workflow("appointment_reminder")
    conv = Conversation(localised(SHIPPED["appointment_reminder"], overlay), record(),
                        call_id="c1")
    conv.start(NOW)
    out = conv.handle(Utterance(to_canonical("¿Cuál es su horario?")), NOW)
    assert spanish_dates(says(out)[0].text) == (
        "Nuestro horario es de lunes a viernes, de 9 de la mañana a 5 de la tarde.")
    out = conv.handle(Utterance(to_canonical("¿Dónde están ubicados?")), NOW)
    assert says(out)[0].text == f"Nuestra dirección es {ADDRESS}."


def test_simulate_answers_where_and_when_then_goes_on() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "carrier.cli", "simulate", "appointment_reminder", "--patient",
         "pat-1001", "--clinic", str(Path(ROOT / "config" / "clinic.yaml")),
         "--now", NOW.isoformat()],
        input="where are you located?\nare you open Saturday?\nis there parking?\nyes\n",
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"AGENT: Our address is {ADDRESS}." in out
    assert f"AGENT: Our office hours are {HOURS}." in out
    assert "our staff can help with that. You can say representative" in out
    assert "did not understand" not in out
    assert "AGENT: For your privacy, please tell me your date of birth." in out
