"""Is the caller's answer finished? A judgment on an early (partial) transcript.

The endpointer transcribes what was said at each pause inside a turn; this module says
whether that text already answers what the workflow asked (end the turn now), is still
on its way to an answer (wait longer: the caller is thinking, "my date of birth is ...
March fifth ... nineteen eighty"), or cannot be judged (the ordinary silence rule).

- COMPLETE: the expected slot parses (a full date of birth, a yes/no, a time, a phone
  number or ZIP of full length, a number) or an expected intent is heard, and nothing at
  the end announces more ("yes but", "March fifth nineteen").
- INCOMPLETE: the text ends in a word that announces more (a conjunction, a preposition,
  "is", a hesitation, a trailing comma or ellipsis, a year begun but not finished), or a
  typed slot is expected and none of it is there yet ("my date of birth is", "March").
- UNKNOWN: anything else (free text, a name, "I don't know" to a date question, a date
  of birth with its year said that does not parse: misheard, not unfinished, a hedge
  that may still turn either way: "I guess ...").

Pure: text and ``now`` in, a verdict out; the same text always gives the same verdict.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from enum import Enum

from agent.grammar import GLOBAL_INTENTS, parse_slot, understand


class Completion(Enum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    UNKNOWN = "unknown"


# Words after which a speaker has not finished: conjunctions, prepositions, articles,
# possessives, a subject about to act, and hesitations. Judged on the raw last word
# (cleaning drops "uh"). Copulas are not here: "yes it is" is finished.
CONTINUATION = frozenset({
    "and", "but", "or", "because", "cause", "if", "though", "although",
    "the", "a", "an", "my", "our", "their", "your", "its",
    "it's", "that's", "i", "i'm", "we", "he", "she", "they",
    "of", "at", "on", "in", "to", "for", "with", "from", "about", "around", "by", "like",
    "um", "umm", "uh", "uhh", "uhm", "er", "erm", "hmm", "hm", "mm", "ah",
    "very", "also", "plus",
})
# A year begun but not finished ("nineteen ...", "two thousand ..."): in a date slot the
# parser reads "nineteen" as 2019, so the trailing word is checked before the parse.
# A hedge that may go either way: "I guess" is a yes, "I guess not" a no; the ordinary
# silence rule decides, never an early end.
HEDGES = frozenset({"guess", "suppose", "reckon", "imagine"})
YEAR_PREFIX = frozenset({"nineteen", "twenty", "two", "thousand", "oh", "o"})
DATE_SLOTS = frozenset({"dob", "date", "date_pref"})
FREE_SLOTS = frozenset({"text", "name"})
# Intents that answer any question (the caller wants out, a human, a repeat).
_ANY_ANSWER = frozenset(GLOBAL_INTENTS) | {"dont_know"}
_WORD = re.compile(r"[a-z0-9']+")
TRAILING = (",", "...", "\u2026", "-")  # a text ending so trails off


def _last_word(text: str) -> str:
    words = _WORD.findall(text.lower().replace("\u2019", "'"))
    return words[-1] if words else ""


_YEAR = re.compile(
    r"\b\d{4}\b|\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2}\b"
    r"|\b(eighteen|nineteen|twenty|thousand)\b", re.I)


def _has_year(text: str) -> bool:
    """A year is in the answer: four digits, a numeric date with its year, or a spoken
    year ("nineteen eighty", "two thousand one")."""
    return _YEAR.search(text.replace("\u2019", "'")) is not None


def trails_off(text: str) -> bool:
    """The text ends as one that goes on: a comma, an ellipsis or a dash."""
    return text.rstrip().endswith(TRAILING)


def as_finished(text: str) -> str:
    """The words of a turn that has ended (the caller was silent for a whole hangover): a
    trailing comma, dash or ellipsis was Whisper's guess that more was coming, and none
    came. "Yes," judged as it was (trailing off: INCOMPLETE) sent a plain yes to the
    careful second pass and its long wait; words that trail off ("yes, and") still do."""
    return text.rstrip().rstrip(",.-\u2026").rstrip()


def completion(  # noqa: PLR0911 - one exit per verdict rule
    text: str,
    now: dt.datetime,
    *,
    slot_type: str | None,
    intents: Iterable[str] = (),
) -> Completion:
    """The verdict on a partial transcript for a turn expecting ``slot_type`` or ``intents``."""
    last = _last_word(text)
    if not last:
        return Completion.UNKNOWN
    if last in CONTINUATION or trails_off(text):
        return Completion.INCOMPLETE
    if last in HEDGES:
        return Completion.UNKNOWN
    heard = understand(text).intents
    if slot_type is None or slot_type in FREE_SLOTS:
        return Completion.COMPLETE if heard & set(intents) else Completion.UNKNOWN
    if slot_type in DATE_SLOTS and last in YEAR_PREFIX:
        return Completion.INCOMPLETE
    if slot_type == "dob" and not _has_year(text):
        # "March fifth" parses (the year is guessed) but a birth date is not said until
        # its year is: the caller is usually still going ("..., nineteen eighty").
        return Completion.UNKNOWN if heard & _ANY_ANSWER else Completion.INCOMPLETE
    if parse_slot(slot_type, text, now, options=9) is not None:
        return Completion.COMPLETE
    if slot_type == "dob":
        # Its year said (checked above) and still no date: misheard, not unfinished. A
        # caller says the year last, so waiting incomplete_hangover_ms for more words
        # only delays the second pass that can fix it: base decoded one rendition of
        # "March fifth, nineteen eighty." over G.711 as "Mark Spiff 1980", and its turn
        # waited 1.3 s of silence before that pass (bench/concurrent_calls.py: p95 2.1 s
        # for the date of birth, against 0.3 s for "Yes, speaking.").
        return Completion.UNKNOWN
    # A typed answer expected and none of it there yet, unless the caller said something
    # that answers any question ("I don't know", "an agent, please").
    return Completion.UNKNOWN if heard & _ANY_ANSWER else Completion.INCOMPLETE
