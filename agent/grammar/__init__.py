"""Deterministic understanding of what callers say: intents and typed slots.

``understand(text, now)`` gives every intent found; ``parse_slot(kind, text, now)``
gives a typed value or None. No model, no randomness: the same text and ``now``
always give the same answer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agent.grammar import slots as _slots
from agent.grammar.answers import DECLINED, cancel_or_stop, declined, frequency, screening_yes_no
from agent.grammar.carriers import CarrierLexicon, default_lexicon
from agent.grammar.dates import DatePreference, parse_date, parse_relative
from agent.grammar.intents import FAQ_INTENTS, QUESTION_INTENTS, detect, without_hold, yes_no
from agent.grammar.normalize import FILLERS, after_correction, clean
from agent.grammar.numbers import ordinal
from agent.grammar.times import parse_time

__all__ = [
    "FAQ_INTENTS", "GLOBAL_INTENTS", "INTENTS", "QUESTION_INTENTS", "SLOT_TYPES", "DatePreference",
    "Interpretation",
    "parse_slot", "understand", "yes_no",
]

# "interpreter" (little English) before "agent": both go to staff, the first says why.
GLOBAL_INTENTS = ("opt_out", "cancel_ambiguous", "interpreter", "agent", "wrong_number", "repeat")
INTENTS = frozenset({
    "affirm", "deny", "opt_out", "cancel_ambiguous", "agent", "interpreter", "repeat",
    "wrong_number",
    "reschedule", "cancel", "dont_know", "later", "done", "refill", "text_address",
    "hold", "deceased", "not_needed", "change_pharmacy", "emergency", "crisis", "proxy",
    *QUESTION_INTENTS,
})

SlotValue = str | int | bool | dt.date | dt.time | DatePreference
# ``options``: how many options were offered, or the offers themselves (their labels
# give their times: "the one o'clock" picks by time).
Options = int | Sequence[Any]


def _text(text: str, _now: dt.datetime, _opts: Options, _lex: CarrierLexicon) -> SlotValue | None:
    """Free text kept in the caller's own words (a reason for the visit), hesitations out."""
    if len(clean(text)) < 2:
        return None
    return " ".join(w for w in text.split() if w.strip(",.").lower() not in FILLERS).strip()


Parser = Callable[[str, dt.datetime, Options, CarrierLexicon], SlotValue | None]


def _make_parsers() -> dict[str, Parser]:
    return {
        "yes_no": lambda t, n, o, lex: screening_yes_no(t),
        # a screening question asking "often": "sometimes" is not yet a yes
        "yes_no_often": lambda t, n, o, lex: screening_yes_no(t, often=True),
        "frequency": lambda t, n, o, lex: frequency(t),
        "cancel_or_stop": lambda t, n, o, lex: cancel_or_stop(t),
        "dob": lambda t, n, o, lex: parse_date(t, n.date(), birth=True),
        "date": lambda t, n, o, lex: _day(t, n.date()),
        "time": lambda t, n, o, lex: parse_time(t),
        "date_pref": lambda t, n, o, lex: _preference(t, n.date()),
        "digits": lambda t, n, o, lex: _slots.digits(t),
        "phone": lambda t, n, o, lex: _slots.phone(t),
        "zip": lambda t, n, o, lex: _zip(t),
        # a count the caller will not give ("I'd rather not say how many") is declined
        "number": lambda t, n, o, lex: DECLINED if declined(t) else _slots.number(t),
        "member_id": lambda t, n, o, lex: _slots.member_id(t),
        "name": lambda t, n, o, lex: _slots.name(t),
        "carrier": lambda t, n, o, lex: lex.find(t),
        "choice": lambda t, n, o, lex: _slots.choice(
            t, o if isinstance(o, int) else len(o), () if isinstance(o, int) else
            _slots.offered_times(o)),
        "text": _text,
    }


def _day_corrected(first: dt.date, fixed: str) -> dt.date | None:
    """"March 5th 1980, sorry, the 6th": a day alone after the correction is the day of
    the date first said (the wrong day was kept)."""
    words = [w for w in clean(fixed).split() if w not in ("the", "on", "it's", "its", "no")]
    day, used = ordinal(words, 0)
    if day is None or used != len(words):
        return None
    try:
        return first.replace(day=day)
    except ValueError:  # "February 3rd, sorry, the 30th": no such date, asked again
        return None


def _day(text: str, today: dt.date) -> dt.date | None:
    """A calendar date said as one ("December 5th 26", "12/5/26") or as a day counted from
    today ("next Tuesday", "the day after tomorrow", "this Friday at 3", "the twenty-first"),
    as a rescheduling preference reads it; a span ("next week") or "the earliest" is no
    one date."""
    found = parse_date(text, today)
    if found is not None:
        return found
    pref = parse_relative(text, today)
    if pref is None or pref.days != 1 or pref.earliest or pref.later_same_day:
        return None
    return pref.date


def _preference(text: str, today: dt.date) -> DatePreference | None:
    """When the caller would come; a time said with the day and no part of it ("this
    Friday at 3") gives its part (the search offered Friday's mornings first)."""
    pref = parse_relative(text, today)
    said = parse_time(text) if pref is not None and pref.part_of_day is None else None
    if pref is None or said is None:
        return pref
    part = "morning" if said.hour < 12 else "afternoon" if said.hour < 17 else "evening"
    return dataclasses.replace(pref, part_of_day=part)


def _zip(text: str) -> str | None:
    found = _slots.digits(text, min_len=5)
    return found if found is not None and len(found) in (5, 9) else None


_PARSERS = _make_parsers()
SLOT_TYPES = frozenset(_PARSERS)
# Values a caller may correct in the same breath ("12345, no wait, 12346"): only what
# follows the last correction is read. Names, choices, yes/no and dates of birth have
# their own rules; free text keeps every word.
_CORRECTABLE = frozenset({"phone", "zip", "member_id", "carrier", "number", "digits", "time",
                          "date", "date_pref", "frequency"})


def parse_slot(
    kind: str,
    text: str,
    now: dt.datetime,
    *,
    options: Options = 0,
    lexicon: CarrierLexicon | None = None,
) -> SlotValue | None:
    """A typed value of ``kind`` from the utterance, or None when it is not there. A
    request for a moment in it ("one moment", "just a second") is no value; free text
    keeps the caller's own words. A corrected value is read from after the correction."""
    parser = _PARSERS[kind]
    said = text if kind == "text" else without_hold(text)
    if kind in _CORRECTABLE:
        said = after_correction(said)
    elif kind == "dob" and after_correction(said) != said:
        # "March 5th 1980, no wait, March 6th 1980": the corrected date when it is whole;
        # "March 3rd 1980, no sorry, March 4th": the year said once is the correction's too
        # (the wrong date first said was kept)
        fixed = after_correction(said)
        corrected = parser(fixed, now, options, default_lexicon())
        first = parser(said, now, options, default_lexicon()) if corrected is None else None
        if isinstance(first, dt.date):  # "I mean 3/6" is 3/6/1980
            year = first.year
            corrected = (parser(f"{fixed} {year}", now, options, default_lexicon())
                         or parser(f"{fixed.strip(' .,')}/{year}", now, options,
                                   default_lexicon()) or _day_corrected(first, fixed))
        if corrected is not None:
            return corrected
    return parser(said, now, options, lexicon or default_lexicon())


@dataclass(frozen=True)
class Interpretation:
    text: str
    intents: frozenset[str]


def understand(text: str) -> Interpretation:
    return Interpretation(clean(text), detect(text))
