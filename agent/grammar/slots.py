"""Typed slot values: digits, phone numbers, member IDs, names, carriers, choices.

Every parser takes cleaned or raw text and returns a value or None; none raise.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

# The name reader lives in agent.grammar.names; its names stay importable from here.
from agent.grammar.names import LETTER_WORDS, NATO, name
from agent.grammar.normalize import clean
from agent.grammar.numbers import DIGIT_WORDS, cardinal, digit_run
from agent.grammar.phonetic import fold, sounds_like
from agent.grammar.times import parse_time

__all__ = ["LETTER_WORDS", "NATO", "choice", "digits", "member_id", "name", "names_match",
           "number", "offered_times", "phone"]

_ID_LEAD = frozenset({"my", "member", "id", "i.d", "i.d.", "number", "is", "it's", "its", "it",
                      "the", "numbers", "policy", "subscriber", "okay", "ok", "yes", "sure",
                      "that's", "thats", "card", "says", "on", "reads", "so"})


def digits(text: str, *, min_len: int = 1) -> str | None:
    """The longest digit run in the utterance ("five five five, oh one two three")."""
    toks = clean(text).replace(",", " ").split()
    best = ""
    i = 0
    while i < len(toks):
        run, used = digit_run(toks, i)
        if len(run) > len(best):
            best = run
        i += max(used, 1)
    return best if len(best) >= min_len else None


def phone(text: str) -> str | None:
    """A ten-digit NANP number (a leading 1 or +1 is dropped)."""
    found = digits(text.replace("+", " "), min_len=10)
    if found is None:
        return None
    if len(found) == 11 and found.startswith("1"):
        found = found[1:]
    return found if len(found) == 10 else None


# A bound or a span is no single number: "less than five", "more than ten", "at least
# seven" ("two or three", "six to eight" are two numbers).
_BOUND = re.compile(r"\b(?:less|fewer|more|under|over|below|above|at least|at most|up to|"
                    r"no more than|upwards of)\b")
# A number that dates something is no count: "I quit drinking 2 years ago".
_AGO = frozenset({"day", "days", "week", "weeks", "month", "months", "year", "years"})


# None of a thing: "none", "not a drop", "I don't drink", "not even one" (a count of 0).
_ZERO = re.compile(r"^(?:none|nothing|zero|nada|nil)\b|\bnot (?:a (?:drop|one|single|sip)|"
                   r"(?:even |a single )?one|any)\b|\b(?:i|we) (?:don't|dont|do not|never) "
                   r"drink\b|\bnone at all\b|\bno (?:drinks|alcohol)\b")


def number(text: str) -> int | float | None:
    """The one number said ("seven", "about 7 hours", "two hundred and five", "six and a
    half" -> 6.5, "a couple" -> 2, "none" -> 0); None for a span, a choice between two or a
    bound ("two or three", "5-6", "six to eight", "more than ten"), a vague count ("a few"),
    or two different numbers ("5 on weekends but 2 on weekdays").

    A range is asked again rather than stored as its higher end: the screening keeps what
    the patient said, and the question asked again ("please say a number") lets them pick
    one; storing 3 for "two or three" would record an answer they did not give."""
    toks = clean(text).split()
    joined = " ".join(toks)
    if re.search(r"\bnot (?:even |a single )?one\b", joined):
        return 0
    if _BOUND.search(joined) or any(re.fullmatch(r"\d+(?:\.\d+)?-\d+", t) for t in toks):
        return None
    values: set[float] = set()
    i = 0
    while i < len(toks):
        value, used = _count_at(toks, i)
        if value is None:
            i += 1
            continue
        if (i and toks[i - 1] == "or") or toks[i + used:i + used + 1] == ["or"]:
            return None  # "a drink or two": one of two, not two
        if not (toks[i + used:i + used + 1] and toks[i + used] in _AGO
                and toks[i + used + 1:i + used + 2] == ["ago"]):
            values.add(value)
        i += used
    if not values:
        return 0 if _ZERO.search(joined) else None
    if len(values) != 1:
        return None  # "a few" and "several" name no number: no value, asked again
    found = values.pop()
    return int(found) if found == int(found) else found


def _count_at(toks: list[str], i: int) -> tuple[float | None, int]:
    """A count starting at toks[i]: a cardinal, "6.5", "a couple", "a half" / "half a",
    each with "and a half" after it ("one and a half", "a drink and a half")."""
    tok = toks[i]
    value: float | None
    if re.fullmatch(r"\d+\.\d+", tok):
        value, used = float(tok), 1
    elif tok in ("a", "an") and toks[i + 1:i + 2] == ["couple"]:
        value, used = 2, 2
    elif (tok in ("a", "an") and toks[i + 1:i + 2] == ["half"]) or (
            tok == "half" and toks[i + 1:i + 2] in (["a"], ["an"])):
        return 0.5, 2
    elif tok in ("a", "an") and toks[i + 2:i + 5] == ["and", "a", "half"]:
        value, used = 1, 2  # "a drink and a half": the "and a half" is read below
    else:
        value, used = cardinal(toks, i)
        if value is None:
            return None, 0
    if toks[i + used:i + used + 3] == ["and", "a", "half"]:
        return value + 0.5, used + 3
    return value, used


def member_id(text: str) -> str | None:
    """Letters and digits read out: "Z Z X one two three", "A as in apple, 4 5 6", "zzx123"."""
    raw = clean(text).replace(",", " ").replace("-", " ")
    raw = re.sub(r"\bx ray\b", "xray", raw)
    raw = re.sub(r"\b(\w)\s+(?:as|like)\s+in\s+\w+", r"\1", raw)
    raw = re.sub(r"\b(\w)\s+for\s+[a-z]{3,}\b", r"\1", raw)
    toks = raw.split()
    i = 0
    while i < len(toks) and toks[i] in _ID_LEAD:
        i += 1
    out: list[str] = []
    while i < len(toks):
        tok = toks[i]
        if tok in ("double", "triple") and i + 1 < len(toks):
            piece = _id_piece(toks[i + 1])
            if piece:
                out.append(piece * (2 if tok == "double" else 3))
                i += 2
                continue
        piece = _id_piece(tok) or _letter_group(toks, i)
        if piece is None:
            if out:
                break
            i += 1
            continue
        out.append(piece)
        i += 1
    value = "".join(out)
    if len(value) >= 5 and any(c.isdigit() for c in value):
        return value
    return None


# Short words that are no letters of an ID even before its digits ("it's my 123456").
_NOT_LETTERS = frozenset({"and", "then", "ah", "oh", "an", "to", "of", "no", "so", "be", "me",
                          "we", "us", "hi", "or", "but", "dash", "got", "has", "had", "was",
                          "are", "you", "see", "let", "say", "try", "ill", "im", "ive", "uh"})


def _letter_group(toks: list[str], i: int) -> str | None:
    """Letters said together before the digits: "AB 12345", "XYZ 123 456" (they were
    dropped): two or three letters right before a piece with a digit."""
    tok = toks[i]
    if not re.fullmatch(r"[a-z]{2,3}", tok) or tok in _NOT_LETTERS or tok in _ID_LEAD:
        return None
    after = _id_piece(toks[i + 1]) if i + 1 < len(toks) else None
    return tok.upper() if after is not None and any(c.isdigit() for c in after) else None


def _id_piece(tok: str) -> str | None:
    if tok in DIGIT_WORDS and tok not in ("to", "too", "for"):
        return DIGIT_WORDS[tok]
    if tok in NATO:
        return NATO[tok]
    if tok in LETTER_WORDS:
        return LETTER_WORDS[tok]
    if re.fullmatch(r"[a-z0-9]+", tok) and (len(tok) == 1 or any(c.isdigit() for c in tok)):
        return tok.upper()
    return None


def _name_words(text: str) -> list[str]:
    """Words of a name as compared: no accents ("José" = "Jose"), no apostrophes or
    periods ("O'Brien" = "OBrien"), hyphens as spaces ("Smith-Jones"), lower case."""
    folded = re.sub(r"['\u2019.]", "", fold(text))
    return re.findall(r"[^\W\d_]+", folded)


def _part_heard(part: list[str], said: list[str]) -> bool:
    """One part of the record's name (first or last, maybe several words: "Mary Ann",
    "De La Cruz") is heard: each of its words sounds like a said word, or the part run
    together sounds like a run of said words ("Maryann", "O Brien", "Dela Cruz")."""
    if all(any(sounds_like(w, s) for s in said) for w in part):
        return True
    joined = "".join(part)
    return any(sounds_like("".join(said[i:j]), joined)
               for i in range(len(said)) for j in range(i + 1, min(len(said), i + 4) + 1))


def names_match(said: str, first: str, last: str | None) -> bool:
    """Does the said name match the record? Each part of the record's name is heard
    (:func:`_part_heard`), by spelling or by sound (speech recognition writes "Mary" as
    "Merry": :func:`agent.grammar.phonetic.sounds_like`); or the whole name is said as
    one run of letters ("marysmith")."""
    said_words = _name_words(clean(said))
    parts = [_name_words(first)] + ([_name_words(last)] if last else [])
    if not said_words or not all(parts):
        return False
    return (all(_part_heard(part, said_words) for part in parts)
            or "".join(said_words) == "".join(w for part in parts for w in part))


# Offered options are read in time order: "the earliest" is the first, "the last" the last.
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4,
             "4th": 4, "fifth": 5, "5th": 5, "earliest": 1, "soonest": 1}
_LAST = ("last", "latest")
_CARDINALS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
# An ordinal followed by one of these counts something else: "the first of December", "the
# second week", "first thing in the morning", "a second opinion".
_NOT_AFTER_ORDINAL = frozenset({"of", "week", "weeks", "day", "days", "thing", "things",
                                "month", "months", "opinion", "floor", "visit", "appointment"})
# A reply that turns an option down or asks about others chooses none ("not the first
# one", "the first one is too early", "is there one later", "which one is the earliest").
_REFUSES = re.compile(r"\b(?:not|none|neither|nor|except|but|too|instead|other|another|"
                      r"different|can't|cannot|don't|doesn't|won't|isn't|dont|doesnt|wont|"
                      r"isnt|cant)\b")
_ASKS = re.compile(r"^(?:which|what|is|are|do|does|any|anything|how about one|could you|can you|"
                   r"would you|have you|when|where)\b")
# Words that may stand beside a bare number that picks an option ("three please", "let's
# do two"); any other word makes "one" a pronoun ("one in the afternoon", "one of those").
_BESIDE_NUMBER = frozenset({"um", "uh", "ok", "okay", "yes", "yeah", "sure", "please", "thanks",
                            "thank", "you", "the", "let's", "lets", "do", "go", "with", "i'll",
                            "ill", "take", "i'd", "id", "like", "want", "give", "me", "that",
                            "is", "fine", "good", "great", "works", "sounds", "perfect", "then"})


def offered_times(options: Sequence[Any]) -> tuple[dt.time | None, ...]:
    """The clock time of each offered option, read from its label ("Monday, November 23
    at 1:30 PM with ..."); None where a label has none."""
    times: list[dt.time | None] = []
    for option in options:
        label = option.get("label") if isinstance(option, Mapping) else None
        m = re.search(r"\bat (\d{1,2}(?::\d\d)? ?[AP]M)\b", label) if isinstance(label, str) \
            else None
        times.append(parse_time(m.group(1)) if m else None)
    return tuple(times)


def choice(text: str, count: int, times: Sequence[dt.time | None] = ()) -> int | None:
    """Which of ``count`` offered options (1-based): "the second one", "two", "option 3",
    or by its time ("the one o'clock", "1:30 works") when ``times`` (the options' times)
    are known. None for a reply that declines or asks ("not the first one", "is there one
    later"), where the number is not a pick ("one in the afternoon", "the first of
    December"), for a time not offered, and for a bare number that is also an offered
    hour at another place ("one" with 12:30, 1 PM and 2 PM offered: it booked 12:30;
    a digit typed, "1", stays the first: the text channel asks "Reply 1, 2 or 3")."""
    cleaned = clean(text)
    if _REFUSES.search(cleaned) or _ASKS.search(cleaned):
        return None
    said = parse_time(text) if any(times) else None
    if said is not None:
        picked = [i for i, t in enumerate(times, 1) if t == said]
        return picked[0] if len(picked) == 1 else None
    value = _choice_by_number(cleaned, count)
    words = cleaned.split()  # a number said as a word (a digit typed is a pick: "Reply 1")
    bare = any(w in _CARDINALS for w in words) and not re.search(
        r"\b(?:option|number|choice)\b", cleaned) and not any(
        w in _ORDINALS or w in _LAST for w in words)
    if value is not None and bare and any(t is not None and t.hour % 12 == value % 12
                                          and i != value for i, t in enumerate(times, 1)):
        return None
    return value


def _choice_by_number(cleaned: str, count: int) -> int | None:
    """The option an ordinal ("the second one", "the last"), "option 3" or a bare number
    ("two", "three please") picks."""
    words = cleaned.split()
    for i, word in enumerate(words):
        idx = count if word in _LAST else _ORDINALS.get(word)
        after = words[i + 1] if i + 1 < len(words) else ""
        if idx is None or after in _NOT_AFTER_ORDINAL or (i and words[i - 1] == "a"):
            continue
        return idx if 1 <= idx <= count else None
    m = re.search(r"\b(?:option|number|choice)\s+(\w+)\b", cleaned)
    if m:
        candidates = [m.group(1)]
    else:
        candidates = [w for w in words if w not in _BESIDE_NUMBER]
        if len(candidates) != 1:
            return None
    tok = candidates[0]
    value = int(tok) if tok.isdigit() else _CARDINALS.get(tok)
    return value if value is not None and 1 <= value <= count else None
