"""The Spanish grammar, through the engine's own grammar: a Spanish answer must reach the
engine as the intent or value an English caller's answer would (issue 12, Spanish)."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.grammar import parse_slot, understand
from agent.grammar.es import looks_spanish, to_canonical
from agent.grammar.es.numbers import parse_number
from tests.spanish.corpus import HELD_OUT, TUNED, Case
from tests.spanish.corpus_repeat_frequency import HELD_OUT_RF, TUNED_RF

NOW = dt.datetime(2026, 12, 5, 15, 0, tzinfo=dt.UTC)


def understood(case: Case) -> bool:
    kind, said, expected = case
    canonical = to_canonical(said)
    if kind == "intent":
        intents = understand(canonical).intents
        if expected.startswith("!"):  # not read: "!cancel" is no cancel of either kind
            return not any(i.startswith(expected[1:]) for i in intents)
        return expected in intents
    if kind == "date_pref":
        return canonical == expected  # the canonical phrase the English grammar reads
    value = parse_slot(kind, canonical, NOW, options=3)
    return str(value) == expected if expected == "None" else (
        value is not None and str(value) == expected)


@pytest.mark.parametrize("case", TUNED, ids=[c[1] for c in TUNED])
def test_tuned_phrasings_are_understood(case: Case) -> None:
    assert understood(case), (case, to_canonical(case[1]))


def test_held_out_phrasings_mostly_understood() -> None:
    """Phrasings written apart from the grammar: the score is reported, with a floor."""
    missed = [c for c in HELD_OUT if not understood(c)]
    score = 1 - len(missed) / len(HELD_OUT)
    print(f"Spanish held-out: {score:.0%} of {len(HELD_OUT)} ({len(missed)} missed: "
          f"{[c[1] for c in missed]})")
    assert score >= 0.75, missed


def test_opt_out_is_never_a_plain_no() -> None:
    for said in ("No me llame más.", "no me llamen", "No, no quiero más llamadas."):
        intents = understand(to_canonical(said)).intents
        assert "opt_out" in intents, said
        assert "deny" not in intents, said


def test_free_text_is_kept_and_numbers_become_digits() -> None:
    assert to_canonical("Me duele la espalda") == "Me duele la espalda"
    assert to_canonical("cinco cinco cinco uno dos tres cuatro") == "5 5 5 1 2 3 4"
    assert to_canonical("Hola, me llamo Ana López") == "my name is Ana López"


@pytest.mark.parametrize(("words", "value"), [
    ("mil novecientos ochenta", 1980), ("dos mil cinco", 2005), ("treinta y uno", 31),
    ("setenta y cuatro", 74), ("mil novecientos noventa y dos", 1992), ("veintidós", None),
])
def test_spanish_numbers(words: str, value: int | None) -> None:
    from agent.grammar.es import normalise  # noqa: PLC0415

    got = parse_number(normalise(words).split())
    assert got == (value if value is not None else 22)


@pytest.mark.parametrize(("said", "spanish"), [
    ("Sí, soy yo.", True), ("cancelar", True), ("la segunda", True),
    ("Ahora no, estoy manejando", True), ("¿Quién habla?", True),
    ("yes this is her", False), ("no", False), ("speaking", False), ("cancel", False),
    ("March fifth nineteen eighty", False), ("stop calling me", False),
    ("the second one", False), ("it's me", False),
])
def test_language_detection_from_words(said: str, spanish: bool) -> None:
    assert looks_spanish(said) is spanish


@pytest.mark.parametrize("said", ["un momento", "espere", "déjeme buscar mi tarjeta",
                                  "un segundo por favor"])
def test_asking_for_a_moment_is_hold_on(said: str) -> None:
    assert to_canonical(said) == "hold on"


def test_another_time_is_still_a_call_back_not_a_moment() -> None:
    assert to_canonical("llámeme en otro momento") == "call me back later"


@pytest.mark.parametrize("case", TUNED_RF, ids=[f"{c[0]}:{c[1]}" for c in TUNED_RF])
def test_repeat_requests_and_frequencies_are_understood(case: Case) -> None:
    """ "¿Puede repetir?" repeats the question; "a veces" answers "how often" (both were
    no answer: a miss, or at a free-text question the words stored as the value)."""
    assert understood(case), (case, to_canonical(case[1]))


def test_held_out_repeat_and_frequency_mostly_understood() -> None:
    missed = [c for c in HELD_OUT_RF if not understood(c)]
    score = 1 - len(missed) / len(HELD_OUT_RF)
    print(f"Spanish repeat/frequency held-out: {score:.0%} of {len(HELD_OUT_RF)} "
          f"({len(missed)} missed: {[c[1] for c in missed]})")
    assert score >= 0.75, missed


@pytest.mark.parametrize(("said", "kind", "day"), [
    ("el cinco de diciembre del 26", "date_pref", dt.date(2026, 12, 5)),  # was 1926: none
    ("5/12/26", "date", dt.date(2026, 12, 5)),
    ("catorce de julio del noventa y dos", "dob", dt.date(1992, 7, 14)),
    ("cinco de marzo del cinco", "dob", dt.date(2005, 3, 5))])
def test_a_two_digit_year_is_placed_by_the_question(said: str, kind: str, day: dt.date) -> None:
    """A two-digit year said in Spanish was 19xx above 25 whatever was asked: "del 26" for
    a visit was 1926, so no day to book. Now the English grammar places it as it does
    "12/5/26": a birth year never in the future, a visit's year not in the past."""
    value = parse_slot(kind, to_canonical(said), NOW)
    got = value.date if kind == "date_pref" else value  # type: ignore[union-attr]
    assert got == day
