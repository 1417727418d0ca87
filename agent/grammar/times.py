"""Times of day: "three thirty p m", "3:30pm", "half past two", "noon", "quarter to four".

A time said without a.m./p.m. is read as clinic hours: 1-6 o'clock is afternoon,
7-11 is morning, 12 is noon.
"""

from __future__ import annotations

import datetime as dt
import re

from agent.grammar.normalize import clean
from agent.grammar.numbers import TENS, UNITS

_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?|am|pm)?\b")
_AM = ("am", "a m", "a.m.", "a.m", "in the morning", "morning")
_PM = ("pm", "p m", "p.m.", "p.m", "in the afternoon", "in the evening", "at night", "afternoon",
       "evening", "tonight")


def _meridiem(rest: str) -> str | None:
    rest = " " + rest.strip() + " "
    for word in _AM:
        if f" {word} " in rest or rest.strip().startswith(word):
            return "am"
    for word in _PM:
        if f" {word} " in rest or rest.strip().startswith(word):
            return "pm"
    return None


def _to_24h(hour: int, minute: int, meridiem: str | None) -> dt.time | None:
    if not (0 <= minute < 60) or not (0 <= hour <= 23):
        return None
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    elif meridiem is None and 1 <= hour <= 6:
        hour += 12
    return dt.time(hour, minute)


def _word_number(tok: str) -> int | None:
    if tok.isdigit():
        return int(tok)
    if tok in UNITS:
        return UNITS[tok]
    return TENS.get(tok)


def parse_time(text: str) -> dt.time | None:
    cleaned = clean(text).replace("o'clock", "oclock").replace("o clock", "oclock")
    if re.search(r"\b(noon|midday)\b", cleaned):
        return dt.time(12, 0)
    if re.search(r"\bmidnight\b", cleaned):
        return dt.time(0, 0)
    toks = cleaned.split()
    for i in range(len(toks)):
        rel = _relative(toks, i)
        if rel is not None:
            return rel
    m = _CLOCK.search(cleaned)
    if m and (m.group(2) or m.group(3) or "oclock" in cleaned or "at" in toks):
        meridiem = None
        if m.group(3):
            meridiem = "am" if m.group(3).startswith("a") else "pm"
        else:
            meridiem = _meridiem(cleaned[m.end():])
        return _to_24h(int(m.group(1)), int(m.group(2) or 0), meridiem)
    for i, tok in enumerate(toks):
        hour = _word_number(tok)
        if hour is None or not 1 <= hour <= 12:
            continue
        minute, used = _minutes(toks, i + 1)
        rest = " ".join(toks[i + 1 + used:])
        meridiem = _meridiem(rest)
        has_marker = used > 0 or meridiem is not None or rest.startswith("oclock") or (
            i > 0 and toks[i - 1] in ("at", "around", "about", "by"))
        if has_marker:
            return _to_24h(hour, minute, meridiem)
    return None


def _minutes(toks: list[str], i: int) -> tuple[int, int]:  # noqa: PLR0911 - one exit per minute form
    if i >= len(toks):
        return 0, 0
    tok = toks[i]
    nxt = toks[i + 1] if i + 1 < len(toks) else ""
    if tok in ("oh", "o") and nxt in UNITS and UNITS[nxt] < 10:
        return UNITS[toks[i + 1]], 2
    if tok in TENS:
        value = TENS[tok]
        if value >= 60:
            return 0, 0
        if i + 1 < len(toks) and toks[i + 1] in UNITS and 0 < UNITS[toks[i + 1]] < 10:
            return value + UNITS[toks[i + 1]], 2
        return value, 1
    if tok in UNITS and 10 <= UNITS[tok] < 20:
        return UNITS[tok], 1
    if re.fullmatch(r"\d{2}", tok) and int(tok) < 60:
        return int(tok), 1
    return 0, 0


def _relative(toks: list[str], i: int) -> dt.time | None:
    """"half past two", "quarter past three", "quarter to four", "ten past nine"."""
    tok = toks[i]
    if tok == "half" and i + 2 < len(toks) and toks[i + 1] == "past":
        offset = 30
        hour_tok = i + 2
    elif tok == "quarter" and i + 2 < len(toks) and toks[i + 1] in ("past", "after", "to", "til"):
        offset = 15 if toks[i + 1] in ("past", "after") else -15
        hour_tok = i + 2
    elif _word_number(tok) in (5, 10, 20, 25) and i + 2 < len(toks) and toks[i + 1] in (
        "past", "after", "to", "til"
    ):
        minutes = _word_number(tok) or 0
        offset = minutes if toks[i + 1] in ("past", "after") else -minutes
        hour_tok = i + 2
    else:
        return None
    hour = _word_number(toks[hour_tok])
    if hour is None or not 1 <= hour <= 12:
        return None
    meridiem = _meridiem(" ".join(toks[hour_tok + 1:]))
    base = _to_24h(hour, 0, meridiem)
    if base is None:
        return None
    total = base.hour * 60 + offset
    return dt.time((total // 60) % 24, total % 60)
