"""Patients' yes, no, unsure, cancel, move and stop; numbers as digits or words; a date of
birth said day first (round 4).

Before: "25/03/1980" and "25.03.1980" were no date of birth at all (numeric dates are read
month first, and 25 is no month), so a caller who writes dates day first was asked again
until they were handed to staff; "I couldn't tell you" was no "don't know"; "I can't make
it, please cancel" was a no and a move; "can I change the time" was nothing. Now a numeric
date that can only be day first is read so, and those phrasings are heard. The held-out
split (``conv4_heldout.tsv``) was written before these changes and is only reported.
"""

from __future__ import annotations

import datetime as dt

import pytest

from agent.grammar import parse_slot
from tests.grammar.corpus import NOW, tuned_right_held_out_share

CATEGORIES = {"yesno", "unsure", "cancel", "reschedule", "optout", "digits", "dob_dm"}


def test_round4_tuned_all_right_and_held_out_reported() -> None:
    right, total = tuned_right_held_out_share("conv4_tuned.tsv", "conv4_heldout.tsv", CATEGORIES)
    print(f"\nround-4 phrasings held-out: {right}/{total} = {right / total:.1%}")
    assert right / total >= 0.8  # a floor, not a target: the held-out split is never tuned


@pytest.mark.parametrize(("said", "born"), [
    ("03/04/1980", dt.date(1980, 3, 4)),  # both could be a month: US order, as before
    ("12/11/1980", dt.date(1980, 12, 11)),
    ("31/12/1979", dt.date(1979, 12, 31)),
    ("13/13/1980", None),  # no month either way
])
def test_numeric_dates_stay_month_first_unless_only_day_first_is_a_date(
        said: str, born: dt.date | None) -> None:
    assert parse_slot("dob", said, NOW) == born


@pytest.mark.parametrize(("said", "born"), [
    ("March 3rd, 1980. no sorry, March 4th", dt.date(1980, 3, 4)),
    ("the fifth of March 1980, wait, the sixth of March", dt.date(1980, 3, 6)),
    ("3/5/1980, I mean 3/6", dt.date(1980, 3, 6)),
    ("March 3rd 1980, no, March 4th 1981", dt.date(1981, 3, 4)),  # a whole correction
    ("March 3rd 1980, sorry", dt.date(1980, 3, 3)),  # nothing after the "sorry"
])
def test_a_date_of_birth_corrected_without_its_year_keeps_the_year(
        said: str, born: dt.date) -> None:
    """Before: the corrected day without the year was not a whole date, so the date
    first said (the wrong one) was kept: a caller who corrected themselves failed
    verification, or had the wrong date of birth stored at intake."""
    assert parse_slot("dob", said, NOW) == born
