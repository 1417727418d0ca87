"""The organisation's own words stay readable; a patient's name the agent says back does not.

Before: the transcript kept the clinic's name by swapping it for a marker word before
redacting, and "Hello, this is <marker> calling" read as a person introducing themselves,
so the demo greeting was stored as "Hello, this is [NAME] calling" (and the conversation
memory, which redacts again without the marker, stored "this is [NAME] Clinic calling").
Names the caller gave ("my name is Jo Demo") were redacted in the caller's turn, but the
agent's "Thank you, Jo Demo." was stored as said. Now the organisation's names, number and
address are part of the identifiers the redactor is given (``KnownIdentifiers.keep``): no
recogniser's span may cover them, wherever they are said, in the transcript and in memory;
and a name heard from the caller is redacted wherever it is said again in the call.
"""

from __future__ import annotations

import datetime as dt

from agent.memory import InMemoryMemoryStore
from agent.prompts import prompt_literals
from agent.redact import KnownIdentifiers, redact
from agent.transcript_text import (
    known_identifiers,
    redact_keeping,
    redact_transcript,
    remember_turns,
    transcript_identifiers,
)

CLINIC = "Maple Grove Family Clinic"
KEEP = [CLINIC, "five five five, oh one oh, oh one hundred", "Dr. Ada Testwell",
        "100 Example Avenue, New York, NY 10001"]
PATIENT = known_identifiers({"first_name": "Testa", "last_name": "Patientson",
                             "dob": "1980-03-05", "phone": "555-010-0199"})
UNKNOWN = known_identifiers(None)


def test_the_greeting_keeps_the_clinics_name_and_redacts_the_patients() -> None:
    said = f"Hello, this is {CLINIC} calling with a message for Testa."
    assert redact_keeping(said, PATIENT, KEEP) == \
        f"Hello, this is {CLINIC} calling with a message for [NAME]."


def test_every_prompt_that_introduces_the_clinic_keeps_its_name() -> None:
    for said in (f"This is {CLINIC} calling about an upcoming appointment.",
                 f"This is {CLINIC}'s automated line; I can take your details for a visit.",
                 f"Hello, this is {CLINIC} calling for you. You can reach us at five five "
                 f"five, oh one oh, oh one hundred.",
                 "Our address is 100 Example Avenue, New York, NY 10001."):
        assert redact_keeping(said, UNKNOWN, KEEP) == said


def test_a_span_reaching_past_the_clinics_name_still_redacts_the_rest() -> None:
    said = f"I'm calling {CLINIC} for my mother, Nomen Placeholder."
    out = redact_keeping(said, UNKNOWN, KEEP)
    assert CLINIC in out
    assert "Nomen" not in out
    assert "Placeholder" not in out


def test_the_clinics_name_is_not_a_licence_to_leak_a_patients_name() -> None:
    """Only the whole kept phrase is kept: the patient's name next to it is redacted."""
    said = f"This is Testa Patientson, I'm a patient at {CLINIC}."
    out = redact_keeping(said, PATIENT, KEEP)
    assert "Testa" not in out
    assert "Patientson" not in out
    assert CLINIC in out


async def test_memory_keeps_the_clinics_name_too() -> None:
    """The memory redacts the stored turns again, with the identifiers the call used."""
    memory = InMemoryMemoryStore()
    said = [("agent", f"Hello, this is {CLINIC} calling for Testa.")]
    known = transcript_identifiers(said, PATIENT, KEEP)
    await remember_turns(memory, "pat-1", "appointment_reminder", redact_transcript(
        said, PATIENT, KEEP), dt.datetime(2026, 12, 7, tzinfo=dt.UTC), known)
    (turn,) = (await memory.load("pat-1")).turns
    assert turn.text == f"Hello, this is {CLINIC} calling for [NAME]."


def test_a_name_the_caller_gave_is_redacted_when_the_agent_says_it_back() -> None:
    turns = [("agent", "What is your full name?"),
             ("caller", "my name is Jo Demo"),
             ("agent", "Thank you, Jo Demo. What is your date of birth?"),
             ("agent", "Jo, is that right?")]
    out = redact_transcript(turns, UNKNOWN, KEEP)
    assert out[1] == ("caller", "my name is [NAME]")
    assert out[2] == ("agent", "Thank you, [NAME]. What is your date of birth?")
    assert out[3] == ("agent", "[NAME], is that right?")


