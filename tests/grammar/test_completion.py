"""Grammar-aware end of turn: verdicts on partial transcripts (vectors, fixed ``now``)."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.grammar.completion import Completion, completion
from agent.workflow.effects import Expectation

NOW = dt.datetime(2026, 12, 5, 10, 0)
C, INC, U = Completion.COMPLETE, Completion.INCOMPLETE, Completion.UNKNOWN

VECTORS = [
    # a full date of birth ends the turn; its beginnings do not
    ("dob", (), "March fifth, nineteen eighty.", C),
    ("dob", (), "It's 3 5 1980", C),
    ("dob", (), "My date of birth is", INC),
    ("dob", (), "My date of birth is...", INC),
    ("dob", (), "March", INC),
    ("dob", (), "March fifth,", INC),
    ("dob", (), "March fifth.", INC),  # parses (year guessed), but no year said yet
    ("dob", (), "This is March fifth", INC),
    ("dob", (), "03/05/80", C),
    ("dob", (), "March fifth, nineteen", INC),  # the parser alone reads 2019 here
    ("dob", (), "August ninth two thousand", INC),
    ("dob", (), "I don't know", U),
    # its year said, a date of birth is over even when misheard: the turn need not wait
    # for more words, only for the second pass ("March fifth, nineteen eighty." over G.711)
    ("dob", (), "Mark Spiff 1980", U),
    ("dob", (), "Mark Spiff, 1980.", U),
    ("dob", (), "Mark Spiff", INC),  # no year yet: the caller may go on
    ("dob", (), "Mark Spiff, 1980,", INC),  # trails off
    # yes/no: the answer ends the turn unless more is announced
    ("yes_no", (), "Yes.", C),
    ("yes_no", (), "No, not really.", C),
    ("yes_no", (), "Yes but", INC),
    ("yes_no", (), "Yeah, I", INC),
    ("yes_no", (), "Um,", INC),
    ("yes_no", (), "Uh", INC),
    # digits and times of full length
    ("phone", (), "five five five zero one zero zero one two three", C),
    ("phone", (), "five five five, zero one zero zero", INC),
    ("zip", (), "nine oh two one oh", C),
    ("zip", (), "nine oh", INC),
    ("time", (), "three thirty", C),
    ("time", (), "at", INC),
    ("number", (), "Seven.", C),
    ("number", (), "About", INC),
    # intents only (no slot): an expected intent completes; free text is not judged
    (None, ("affirm",), "Yes, speaking.", C),
    (None, ("affirm",), "Yes it is", C),
    (None, ("affirm",), "Who is this?", U),
    ("text", (), "I have a headache", U),
    ("text", (), "I have a headache and", INC),
    ("dob", (), "", U),
]


@pytest.mark.parametrize(("slot", "intents", "text", "want"), VECTORS)
def test_completion_vectors(slot: str | None, intents: tuple[str, ...], text: str,
                            want: Completion) -> None:
    assert completion(text, NOW, slot_type=slot, intents=intents) is want


def test_expectation_gives_the_verdict_of_its_slot() -> None:
    dob = Expectation((), "dob", (), ())
    assert dob.completion("march fifth nineteen eighty", NOW) is C
    assert dob.completion("my date of birth is", NOW) is INC
    # the old boolean predicate still accepts the year prefix (kept for turn_end: silence)
    assert dob.is_complete("march fifth nineteen", NOW)
    assert dob.completion("march fifth nineteen", NOW) is INC
