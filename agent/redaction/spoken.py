"""Spoken-form recognisers for redaction: digit runs, spelled IDs and dates said in words.

Works on word tokens that keep their character offsets, so a span found in
"my number is five five five, oh one two three" maps back to the original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.grammar.dates import MONTHS
from agent.grammar.numbers import DIGIT_WORDS, ORDINALS, TENS, UNITS
from agent.grammar.slots import LETTER_WORDS, NATO

_TOKEN = re.compile(r"(?i:x-ray)|[A-Za-z0-9]+(?:'[A-Za-z]+)?")


@dataclass(frozen=True)
class Tok:
    text: str  # lowercase
    raw: str
    start: int
    end: int


def tokenize(text: str) -> list[Tok]:
    return [Tok(m.group(0).lower(), m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


_STRONG_DIGITS = {k: v for k, v in DIGIT_WORDS.items() if k not in ("to", "too", "for", "o")}


def _digit_value(tok: str) -> str | None:
    if tok in _STRONG_DIGITS:
        return _STRONG_DIGITS[tok]
    if tok.isdigit():
        return tok
    if tok in TENS:
        return str(TENS[tok])
    if tok in UNITS and UNITS[tok] >= 10:
        return str(UNITS[tok])
    return None


_NOT_ID_GROUPS = frozenset({"ID", "MRN", "SSN", "DOB", "PIN", "PO", "OK", "IS", "MY", "IT", "NO",
                            "ON", "IN", "AT", "TO", "OF", "AM", "PM", "VIN", "NPI", "DEA", "USA",
                            "THE", "AND", "FOR"})
_FILLERS = frozenset({"uh", "um", "er", "erm", "hmm", "uhm"})
_GAP = re.compile(r"^[\s,.\-]*$")


def digit_runs(toks: list[Tok], text: str, *, min_digits: int = 4) -> list[tuple[int, int, str]]:  # noqa: PLR0912 - one branch per spoken digit form
    """(first token, last token, digits) for runs of spoken or written digits.

    A run stops at punctuation other than pauses (",", ".", "-"), so "3/5/1980" is not
    read as one seven-digit number.
    """
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(toks):
        digits = ""
        j = i
        last = -1
        while j < len(toks):
            tok = toks[j].text
            if j > i and not _GAP.match(text[toks[j - 1].end:toks[j].start]):
                break
            if tok in _FILLERS and digits and j + 1 < len(toks) and _digit_value(toks[j + 1].text):
                j += 1  # "five five five, uh, oh one four four"
                continue
            if tok in ("double", "triple") and j + 1 < len(toks) and _digit_value(toks[j + 1].text):
                digits += (_digit_value(toks[j + 1].text) or "") * (2 if tok == "double" else 3)
                last = j + 1
                j += 2
                continue
            value = _digit_value(tok)
            if value is None and tok in ("o", "to", "too", "for") and digits and j + 1 < len(
                    toks) and _digit_value(toks[j + 1].text):
                value = DIGIT_WORDS[tok]
            if value is None:
                if tok == "hundred" and digits:
                    value = "00"
                elif tok == "dash" and digits:
                    j += 1
                    continue
                else:
                    break
            if tok in TENS and j + 1 < len(toks) and toks[j + 1].text in UNITS and 0 < UNITS[
                    toks[j + 1].text] < 10:
                value = str(TENS[tok] + UNITS[toks[j + 1].text])
                j += 1
            digits += value
            last = j
            j += 1
        if last >= i and len(digits) >= min_digits:
            out.append((i, last, digits))
            i = last + 1
        else:
            i += 1
    return out


def _id_piece(tok: Tok) -> str | None:  # noqa: PLR0911 - one exit per spelling form
    t = tok.text
    if t in NATO:
        return NATO[t]
    if t in LETTER_WORDS and t not in ("you", "are", "be", "see", "why", "eye", "tea", "sea"):
        return LETTER_WORDS[t]
    if len(t) == 1 and t.isalpha() and t not in ("a", "i"):
        return t.upper()
    if len(t) == 1 and t in ("a", "i") and tok.raw.isupper():
        return t.upper()
    if t in _STRONG_DIGITS:
        return _STRONG_DIGITS[t]
    if re.fullmatch(r"[a-z0-9]+", t) and any(c.isdigit() for c in t):
        return t.upper()
    if re.fullmatch(r"[A-Z]{2,4}", tok.raw) and tok.raw not in _NOT_ID_GROUPS:
        return tok.raw  # a letter group read as written: "YYC 555 000 111"
    return None


def spelled_id(toks: list[Tok], start: int) -> tuple[int, int, str] | None:
    """An ID read out from ``toks[start:]``: letters, NATO words, "X as in Y", digits."""
    i = start
    pieces = ""
    last = -1
    while i < len(toks):
        t = toks[i].text
        if (i + 3 < len(toks) + 1 and i + 2 < len(toks) and toks[i + 1].text in ("as", "like")
                and toks[i + 2].text == "in" and len(t) == 1):
            pieces += t.upper()
            last = min(i + 3, len(toks) - 1)
            i += 4
            continue
        if t in ("double", "triple") and i + 1 < len(toks):
            piece = _id_piece(toks[i + 1])
            if piece:
                pieces += piece * (2 if t == "double" else 3)
                last = i + 1
                i += 2
                continue
        if t == "dash" and pieces:
            i += 1
            continue
        piece = _id_piece(toks[i])
        if piece is None:
            break
        pieces += piece
        last = i
        i += 1
    if last < start or len(pieces) < 4:
        return None
    return start, last, pieces


_ORDINAL_DIGITS = re.compile(r"^(\d{1,2})(st|nd|rd|th)?$")


def _day_at(toks: list[Tok], i: int) -> int:
    """Tokens used by a day of month at ``i`` (0 when none)."""
    if i >= len(toks):
        return 0
    t = toks[i].text
    if _ORDINAL_DIGITS.match(t) and 1 <= int(_ORDINAL_DIGITS.match(t).group(1)) <= 31:  # type: ignore[union-attr]
        return 1
    if t in ("twenty", "thirty") and i + 1 < len(toks) and (
            toks[i + 1].text in ORDINALS or toks[i + 1].text in UNITS):
        return 2
    if t in ORDINALS or (t in UNITS and 1 <= UNITS[t] <= 31) or t in ("twenty", "thirty",
                                                                       "twentieth", "thirtieth"):
        return 1
    return 0


def _year_at(toks: list[Tok], i: int) -> int:  # noqa: PLR0911 - one exit per spoken year form
    if i >= len(toks):
        return 0
    t = toks[i].text
    if re.fullmatch(r"\d{2}|\d{4}", t):
        return 1
    if t in ("nineteen", "twenty", "eighteen") and i + 1 < len(toks):
        n = toks[i + 1].text
        if n in ("oh", "o", "zero") and i + 2 < len(toks) and toks[i + 2].text in UNITS:
            return 3
        if n in TENS:
            return 3 if i + 2 < len(toks) and toks[i + 2].text in UNITS and UNITS[
                toks[i + 2].text] < 10 else 2
        if n in UNITS:
            return 2
    if t == "two" and i + 1 < len(toks) and toks[i + 1].text == "thousand":
        used = 2
        if i + 2 < len(toks) and toks[i + 2].text == "and":
            used += 1
        if i + used < len(toks) and (toks[i + used].text in UNITS or toks[i + used].text in TENS):
            used += 1
        return used
    if t in TENS:
        return 2 if i + 1 < len(toks) and toks[i + 1].text in UNITS and UNITS[
            toks[i + 1].text] < 10 else 1
    return 0


def spoken_dates(toks: list[Tok]) -> list[tuple[int, int]]:
    """Token ranges of dates: "March fifth nineteen eighty", "the 5th of March", "March 5"."""
    out: list[tuple[int, int]] = []
    for i, tok in enumerate(toks):
        if tok.text not in MONTHS or (tok.text in ("may", "march", "sat", "sun", "wed", "dec",
                                                    "jan", "mar", "jun", "aug", "sept", "sep")
                                      and not _looks_like_date_after(toks, i)
                                      and not _looks_like_day_before(toks, i)):
            continue
        j = i + 1
        if j < len(toks) and toks[j].text == "the":
            j += 1
        used = _day_at(toks, j)
        if used:
            end = j + used
            year = _year_at(toks, end)
            out.append((_year_before(toks, i) if not year else i, end + year - 1))
            continue
        k = i - 1
        if k >= 0 and toks[k].text == "of":
            k -= 1
        day_start = _day_start_before(toks, k)
        if day_start is not None:
            year = _year_at(toks, i + 1)
            out.append((day_start, i + year))
    return out


def _year_before(toks: list[Tok], i: int) -> int:
    """Start of a year said just before the month ("nineteen ninety two, July 14th")."""
    for k in range(max(0, i - 4), i):
        if _year_at(toks, k) == i - k:
            return k
    return i


def _looks_like_date_after(toks: list[Tok], i: int) -> bool:
    j = i + 1
    if j < len(toks) and toks[j].text == "the":
        j += 1
    return _day_at(toks, j) > 0 and not (toks[i].text == "may" and j < len(toks)
                                         and toks[j].text in UNITS and toks[j].text != "one"
                                         and i > 0 and toks[i - 1].text in ("i", "you", "we"))


def _looks_like_day_before(toks: list[Tok], i: int) -> bool:
    k = i - 1
    if k >= 0 and toks[k].text == "of":
        k -= 1
    return _day_start_before(toks, k) is not None


def _day_start_before(toks: list[Tok], k: int) -> int | None:
    if k < 0:
        return None
    t = toks[k].text
    if t in ORDINALS or re.fullmatch(r"\d{1,2}(st|nd|rd|th)", t):
        if k >= 1 and toks[k - 1].text in ("twenty", "thirty"):
            return k - 1
        return k
    if re.fullmatch(r"\d{1,2}", t) and 1 <= int(t) <= 31:
        return k
    return None
