"""Names compared by sound: speech recognition writes "Mary" as "Merry" (the CI failure of
stop 20: the careful second pass wrote the synthetic patient's name that way, and the
step-up identity check refused her). Pairs here were used to write the rules; the two
held-out files were not (scores reported by the last test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.grammar.phonetic import sound_key, sounds_like
from agent.grammar.slots import name, names_match
from carrier.edits import edit_distance

HERE = Path(__file__).parent
SAME = [("Mary", "Merry"), ("Mary", "Marie"), ("Jon", "John"), ("Smith", "Smyth"),
        ("Catherine", "Katherine"), ("Steven", "Stephen"), ("Sarah", "Sara"),
        ("Philip", "Phillip"), ("Geoff", "Jeff"), ("Ann", "Anne"), ("Bryan", "Brian"),
        ("Karen", "Caren"), ("Claire", "Clare"), ("Erik", "Eric"), ("Alan", "Allen"),
        ("Mcdonald", "Macdonald"), ("Howard", "Haward"), ("Lopez", "Lopes")]
DIFFER = [("Mary", "Moore"), ("Mary", "Marrow"), ("Mary", "Mark"), ("Ben", "Ken"),
          ("Smith", "Smart"), ("Smith", "Jones"), ("Smith", "Schmidt"),
          ("Yolanda", "Jolanda")]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_spellings_of_one_name_sound_alike(a: str, b: str) -> None:
    assert sounds_like(a, b)
    assert sounds_like(b, a)


@pytest.mark.parametrize(("a", "b"), DIFFER)
def test_different_names_do_not(a: str, b: str) -> None:
    assert not sounds_like(a, b)


def test_sound_keys() -> None:
    assert sound_key("Mary") == sound_key("Merry") == "mra"
    assert sound_key("Catherine") == "ktrn"
    assert sound_key("Knight") == sound_key("Night") == "nt"
    assert sound_key("") == sound_key("--") == ""
    assert edit_distance("mary", "merry") == 2
    assert edit_distance("", "abc") == 3
    assert edit_distance("us-esat", "us-east") == 1  # a swap of neighbours is one edit


def test_the_step_up_name_check_hears_a_homophone_of_the_name() -> None:
    assert names_match("Merry Smith.", "Mary", "Smith")
    assert names_match("It's Marie Smyth", "Mary", "Smith")
    assert names_match("mary smith", "Mary", "Smith")
    assert names_match("marysmith", "Mary", "Smith")
    assert names_match("Merry", "Mary", None)


def test_the_step_up_name_check_still_refuses_another_name() -> None:
    assert not names_match("Moore Smith", "Mary", "Smith")
    assert not names_match("Mary Jones", "Mary", "Smith")
    assert not names_match("Smith", "Mary", "Smith")
    assert not names_match("", "Mary", "Smith")


@pytest.mark.parametrize(("said", "first", "last"), [
    ("Maria De La Cruz", "Maria", "De La Cruz"),  # a last name of several words
    ("Maria Dela Cruz", "Maria", "De La Cruz"),
    ("Anna Smith-Jones", "Anna", "Smith-Jones"),  # hyphenated, said or written apart
    ("Anna Smith Jones", "Anna", "Smith-Jones"),
    ("Sean O Brien", "Sean", "O'Brien"),
    ("Sean OBrien", "Sean", "O'Brien"),
    ("Mary Ann Smith", "Mary Ann", "Smith"),  # a first name of two words
    ("Maryann Smith", "Mary Ann", "Smith"),
    ("Jose Garcia", "José", "García"),  # accents the recogniser dropped, or wrote
    ("José García", "Jose", "Garcia"),
    ("Zoë Müller", "Zoe", "Muller"),
])
def test_names_of_several_words_hyphens_apostrophes_and_accents_match(
        said: str, first: str, last: str) -> None:
    """Before: a record's "De La Cruz", "Smith-Jones" or "Mary Ann" never matched (each
    part had to be one said word), and "José García" was no name at all to the parser."""
    parsed = name(said)
    assert parsed is not None
    assert names_match(parsed, first, last)


@pytest.mark.parametrize(("said", "first", "last"), [
    ("Anna Jones", "Anna", "Smith-Jones"),  # half of the last name
    ("Maria Cruz", "Maria", "De La Cruz"),
    ("Ann Smith", "Mary Ann", "Smith"),
    ("Jose Gomez", "José", "García"),
])
def test_part_of_a_name_is_not_the_name(said: str, first: str, last: str) -> None:
    assert not names_match(said, first, last)


def score(name: str) -> tuple[int, int, list[tuple[str, str, str]]]:
    right, total, misses = 0, 0, []
    for line in (HERE / name).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        a, b, expected = line.split("\t")
        got = "same" if sounds_like(a, b) else "differ"
        total += 1
        right += got == expected
        if got != expected:
            misses.append((a, b, expected))
    return right, total, misses


@pytest.mark.parametrize("name", ["phonetic_heldout.tsv", "phonetic_heldout2.tsv"])
def test_heldout_score_report(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Held-out pairs, reported, not tuned to: phonetic_heldout.tsv scored 36/50 when first
    measured (the rules were then changed on its misses, so it is held out no more);
    phonetic_heldout2.tsv was written after that and scored once: 35/50. Most misses are
    names that differ only in a vowel ("Hill"/"Hall"), which the key ignores on purpose
    ("Mary"/"Merry" differ only in a vowel too). The floor catches a broken matcher."""
    right, total, misses = score(name)
    with capsys.disabled():
        print(f"\n{name}: {right}/{total} right; misses {misses}")
    assert total == 50
    assert right >= 30
