"""Numbers as people say them: digit by digit, cardinals, ordinals.

"five five five, oh one two three" -> "5550123"; "double five" -> "55";
"twenty three" -> 23; "fifth" / "5th" -> 5.
"""

from __future__ import annotations

import re

DIGIT_WORDS: dict[str, str] = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "one": "1", "two": "2", "to": "2",
    "too": "2", "three": "3", "four": "4", "for": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "niner": "9",
}
# "to", "too", "for" are only digits inside a run of other digits (ASR homophones).
_WEAK_DIGITS = frozenset({"to", "too", "for", "o"})
UNITS: dict[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}
TENS: dict[str, int] = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}
ORDINALS: dict[str, int] = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}
_ORDINAL_DIGITS = re.compile(r"^(\d{1,2})(st|nd|rd|th)$")
MULTIPLIERS = {"double": 2, "triple": 3}


def digit_run(tokens: list[str], start: int) -> tuple[str, int]:
    """Digits spoken or written from tokens[start:]; returns (digits, tokens used).

    Accepts single digit words, digit strings, "double"/"triple" and tens words
    used as pairs ("fifty five" -> "55") as people read phone numbers.
    """
    digits: list[str] = []
    i = start
    while i < len(tokens):
        tok = tokens[i]
        if tok in MULTIPLIERS and i + 1 < len(tokens) and tokens[i + 1] in DIGIT_WORDS:
            digits.append(DIGIT_WORDS[tokens[i + 1]] * MULTIPLIERS[tok])
            i += 2
            continue
        if tok in DIGIT_WORDS:
            if tok in _WEAK_DIGITS and not digits and not _next_is_digit(tokens, i + 1):
                break
            digits.append(DIGIT_WORDS[tok])
        elif re.fullmatch(r"\d+(-\d+)*", tok):
            digits.append(tok.replace("-", ""))
        elif tok in TENS:
            value = TENS[tok]
            if i + 1 < len(tokens) and tokens[i + 1] in UNITS and 0 < UNITS[tokens[i + 1]] < 10:
                value += UNITS[tokens[i + 1]]
                i += 1
            digits.append(str(value))
        elif tok in UNITS:  # ten .. nineteen read as a pair
            digits.append(str(UNITS[tok]))
        elif tok == "hundred" and digits:
            digits.append("00")
        elif tok in ("then", "dash", "and") and digits and _next_is_digit(tokens, i + 1):
            pass  # "five five five then oh one ..."
        else:
            break
        i += 1
    return "".join(digits), i - start


def _next_is_digit(tokens: list[str], i: int) -> bool:
    return i < len(tokens) and (
        (tokens[i] in DIGIT_WORDS and tokens[i] not in _WEAK_DIGITS) or tokens[i].isdigit()
    )


def cardinal(tokens: list[str], start: int) -> tuple[int | None, int]:
    """A cardinal number below one million ("two thousand and five", "forty two", "42")."""
    i = start
    if i < len(tokens) and tokens[i].isdigit():
        return int(tokens[i]), 1
    total = 0
    current = 0
    seen = False
    last = ""  # the kind of the word before: "unit", "tens" or a scale word
    while i < len(tokens):
        tok = tokens[i]
        # "six seven", "twenty four seven", "fifty sixty": a second number, not part of
        # this one; "and" joins only after a scale ("two hundred and five", not "six and
        # seven").
        if tok in UNITS and last != "unit" and not (last == "tens" and UNITS[tok] >= 10):
            current += UNITS[tok]
            last = "unit"
        elif tok in TENS and last not in ("unit", "tens"):
            current += TENS[tok]
            last = "tens"
        elif tok == "hundred" and seen:
            current = max(current, 1) * 100
            last = "scale"
        elif tok == "thousand" and seen:
            total += max(current, 1) * 1000
            current = 0
            last = "scale"
        elif tok == "and" and last == "scale" and i + 1 < len(tokens) and (
            tokens[i + 1] in UNITS or tokens[i + 1] in TENS
        ):
            pass
        elif tok == "a" and i + 1 < len(tokens) and tokens[i + 1] in ("hundred", "thousand"):
            current = 1
            last = "unit"
        else:
            break
        seen = True
        i += 1
    if not seen:
        return None, 0
    return total + current, i - start


def ordinal(tokens: list[str], start: int) -> tuple[int | None, int]:
    """Day-of-month ordinals: "fifth", "twenty fifth", "5th", "the 5th", "5"."""
    i = start
    if i >= len(tokens):
        return None, 0
    tok = tokens[i]
    m = _ORDINAL_DIGITS.match(tok)
    if m:
        return int(m.group(1)), 1
    if tok in ORDINALS:
        return ORDINALS[tok], 1
    if tok in ("twenty", "thirty") and i + 1 < len(tokens) and tokens[i + 1] in ORDINALS:
        value = TENS[tok] + ORDINALS[tokens[i + 1]]
        return (value, 2) if value <= 31 else (None, 0)
    return None, 0
