"""Dates and dates of birth, written and spoken.

"March fifth nineteen eighty", "3/5/1980", "the fifth of March 1980",
"oh three oh five eighty", "1980-03-05"; and relative dates for scheduling
("tomorrow morning", "next Tuesday afternoon") resolved against ``now``.

Conventions (documented so callers and tests agree):
- numeric dates are US order (month/day/year), or day first when no month (25/03/1980);
- a two-digit year of birth is 19xx unless 20xx is not in the future;
- a bare weekday ("Tuesday", "this Tuesday") is the first such day after today;
  "next Tuesday" is the Tuesday of next week (Monday-Sunday weeks).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from agent.grammar.normalize import clauses, clean
from agent.grammar.numbers import DIGIT_WORDS, TENS, UNITS, cardinal, digit_run, ordinal
from carrier.edits import edit_distance

MONTHS: dict[str, int] = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}
_FULL_MONTHS = ("january", "february", "march", "april", "june", "july", "august",
                "september", "october", "november", "december")  # May: never guessed
WEEKDAYS: dict[str, int] = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6, "mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3, "thurs": 3,
    "fri": 4, "sat": 5, "sun": 6,
}
PARTS_OF_DAY = {"morning": "morning", "afternoon": "afternoon", "evening": "evening",
                "tonight": "evening", "lunchtime": "afternoon"}
PART_PHRASES = {"after lunch": "afternoon", "before lunch": "morning", "first thing": "morning",
                "end of the day": "afternoon", "after work": "evening"}
_NUMERIC = re.compile(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})\b")
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


@dataclass(frozen=True)
class DatePreference:
    """A caller's wish for when to come: a day, a part of the day, or both."""

    date: dt.date | None
    part_of_day: str | None
    days: int = 1  # from ``date``, this many days qualify ("anything next week": 7)
    earliest: bool = False  # "whatever's earliest": the first open time, said so
    later_same_day: bool = False  # "later that day": the appointment's day, after its time


def _year(tokens: list[str], start: int, today: dt.date, *, birth: bool) -> tuple[int | None, int]:  # noqa: PLR0911, PLR0912 - one branch per spoken year form
    """Year from "1980", "'80", "80", "nineteen eighty", "two thousand five", "twenty oh five"."""
    if start >= len(tokens):
        return None, 0
    tok = tokens[start].lstrip("'")
    if re.fullmatch(r"\d{4}", tok):
        return int(tok), 1
    if re.fullmatch(r"\d{2}", tok):
        return _century(int(tok), today, birth=birth), 1
    first = tokens[start]
    if first in ("oh", "o", "zero") and tokens[start + 1:start + 2] and UNITS.get(
            tokens[start + 1], 10) < 10:  # "oh five": '05
        return _century(UNITS[tokens[start + 1]], today, birth=birth), 2
    if first in ("nineteen", "eighteen", "twenty") and start + 1 < len(tokens):
        century = {"nineteen": 1900, "eighteen": 1800, "twenty": 2000}[first]
        if tokens[start + 1] == "and" and tokens[start + 2:start + 3] and (
                tokens[start + 2] in TENS):  # "nineteen and eighty": 1980, not 2019
            tokens = [*tokens[:start + 1], *tokens[start + 2:]]
            year, used = _year(tokens, start, today, birth=birth)
            return year, used + 1 if year is not None else 0
        nxt = tokens[start + 1]
        if nxt in ("oh", "o", "zero") and start + 2 < len(tokens) and tokens[start + 2] in UNITS:
            unit = UNITS[tokens[start + 2]]
            if unit < 10:
                return century + unit, 3
        if nxt in TENS:
            value = TENS[nxt]
            used = 2
            third = tokens[start + 2] if start + 2 < len(tokens) else ""
            if third in UNITS and UNITS[third] < 10:
                value += UNITS[tokens[start + 2]]
                used = 3
            return century + value, used
        if nxt in UNITS and UNITS[nxt] >= 10:
            return century + UNITS[nxt], 2
        if nxt == "hundred":  # "nineteen hundred (and) eighty" is 1980, not 1900
            rest = start + 3 if tokens[start + 2:start + 3] == ["and"] else start + 2
            small, used = cardinal(tokens, rest) if rest < len(tokens) else (None, 0)
            return (century + small, rest - start + used) if small and small < 100 else (
                century, 2)
    if first == "two" and start + 1 < len(tokens) and tokens[start + 1] == "thousand":
        whole, used = cardinal(tokens, start)
        if whole is not None and 2000 <= whole < 2100:
            return whole, used
    if first in TENS or (first in UNITS and UNITS[first] >= 10):
        short, used = cardinal(tokens, start)
        if short is not None and short < 100:
            return _century(short, today, birth=birth), used
    return None, 0


