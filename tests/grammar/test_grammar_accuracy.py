"""Grammar accuracy on the labelled utterances: 100% on the grammars' own examples,
and a reported score (with a floor) on the full corpus of >= 300 utterances."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.grammar import SLOT_TYPES, parse_slot, understand
from agent.grammar.es import to_canonical

from .corpus import NOW, category_accuracy, load, score


def test_grammars_own_examples_are_all_right() -> None:
    result = score(load("examples.tsv"))
    assert result.misses == ()
    assert result.intent_total >= 20
    assert result.slot_total >= 20


def test_corpus_accuracy_report(capsys: object) -> None:
    rows = load("corpus.tsv")
    assert len(rows) >= 300
    result = score(rows)
    print(f"\nNLU corpus: {len(rows)} utterances; intent accuracy "
          f"{result.intent_right}/{result.intent_total} = {result.intent_accuracy:.1%}; "
          f"slot accuracy {result.slot_right}/{result.slot_total} = {result.slot_accuracy:.1%}")
    for miss in result.misses:
        print("  miss:", miss)
    assert result.intent_accuracy >= 0.97
    assert result.slot_accuracy >= 0.97


@pytest.mark.parametrize("name", ["heldout.tsv", "heldout2.tsv"])
def test_heldout_accuracy_report(name: str) -> None:
    """Sets written after tuning, reported to show how the grammars generalise.

    heldout.tsv was measured once (intent 42.1%, slots 75.0%) and the grammars were
    then improved with general rules, so it is no longer held out; heldout2.tsv was
    written after that and measured once (intent 84.0%, slots 96.6%); its one missed
    opt-out ("don't ever call here again") was then fixed, because a missed revocation
    is a compliance failure. Nothing else was tuned on it.
    """
    rows = load(name)
    result = score(rows)
    print(f"\nNLU {name}: {len(rows)} utterances; intent "
          f"{result.intent_right}/{result.intent_total} = {result.intent_accuracy:.1%}; slots "
          f"{result.slot_right}/{result.slot_total} = {result.slot_accuracy:.1%}")
    for miss in result.misses:
        print("  miss:", miss)
    assert result.intent_total + result.slot_total == len(rows)


def test_opt_out_words_from_standards_all_count() -> None:
    for word in ("stop", "quit", "end", "revoke", "opt out", "unsubscribe"):
        assert "opt_out" in understand(word).intents, word
    assert understand("cancel").intents == frozenset({"cancel_ambiguous"})


def test_appointment_words_are_not_opt_outs() -> None:
    for text in ("I'll stop by at noon", "the end of the week", "cancel my appointment",
                 "I need to cancel the appointment", "no"):
        assert "opt_out" not in understand(text).intents, text


def test_asr_noise_is_ignored() -> None:
    assert parse_slot("dob", "Um, uh... MARCH 5TH, 1980!", NOW) == dt.date(1980, 3, 5)
    assert "affirm" in understand("Uh, YEAH.").intents


def test_relative_dates_follow_now() -> None:
    later = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.UTC)  # a Wednesday
    pref = parse_slot("date_pref", "tomorrow", later)
    assert pref is not None
    assert pref.date == dt.date(2026, 12, 3)


def test_two_digit_birth_year_is_never_in_the_future() -> None:
    assert parse_slot("dob", "3/5/30", NOW) == dt.date(1930, 3, 5)
    assert parse_slot("dob", "3/5/19", NOW) == dt.date(2019, 3, 5)


@pytest.mark.parametrize(("said", "dob"), [
    ("Marks Fifth 1980.", dt.date(1980, 3, 5)),  # Whisper base on a G.711 "March fifth"
    ("Marsh the fifth, nineteen eighty", dt.date(1980, 3, 5)),
    ("Julie 4th 1975", dt.date(1975, 7, 4)),
    ("Mark, fifth of June 1980", dt.date(1980, 6, 5)),  # a month named wins
    ("maybe the 5th, 1980", None),  # May is never guessed
    ("number 5 1980", None),
    ("Marks fifth", None),  # a date of birth needs its year
])
def test_a_misheard_month_counts_in_a_date_of_birth_only(said: str, dob: dt.date | None
                                                         ) -> None:
    """Before, "Marks Fifth 1980" was no date: the agent refused the date of birth three
    times and the call went to a person (bench/concurrent_calls.py, 48 calls)."""
    assert parse_slot("dob", said, NOW) == dob


def test_a_misheard_month_is_no_month_in_other_dates() -> None:
    assert parse_slot("date", "Marks fifth", NOW) is None
    assert parse_slot("date_pref", "Julie fourth", NOW) is None


def test_impossible_dates_are_refused() -> None:
    assert parse_slot("dob", "February thirtieth 1980", NOW) is None
    assert parse_slot("dob", "13/45/1980", NOW) is None
    assert parse_slot("dob", "March fifth", NOW) is None  # a birth date needs its year


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60), kind=st.sampled_from(sorted(SLOT_TYPES)))
def test_parsers_never_raise_and_are_deterministic(text: str, kind: str) -> None:
    assert parse_slot(kind, text, NOW, options=3) == parse_slot(kind, text, NOW, options=3)
    assert understand(text) == understand(text)


def test_issue12_categories_tuned_all_right_and_held_out_reported() -> None:
    tuned = category_accuracy("issue12_tuned.tsv")
    held = category_accuracy("issue12_heldout.tsv")
    assert set(tuned) == set(held) == {"identity", "question", "dob", "reschedule",
                                       "cancel_optout", "decline", "intake_name", "insurer",
                                       "screening", "not_a_name", "hold",
                                       "offer_choice", "yes_no_mixed", "ask_bot",
                                       "refill_reply", "faq", "emergency"}
    assert {c: wrong for c, (_r, _t, wrong) in tuned.items() if wrong} == {}
    right = sum(r for r, _t, _w in held.values())
    total = sum(t for _r, t, _w in held.values())
    print(f"\nissue 12 held-out: {right}/{total} = {right / total:.1%}")
    assert right / total >= 0.85  # a floor, not a target: the held-out split is never tuned


@pytest.mark.parametrize("said", ["no sé", "¿por qué?", "un momento", "espere"])
def test_a_spanish_non_answer_is_no_name(said: str) -> None:
    assert parse_slot("name", to_canonical(said), NOW) is None


def test_a_spanish_name_is_still_a_name() -> None:
    assert parse_slot("name", to_canonical("me llamo Ana Ejemplo"), NOW) == "Ana Ejemplo"
    assert parse_slot("name", to_canonical("Luis Prueba"), NOW) == "Luis Prueba"