def test_a_name_heard_is_redacted_again_in_the_callers_later_turns() -> None:
    turns = [("caller", "this is Jo Demo calling"), ("caller", "yes Demo, D E M O")]
    out = redact_transcript(turns, UNKNOWN, KEEP)
    assert "Demo" not in out[1][1]


def test_a_name_that_is_also_a_word_is_redacted_when_said_back() -> None:
    turns = [("caller", "my name is Will Demo"), ("agent", "Thank you, Will.")]
    assert redact_transcript(turns, UNKNOWN, KEEP)[1] == ("agent", "Thank you, [NAME].")


def test_redaction_without_kept_words_is_unchanged() -> None:
    assert redact("Hello, this is Jo Demo calling") == "Hello, this is [NAME] calling"
    assert redact("my name is Jo", KnownIdentifiers()) == "my name is [NAME]"


def test_a_name_given_as_the_answer_to_whats_your_name_is_redacted() -> None:
    """Before: "Jo Demo" alone, answering the intake's question, had no lead ("my name
    is") and was stored as said, and so was the agent's "Thank you, Jo". A caller's turn
    answering a question for their name is read as the engine reads it (the name slot)."""
    turns = [("agent", "Thank you for calling. Please say your first and last name."),
             ("caller", "Jo Demo"),
             ("agent", "Thank you, Jo. What is your date of birth?"),
             ("caller", "I said Demo, Jo Demo")]
    out = redact_transcript(turns, UNKNOWN, KEEP)
    assert out[1] == ("caller", "[NAME]")
    assert out[2] == ("agent", "Thank you, [NAME]. What is your date of birth?")
    assert "Demo" not in out[3][1]


def test_a_spanish_name_answer_is_redacted() -> None:
    turns = [("agent", "Por favor, diga su nombre y apellido."), ("caller", "Juana Ejemplo")]
    assert redact_transcript(turns, UNKNOWN, KEEP)[1] == ("caller", "[NAME]")


def test_an_answer_that_is_no_name_is_not_made_one() -> None:
    turns = [("agent", "Please say your first and last name."), ("caller", "why do you need it")]
    assert redact_transcript(turns, UNKNOWN, KEEP)[1] == ("caller", "why do you need it")
    turns = [("agent", "What is the name of your insurance company?"), ("caller", "Blue Cross")]
    assert redact_transcript(turns, UNKNOWN, KEEP)[1] == ("caller", "Blue Cross")


def test_a_heard_names_particles_are_not_redacted_everywhere() -> None:
    turns = [("caller", "me llamo Juana de la Cruz"), ("agent", "Gracias, Juana de la Cruz."),
             ("agent", "Su cita es el martes de la semana que viene.")]
    out = redact_transcript(turns, UNKNOWN, KEEP)
    assert "Juana" not in out[1][1]
    assert "Cruz" not in out[1][1]
    assert out[2] == ("agent", "Su cita es el martes de la semana que viene.")


PROMPTS = ["Please say your date of birth, for example, March fifth, nineteen eighty.",
           "Please read the member ID slowly, for example, A as in apple, one, two, three.",
           "Responda 1, 2 o 3, o un día que le convenga.",
           "Hello, this is {org_name} calling with a message for {patient.first_name}."]


def test_the_agents_own_words_in_a_prompt_are_kept() -> None:
    """Before: the examples the prompts give were stored as "for example, [DOB]", "for
    example, [MEMBER_ID]", "Responda [ID] un día" (and "o" lost). The literal words of
    the workflow's prompts are the organisation's; only what fills them may be PHI."""
    said = [("agent", PROMPTS[0]), ("agent", PROMPTS[1]), ("agent", PROMPTS[2]),
            ("agent", f"Hello, this is {CLINIC} calling with a message for Testa.")]
    out = redact_transcript(said, PATIENT, KEEP, agent_words=prompt_literals(PROMPTS))
    assert [text for _, text in out[:3]] == PROMPTS[:3]
    assert out[3][1] == f"Hello, this is {CLINIC} calling with a message for [NAME]."


def test_the_caller_saying_the_same_words_is_still_redacted() -> None:
    said = [("caller", "March fifth, nineteen eighty"),
            ("caller", "for example, March fifth, nineteen eighty")]
    out = redact_transcript(said, PATIENT, KEEP, agent_words=prompt_literals(PROMPTS))
    assert "March" not in out[0][1]
    assert "March" not in out[1][1]
