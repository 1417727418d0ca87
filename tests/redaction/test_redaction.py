"""Redaction recall on the labelled set (>= 300 utterances) and its invariants."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.redact import KnownIdentifiers, find_spans, redact

from .scoring import evaluate, load

KNOWN = KnownIdentifiers(names=("Testa Patientson",), dob=dt.date(1980, 3, 5),
                         phones=("+15550100123",), member_ids=("ZZX123456789",),
                         mrns=("MRN-900001",))
MUST_BE_PERFECT = ("SSN", "PHONE", "DOB", "MRN", "MEMBER_ID")


@pytest.mark.parametrize("known", [None, KNOWN], ids=["patterns-only", "with-known-ids"])
def test_labelled_set_recall(known: KnownIdentifiers | None) -> None:
    utterances = load()
    assert len(utterances) >= 300
    report = evaluate(utterances, known)
    print(f"\nredaction recall ({'with' if known else 'without'} known identifiers), "
          f"{len(utterances)} utterances:")
    print("\n".join(report.lines()))
    for label in MUST_BE_PERFECT:
        assert report.total[label] >= 30, label
        assert report.recall(label) == 1.0, [m for m in report.misses if m.startswith(label)]
    assert report.overall >= 0.97
    assert report.false_positive_lines <= 2


@pytest.mark.parametrize("name", ["heldout.txt", "heldout2.txt"])
def test_heldout_recall_report(name: str) -> None:
    """Lines written after tuning, reported to show how redaction generalises.

    First measured at 68.8% overall (DOB 3/4, member ID 1/2, MRN 1/2, SSN and phone all
    caught); the recognisers were then extended with general rules (year said before the
    month, letter groups in IDs, cardinal numbers after ID words, "X speaking", places,
    ages said without "years old"), so this set is no longer held out. heldout2.txt was
    written after that and is measured as is (92.6%: a birth year said apart from the
    month and day, which Safe Harbor allows to stay, and a device serial starting "PM").
    """
    utterances = load(name)
    report = evaluate(utterances, None)
    print(f"\nredaction {name}, {len(utterances)} lines (patterns only):")
    print("\n".join(report.lines()))
    for miss in report.misses:
        print("  miss:", miss)
    assert sum(report.total.values()) >= 25


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my SSN is 123-45-6789", "my SSN is [SSN]"),
        ("call me at five five five, oh one oh oh, one two three",
         "call me at [PHONE]"),
        ("I was born March fifth, nineteen eighty.", "I was born [DOB]."),
        ("one two three, four five, six seven eight nine is my social", "[SSN] is my social"),
        ("MRN-900001", "[MRN]"),
        ("member ID Z Z X one two three four five six seven eight nine", "member ID [MEMBER_ID]"),
        ("see you at three thirty on Tuesday", "see you at three thirty on Tuesday"),
        ("I had the flu in 2019", "I had the flu in 2019"),
    ],
)
def test_examples(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_known_identifiers_are_caught_in_any_form() -> None:
    text = ("testa here, my number is 555 010 0123 and my member number is "
            "zzx123456789, MRN 900001, born 03/05/1980")
    out = redact(text, KNOWN)
    for secret in ("testa", "0123", "zzx", "900001", "1980"):
        assert secret not in out.lower(), out


def test_placeholders_are_left_alone() -> None:
    text = "[NAME] called from [PHONE] about [DOB]"
    assert redact(text) == text


PHI_PIECES = st.sampled_from([
    "123-45-6789", "555-010-0123", "(555) 010-0199", "3/5/1980", "March 5th, 1980",
    "five five five oh one two three", "MRN-900001", "testa@example.com", "10.1.2.3",
    "42 Elm Street", "member ID ZZX123456789", "my name is Testa Patientson",
])
FILLER = st.sampled_from(["yes", "I think", "and", "okay", "my", "is", "then", "please", ","])


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(st.one_of(PHI_PIECES, FILLER), max_size=8))
def test_redaction_is_idempotent_and_removes_known_values(parts: list[str]) -> None:
    text = " ".join(parts)
    once = redact(text, KNOWN)
    assert redact(once, KNOWN) == once
    for secret in ("6789", "0123", "1980", "900001", "testa", "Patientson", "ZZX"):
        assert secret.lower() not in once.lower()


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80))
def test_spans_are_ordered_disjoint_and_inside_the_text(text: str) -> None:
    spans = find_spans(text, KNOWN)
    for a, b in itertools.pairwise(spans):
        assert a.end <= b.start
    assert all(0 <= s.start < s.end <= len(text) for s in spans)


def test_cli_redacts_stdin_line_by_line() -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "carrier.cli", "redact", "--name", "Testa Patientson"],
        input="my SSN is 123-45-6789\nTesta will be there\nno PHI here\n", capture_output=True,
        text=True, timeout=60, cwd=root, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["my SSN is [SSN]", "[NAME] will be there", "no PHI here"]


@pytest.mark.parametrize("text", [
    "Stop calling me", "Stop calling me please", "Quit calling me", "Keep calling and I will "
    "report you", "Please stop calling", "Nobody here by that name", "Remove me from the list"])
def test_opt_out_evidence_survives_redaction(text: str) -> None:
    """Issue 12: "Stop calling me" became "[NAME] calling me"; capitalisation is no evidence."""
    assert redact(text) == text
    assert redact(text, KNOWN) == text


def test_common_word_is_redacted_when_it_is_the_patients_known_name() -> None:
    known = KnownIdentifiers(names=("Hope Keep",))
    assert redact("Keep here, who is calling", known) == "[NAME] here, who is calling"
    assert redact("this is hope keep", known) == "this is [NAME]"


def test_the_patients_name_as_speech_recognition_misspelled_it_is_redacted() -> None:
    """Stop 20's CI run stored "caller: Merry [NAME]." for the synthetic Mary Smith: the
    homophone the recogniser wrote escaped the known-name match."""
    known = KnownIdentifiers(names=("Mary Smith",))
    assert redact("Merry Smith.", known) == "[NAME] [NAME]."
    assert redact("yes it's Marie Smyth", known) == "yes it's [NAME]"
    assert redact("I will call Moore tomorrow", known) == "I will call Moore tomorrow"
    will = KnownIdentifiers(names=("Will Smith",))
    assert redact("Well Smith.", will) == "[NAME] [NAME]."
    assert redact("Well, yes, that works.", will) == "Well, yes, that works."


@pytest.mark.parametrize("day", ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                 "Saturday", "Sunday"])
def test_a_weekday_that_sounds_like_the_patients_name_is_kept(day: str) -> None:
    """The demo call stored the agent's "on Tuesday, December 8" as "on [NAME], [DATE]":
    "Tuesday" sounds like the demo patient's "Testa". A weekday or month is no name unless
    the patient is known by it."""
    known = KnownIdentifiers(names=("Testa Patientson",))
    said = f"You have an appointment with Dr. Ada Testwell on {day}, December 8 at 10:30 AM."
    assert redact(said, known) == (
        f"You have an appointment with Dr. [NAME] on {day}, [DATE] at 10:30 AM.")
    assert redact("Yes, this is Testa.", known) == "Yes, this is [NAME]."
    assert redact("It's Tuesday Patientson.", KnownIdentifiers(names=("Tuesday Patientson",))
                  ) == "It's [NAME]."


def test_heldout4_names_with_accents_and_spanish_introductions() -> None:
    """Names were matched with ASCII classes, so "This is José" stored "[NAME]é" and
    "Zoë Müller" kept "ë Müller"; Spanish introductions ("me llamo", "soy", "habla")
    were no lead at all. Written after the change, scored once: before 0/12 names whole
    (0 of 8 negatives touched), after 12/12 (0 of 8)."""
    report = evaluate(load("heldout4.txt"), None)
    print("\n".join(report.lines()))
    assert report.false_positive_lines == 0, report.misses
    assert report.recall("NAME") >= 0.9


def test_a_known_name_with_accents_is_redacted_however_it_is_written() -> None:
    assert redact("Soy José García.", KnownIdentifiers(names=("Jose Garcia",))) == "Soy [NAME]."
    assert redact("yes it's Jose Garcia", KnownIdentifiers(names=("José García",))) == (
        "yes it's [NAME]")


def test_heldout3_names_versus_common_words() -> None:
    """Written before the common-word check (names said with common-word neighbours and
    opt-out phrases). Before: 5 of 20 negatives over-redacted; after: none, names 8/10."""
    utterances = load("heldout3.txt")
    report = evaluate(utterances, None)
    print("\n".join(report.lines()))
    assert report.false_positive_lines == 0, report.misses
    assert report.recall("NAME") >= 0.8


# The birth year of a known patient is redacted even when the date around it was misheard
# (webchat: "March death 1980" kept "1980" because it no longer parsed as a date).
@pytest.mark.parametrize("heard", [
    "March death 1980",
    "it's the fifth of March, 1980 I think",
    "el cinco de marzo de 1.980",
    "born in nineteen eighty, in the spring",
    "March this, 1980.",
    "marzo del 1.980",
    "Marks Fifth 1980.",  # the month misheard too (Whisper base, G.711)
])
def test_a_known_birth_year_is_redacted_where_the_date_was_misheard(heard: str) -> None:
    known = KnownIdentifiers(names=("Synthetic Testa",), dob=dt.date(1980, 3, 5))
    out = redact(heard, known)
    assert "1980" not in out
    assert "1.980" not in out
    assert "nineteen eighty" not in out.lower()
    assert "[DOB]" in out
    assert "March" not in out
    assert "marzo" not in out
    assert "Marks" not in out


def test_other_years_and_lone_numbers_stay() -> None:
    known = KnownIdentifiers(names=("Synthetic Testa",), dob=dt.date(1980, 3, 5))
    out = redact("I take eighty milligrams since 1995, and 19800 steps", known)
    assert "eighty milligrams" in out
    assert "1995" in out
    assert "19800" in out


def test_heldout5_spanish_identifiers_in_words() -> None:
    """Spanish dates of birth, phone and social security digits and ages over 89 said in
    words, and names typed with decomposed accents (NFD), were kept: a Spanish call's or
    chat's step-up answer ("el cinco de marzo de mil novecientos ochenta") was stored in
    the transcript as said. Written before the change (agent.redaction.spanish), scored
    once: before 1/12 (8.3%, 0 of 8 negatives touched); after 12/12 (1 of 8 touched: "el
    cinco de marzo" of an appointment is a [DATE], as "March fifth" is in English)."""
    report = evaluate(load("heldout5.txt"), None)
    print("\n".join(report.lines()))
    assert report.false_positive_lines <= 1, report.misses
    assert sum(report.caught.values()) >= 11


@pytest.mark.parametrize(("text", "expected"), [
    ("El cinco de marzo de mil novecientos ochenta.", "El [DOB]."),
    ("Nací el veintiuno de julio de dos mil uno", "Nací el [DOB]"),
    ("mi cumpleaños es el 5 de marzo de 1980", "mi cumpleaños es el [DOB]"),
    ("mi número es cinco cinco cinco, cero uno cero cero, uno dos tres",
     "mi número es [PHONE]"),
    ("tiene ciento dos años", "tiene [AGE] años"),
    ("Soy Jose\u0301 Nu\u0301n\u0303ez", "Soy [NAME]"),
    ("Tengo tres hijos, dos nietos y un perro", "Tengo tres hijos, dos nietos y un perro"),
    ("Tomo cien miligramos, dos veces al día", "Tomo cien miligramos, dos veces al día"),
    ("Mil gracias, en marzo lo veo", "Mil gracias, en marzo lo veo"),
])
def test_spanish_spoken_identifiers(text: str, expected: str) -> None:
    known = KnownIdentifiers(names=("José Núñez",), dob=dt.date(1980, 3, 5))
    assert redact(text, known) == expected
