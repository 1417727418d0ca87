"""Words after "for", titles and "calling" that are no names; lowercase names from speech.

Before: the agent's own menu "For English press two" was stored as "For [NAME] press two",
and "For Billing", "For Cardiology", "Is this for Radiology?", "I'm English", "This is
Reception", "Doctor Who", "For Mother's Day" lost a word to [NAME]; "I'm calling about my
appointment" became "[NAME] calling about my appointment" (the contraction read as a name
before "calling"). And a name as speech recognition writes it, in lower case ("this is
testa patientson"), was kept: only "my name is" took a lowercase name. Now languages,
clinic departments and phone-menu words are no names after a weak lead, question words are
none after a title, contractions none before "calling", and a lowercase name of two words
(or one before "speaking", "calling", "here") after "this is", "I'm", "it's", "speak with"
is redacted. ``heldout6.txt`` was written before the change and is only scored.
"""

from __future__ import annotations

import pytest

from agent.redact import KnownIdentifiers, redact
from tests.redaction.scoring import evaluate, load, precision

KEPT = ["For English press two.", "For Spanish, press 2.", "For Billing press 3",
        "For Cardiology press five", "Is this for Radiology?", "Which Doctor Who is on today",
        "For Labs press six", "For Refills", "I'm calling for my Mother", "For Mother's Day",
        "Doctor When can I come", "I'm English", "This is Reception",
        "For Emergencies hang up and dial 911", "For Prescription refills say refill",
        "For Dr. Who", "I'm calling about my appointment", "I'm asthmatic",
        "this is urgent", "i'm running late", "it's getting worse", "this is really hard",
        "For Tuesday at ten please", "It's Friday", "this is about my bill"]
NAMED = [("this is testa patientson", "this is [NAME]"),
         ("yes this is robin sampleton speaking", "yes this is [NAME] speaking"),
         ("i'm fakey mcsample", "i'm [NAME]"),
         ("it's testa calling", "it's [NAME] calling"),
         ("the appointment is for Robin Sampleton", "the appointment is for [NAME]"),
         ("This is Nurse Joy", "This is Nurse [NAME]"),
         ("my name is testa patientson", "my name is [NAME]"),
         ("Robin here", "[NAME] here")]


@pytest.mark.parametrize("said", KEPT)
def test_no_name_is_taken_from_menu_calendar_or_question_words(said: str) -> None:
    assert redact(said) == said


@pytest.mark.parametrize(("said", "stored"), NAMED)
def test_names_are_still_redacted_lowercase_too(said: str, stored: str) -> None:
    assert redact(said) == stored


def test_the_patients_own_name_in_lowercase_after_for() -> None:
    known = KnownIdentifiers(names=("Testa Patientson",))
    assert redact("the appointment is for testa", known) == "the appointment is for [NAME]"


def test_heldout6_report() -> None:
    """Scored, never tuned on: the figures are printed (``bench/redaction_recall.py``)."""
    utterances = load("heldout6.txt")
    report = evaluate(utterances, None)
    right, found = precision(utterances, None)
    print(f"heldout6: NAME recall {report.recall('NAME'):.0%}, precision {right}/{found}, "
          f"negatives redacted {report.false_positive_lines}/{report.negative_lines}")
    assert report.negative_lines == 15
