"""A run of thousands of digits does not make the Spanish number reader raise.

Before: ``parse_number`` turned every digit word into an int with ``int(word)``; past
4300 digits Python's int-from-string limit raised ValueError, out of the grammar, out of
the webchat turn or the SMS handler. Now a digit word too long to be any number a patient
says (a date, a time, an amount) is no number: the run is read as nothing, never raises."""

from __future__ import annotations

import pytest

from agent.grammar import understand
from agent.grammar.es import to_canonical
from agent.grammar.es.numbers import number_runs, parse_number


@pytest.mark.parametrize("digits", [4301, 5000, 40_000])
def test_a_long_digit_run_is_read_without_raising(digits: int) -> None:
    word = "7" * digits
    assert parse_number([word]) is None
    assert number_runs(["el", word, "de", "mayo"]) == []
    canonical = to_canonical(f"mi número es {word} por favor")
    understand(canonical)  # reads on, no ValueError


def test_ordinary_numbers_still_read() -> None:
    assert parse_number(["mil", "novecientos", "ochenta"]) == 1980
    assert parse_number(["1980"]) == 1980
    assert number_runs(["el", "5", "de", "mayo"]) == [(1, 2, 5)]