def _century(two_digits: int, today: dt.date, *, birth: bool) -> int:
    year = 2000 + two_digits
    if birth:
        return year if year <= today.year else year - 100
    return year if year >= today.year - 50 else year + 100


def _safe(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _next_occurrence(month: int, day: int, today: dt.date) -> dt.date | None:
    for year in (today.year, today.year + 1):
        found = _safe(year, month, day)
        if found is not None and found >= today:
            return found
    return None


def misheard_month(tok: str) -> str | None:
    """The month a word not in :data:`MONTHS` was heard for, or None: a word of four
    letters or more that begins with a month's first three letters and is at most two
    letters from its name ("marks", "marsh" for March; "julie" for July). Whisper base
    wrote one of the 8 G.711 renditions of "March fifth, nineteen eighty" that
    bench/concurrent_calls.py's phones speak as "Marks Fifth 1980", no date before: the
    caller was refused. May is never guessed (short, and a modal verb)."""
    if len(tok) < 4 or tok in MONTHS or not tok.isalpha():
        return None
    for month in _FULL_MONTHS:
        if tok[:3] == month[:3] and edit_distance(tok, month) <= 2:
            return month
    return None


def parse_date(text: str, today: dt.date, *, birth: bool = False) -> dt.date | None:
    """A calendar date; a date of birth needs a year, another date defaults to the next one.

    In a date of birth a misheard month name counts when no month is named
    (:func:`misheard_month`): the day and year must follow, and the date is checked
    against the record. A date of birth after today or more than 120 years ago is no
    value (asked again): it was misheard or misspoken, and checked against the record it
    would only count as a failed attempt."""
    found = _parse_date(text, today, birth=birth)
    if birth and found is not None and not (today.year - 120 <= found.year and found <= today):
        return None
    return found


def _parse_date(text: str, today: dt.date, *, birth: bool) -> dt.date | None:
    cleaned = clean(text)
    m = _ISO.search(cleaned)
    if m:
        return _safe(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _NUMERIC.search(cleaned)
    if m:
        year_text = m.group(3)
        year = (int(year_text) if len(year_text) == 4
                else _century(int(year_text), today, birth=birth))
        first, second = int(m.group(1)), int(m.group(2))  # day first only when month > 12
        return _safe(year, *((second, first) if first > 12 >= second else (first, second)))
    toks = [t for t in cleaned.replace(",", " ").split() if t not in ("of", "the", "on", "in")]
    if birth and not any(t in MONTHS for t in toks):
        toks = [misheard_month(t) or t for t in toks]
    for i, tok in enumerate(toks):
        if tok in MONTHS and not (tok == "may" and _is_modal_may(toks, i)):
            found = _month_first(toks, i, today, birth=birth)
            if found is not None:
                return found
        day, used = ordinal(toks, i)
        if day is None:  # "5 March", "fifteen March" (was the 19th: "nineteen" read as the day)
            day, used = _cardinal_day(toks, i)
        if day is not None and i + used < len(toks) and toks[i + used] in MONTHS and not (
                toks[i + used] == "may" and _is_modal_may(toks, i + used)):
            month = MONTHS[toks[i + used]]
            said_year, _ = _year(toks, i + used + 1, today, birth=birth)
            found = _complete(said_year, month, day, today, birth=birth)
            if found is not None:
                return found
    return _spoken_digits(toks, today, birth=birth) or _three_groups(toks, today, birth=birth)


def _three_groups(toks: list[str], today: dt.date, *, birth: bool) -> dt.date | None:
    """Month, day and year as three numbers, spoken or typed: "3 5 1980", "seven fourteen
    ninety two", "twelve one sixty five", "oh three oh five eighty"."""
    for i in range(len(toks)):
        month, used_m = _small(toks, i, 12)
        if month is None:
            continue
        day, used_d = ordinal(toks, i + used_m)
        if day is None or day > 31:
            day, used_d = _cardinal_day(toks, i + used_m) if i + used_m < len(toks) else (None, 0)
        if day is None:
            day, used_d = _small(toks, i + used_m, 31)
        if day is None:
            continue
        year, used_y = _year(toks, i + used_m + used_d, today, birth=birth)
        if year is not None and used_y and 1880 <= year <= today.year + 30:
            found = _safe(year, month, day)
            if found is not None:
                return found
    return None


def _small(toks: list[str], i: int, top: int) -> tuple[int | None, int]:
    """A month or day number: "3", "03", "three", "oh three", "twelve"."""
    if i >= len(toks):
        return None, 0
    tok = toks[i]
    if re.fullmatch(r"\d{1,2}", tok) and 1 <= int(tok) <= top:
        return int(tok), 1
    if tok in ("oh", "zero") and i + 1 < len(toks) and toks[i + 1] in UNITS:
        value = UNITS[toks[i + 1]]
        return (value, 2) if 1 <= value <= 9 else (None, 0)
    if tok in UNITS and 1 <= UNITS[tok] <= min(top, 19):
        return UNITS[tok], 1
    return None, 0


def _is_modal_may(toks: list[str], i: int) -> bool:
    nxt = toks[i + 1] if i + 1 < len(toks) else ""
    return nxt in ("i", "we", "be", "have", "you") or (i > 0 and toks[i - 1] in ("i", "you", "we"))


def _month_first(toks: list[str], i: int, today: dt.date, *, birth: bool) -> dt.date | None:
    month = MONTHS[toks[i]]
    day, used = ordinal(toks, i + 1)
    if day is None and i + 1 < len(toks):
        day, used = _cardinal_day(toks, i + 1)
    if day is None:
        return None
    year, _ = _year(toks, i + 1 + used, today, birth=birth)
    return _complete(year, month, day, today, birth=birth, toks=toks, before=i)


def _cardinal_day(toks: list[str], i: int) -> tuple[int | None, int]:
    """A day said as a cardinal: "5", "five", "twenty five" (never eats the year after it)."""
    tok = toks[i]
    if re.fullmatch(r"\d{1,2}", tok) and 1 <= int(tok) <= 31:
        return int(tok), 1
    if tok in ("twenty", "thirty"):
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if nxt in UNITS and 0 < UNITS[nxt] < 10 and TENS[tok] + UNITS[nxt] <= 31:
            return TENS[tok] + UNITS[nxt], 2
        return TENS[tok], 1
    if tok in UNITS and 1 <= UNITS[tok] <= 19:
        return UNITS[tok], 1
    return None, 0


def _complete(
    year: int | None, month: int, day: int, today: dt.date, *, birth: bool,
    toks: list[str] | None = None, before: int = 0,
) -> dt.date | None:
    if year is None and toks is not None:
        # "two thousand and five, march first": the year said first
        for j in range(before):
            found, _ = _year(toks, j, today, birth=birth)
            if found is not None and found >= 1000:
                year = found
                break
    if year is not None:
        return _safe(year, month, day)
    if birth:
        return None
    return _next_occurrence(month, day, today)


def _spoken_digits(toks: list[str], today: dt.date, *, birth: bool) -> dt.date | None:
    """"oh three oh five eighty" (MMDDYY), "zero three zero five one nine eight zero" (MMDDYYYY),
    "oh three oh five nineteen eighty" (MMDD + spoken year)."""
    for i, tok in enumerate(toks):
        if tok not in DIGIT_WORDS and not tok.isdigit() and not (tok in UNITS and UNITS[tok] >= 10):
            continue
        digits, used = _month_day_digits(toks, i)
        if len(digits) == 4:
            year, _ = _year(toks, i + used, today, birth=birth)
            if year is not None:
                found = _safe(year, int(digits[:2]), int(digits[2:]))
                if found is not None:
                    return found
        run, _ = digit_run(toks, i)
        if len(run) == 8:
            return _safe(int(run[4:]), int(run[:2]), int(run[2:4]))
        if len(run) == 6:
            return _safe(_century(int(run[4:]), today, birth=birth), int(run[:2]), int(run[2:4]))
        return None
    return None


def _month_day_digits(toks: list[str], start: int) -> tuple[str, int]:
    out = ""
    i = start
    while i < len(toks) and len(out) < 4:
        tok = toks[i]
        if tok in DIGIT_WORDS:
            out += DIGIT_WORDS[tok]
        elif tok in UNITS and UNITS[tok] >= 10 and len(out) % 2 == 0:
            out += str(UNITS[tok])
        elif tok in TENS and len(out) == 2 and TENS[tok] <= 30:
            value = TENS[tok]
            if i + 1 < len(toks) and toks[i + 1] in UNITS and 0 < UNITS[toks[i + 1]] < 10:
                value += UNITS[toks[i + 1]]
                i += 1
            out += str(value)
        elif re.fullmatch(r"\d{1,4}", tok) and len(out) + len(tok) <= 4:
            out += tok
        else:
            break
        i += 1
    return out, i - start


_EARLIEST = re.compile(r"\b(?:earliest|soonest|first (?:available|open|opening|thing you have)|"
                       r"as soon as (?:possible|you can)|asap|next available|anything soon|"
                       r"whatever you have first|first one you have|sooner the better)\b")
_SAME_DAY = re.compile(r"\b(?:later (?:that|the same|on that|on the same|in the|that same) day|"
                       r"same day(?: but)? later|later on the same day|later on that day|"
                       r"later that afternoon|later in the day)\b")
_WEEK = re.compile(r"\b(?:next week|the week after|following week|the week of)\b")


# A clause that rules a day or time out: "not Tuesday", "anytime but Monday", "I can't do
# Tuesday", "Monday is bad", "I'm busy Tuesday morning". Its days are no preference (the
# search would offer exactly them); the other clauses still count ("..., how about
# Thursday"); a reply that only rules out is no value and is asked again.
_RULES_OUT = re.compile(
    r"\b(?:not|never|except|other than|besides|busy|bad|booked|away|unavailable|"
    r"out of town|no good|cannot|can't|cant|don't|dont|doesn't|doesnt|won't|wont|isn't|isnt|"
    r"wouldn't|wouldnt|couldn't|couldnt|aren't|arent)\b"
    r"|\bno (?:more )?(?:mon|tues|wednes|thurs|fri|satur|sun)days?\b"
    r"|\bno (?:mornings?|afternoons?|evenings?)\b")


# A bound rather than a day: "after Wednesday", "not before Friday", "not this week",
# "sometime next month", "later this week". Read on the whole reply, before the clauses
# that rule a day out are dropped ("not this week" rules this week out, and so says when).
# ("a week from Tuesday" is one day, not a bound: ``_counted_from``).
_AFTER = re.compile(rf"(?<!week )(?<!weeks )(?<!day )(?<!days )\b(?:after|from|not (?:before|"
                    rf"until)|no (?:earlier|sooner) than) (?:next |this )?({'|'.join(WEEKDAYS)})\b")
_NEXT_WEEK_ON = re.compile(r"\b(?:not (?:this|until next) week|after this week|next week or "
                           r"later)\b")
_NEXT_MONTH = re.compile(r"\b(?:sometime |some time |any ?time |anything )?next month\b")
_REST_OF_WEEK = re.compile(r"\b(?:later|rest of) (?:this|the) week\b")


def _bounded(cleaned: str, today: dt.date) -> tuple[dt.date, int] | None:
    """The first day and how many days a bound covers, or None."""
    m = _AFTER.search(cleaned)
    if m:
        day = _weekday([m.group(1)], today)
        if day is not None:
            return day + dt.timedelta(days=1 if m.group(0).startswith("after") else 0), 7
    if _NEXT_WEEK_ON.search(cleaned):
        return today + dt.timedelta(days=7 - today.weekday()), 7
    if _NEXT_MONTH.search(cleaned):
        first = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        return first, ((first + dt.timedelta(days=32)).replace(day=1) - first).days
    if _REST_OF_WEEK.search(cleaned) and today.weekday() < 6:
        return today + dt.timedelta(days=1), 6 - today.weekday()
    return None


def parse_relative(text: str, today: dt.date) -> DatePreference | None:
    """"tomorrow morning", "next Tuesday afternoon", "in three days", "March 5th",
    "whatever's earliest", "later that day", "anything next week", "after Wednesday"."""
    bound = _bounded(clean(text), today)
    cleaned = " ".join(c for c in clauses(text) if not _RULES_OUT.search(c))
    if bound is not None:
        part = next((PARTS_OF_DAY[t] for t in cleaned.split() if t in PARTS_OF_DAY), None)
        return DatePreference(bound[0], part, bound[1], False, False)
    cleaned = cleaned.replace("what's", "whats").replace("whatever's", "whatever is")
    found = _parse_day_part(cleaned, today)
    earliest = bool(_EARLIEST.search(cleaned))
    same_day = bool(_SAME_DAY.search(cleaned))
    if found is None and not (earliest or same_day):
        return None
    day, part, days = found or (None, None, 1)
    if same_day:
        day, days = None, 1
    return DatePreference(day, part, days, earliest, same_day)


def _parse_day_part(cleaned: str, today: dt.date) -> tuple[dt.date | None, str | None, int] | None:
    toks = cleaned.split()
    part = next((PARTS_OF_DAY[t] for t in toks if t in PARTS_OF_DAY), None)
    if part is None:
        part = next((v for k, v in PART_PHRASES.items()
                     if re.search(rf"\b{k}\b", cleaned) and not re.search(rf"\b{k} next\b",
                                                                          cleaned)), None)
    day: dt.date | None = _counted_from(toks, today)
    if day is not None:
        pass
    elif "day after tomorrow" in cleaned:
        day = today + dt.timedelta(days=2)
    elif "tomorrow" in toks or "tmrw" in toks:
        day = today + dt.timedelta(days=1)
    elif "today" in toks or "tonight" in toks or "this afternoon" in cleaned or (
        "this morning" in cleaned or "this evening" in cleaned
    ):
        day = today
    else:
        # A date said with its weekday wins ("Tuesday, December 1st" searched Nov 24);
        # "Tuesday the first" is the next 1st that is a Tuesday.
        found, named = parse_date(cleaned, today), _weekday(toks, today)
        day = found if found is not None and found >= today else None
        if day is None and named is not None:
            day = _day_of_month(toks, today, named.weekday()) or named
        day = day or _in_days(toks, today)
        if day is None and _WEEK.search(cleaned) and "week of" not in cleaned:
            # "the week after next" is the week after next week, not next week
            later = 7 if re.search(r"\bweek after next\b", cleaned) else 0
            return today + dt.timedelta(days=7 - today.weekday() + later), part, 7
        if day is None:
            day = _day_of_month(toks, today)
    if day is None and part is None:
        return None
    return day, part, 1


_PICKS = frozenset({"one", "option", "choice", "slot"})


def _day_of_month(toks: list[str], today: dt.date, weekday: int | None = None) -> dt.date | None:
    """"the twenty ninth": the next date with that day of the month ("the first one",
    "the second option" pick an offered time: no date); with ``weekday``, the next one
    falling on it within a year."""
    for i in range(1, len(toks)):
        if toks[i - 1] == "the":
            day, used = ordinal(toks, i)
            if day is None or (i + used < len(toks) and toks[i + used] in _PICKS):
                continue
            for months_ahead in range(3 if weekday is None else 12):
                year = today.year + (today.month - 1 + months_ahead) // 12
                month = (today.month - 1 + months_ahead) % 12 + 1
                found = _safe(year, month, day)
                if found is not None and found >= today and weekday in (None, found.weekday()):
                    return found
    return None


def _weekday(toks: list[str], today: dt.date) -> dt.date | None:
    for i, tok in enumerate(toks):
        if tok not in WEEKDAYS:
            continue
        target = WEEKDAYS[tok]
        ahead = (target - today.weekday()) % 7 or 7
        # "next Tuesday", "Tuesday next week", "next week on Tuesday": next week's
        # (they searched tomorrow when said on a Monday)
        if (i > 0 and toks[i - 1] == "next") or "next week" in " ".join(toks[max(0, i - 3):i + 3]):
            start_next_week = today + dt.timedelta(days=7 - today.weekday())
            return start_next_week + dt.timedelta(days=target)
        if toks[i + 1:i + 3] == ["after", "next"]:  # "Tuesday after next": the one after
            return today + dt.timedelta(days=ahead + 7)
        return today + dt.timedelta(days=ahead)
    return None


def _counted_from(toks: list[str], today: dt.date) -> dt.date | None:
    """"a week from today", "two weeks from now", "a week from Tuesday": counted
    from the day named, not that day itself."""
    for i in range(len(toks)):
        value, used = cardinal(toks, i)
        if value is None and toks[i] in ("a", "an"):
            value, used = 1, 1
        unit, frm, base = [*toks[i + used:i + used + 3], "", "", ""][:3]
        if value is None or unit not in ("day", "days", "week", "weeks") or frm != "from" or (
                base not in ("today", "now", "tomorrow") and base not in WEEKDAYS):
            continue
        start = today + dt.timedelta(days=1 if base == "tomorrow" else 0)
        start = _weekday([base], today) or start  # "a week from Tuesday"
        return start + dt.timedelta(days=value * (7 if unit.startswith("week") else 1))
    return None


def _in_days(toks: list[str], today: dt.date) -> dt.date | None:
    for i, tok in enumerate(toks):
        if tok == "in" and i + 1 < len(toks):
            value, used = cardinal(toks, i + 1)
            if value is None and toks[i + 1] in ("a", "one"):
                value, used = 1, 1
            if value is not None and i + 1 + used < len(toks):
                unit = toks[i + 1 + used]
                if unit in ("day", "days"):
                    return today + dt.timedelta(days=value)
                if unit in ("week", "weeks"):
                    return today + dt.timedelta(days=7 * value)
    return None
