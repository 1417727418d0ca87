"""Spanish dates, times and day preferences, rewritten in the canonical (English) form the
engine's grammar reads: "cinco de marzo de mil novecientos ochenta" -> "March 5 1980",
"a las tres y media de la tarde" -> "3:30 pm", "el martes por la tarde" -> "Tuesday
afternoon". Day first, as Spanish speakers say and write it ("5 3 1980" is 5 March)."""

from __future__ import annotations

import itertools
import re

from agent.grammar.es.numbers import number_runs, parse_number

MONTHS = {
    "enero": "January", "febrero": "February", "marzo": "March", "abril": "April",
    "mayo": "May", "junio": "June", "julio": "July", "agosto": "August",
    "septiembre": "September", "setiembre": "September", "octubre": "October",
    "noviembre": "November", "diciembre": "December",
}
_MONTH_NUMBERS = list(dict.fromkeys(MONTHS.values()))
DAYS = {"lunes": "Monday", "martes": "Tuesday", "miercoles": "Wednesday",
        "jueves": "Thursday", "viernes": "Friday", "sabado": "Saturday", "domingo": "Sunday"}

_MONTH_RE = "|".join(MONTHS)
# "<day> de <month> [de|del] <year>"; the day and year are runs of number words or digits.
# A year in digits ends the date whatever follows ("3 de marzo de 1980 quiero cambiar mi
# cita": the year was dropped when more words came after it).
_DATE = re.compile(rf"\b(?:el\s+)?(?P<day>[a-z0-9 ]+?)\s+de\s+(?P<month>{_MONTH_RE})"
                   r"(?:(?:\s+(?:de|del|en)\s+(?:el\s+)?(?:ano\s+)?|\s+)(?P<digits>\d{4})\b"
                   rf"|(?:\s+(?:de|del|en)\s+(?:el\s+)?(?:ano\s+)?(?P<year>[a-z0-9 ]+?)"
                   r"|\s+(?P<bare>\d{4}))?"  # "5 de marzo, 1980": the comma is gone
                   r"(?=$|\s+(?:a|por)\b|[,.]))")
_NUMERIC = re.compile(r"\b(\d{1,2})[ /.-](\d{1,2})[ /.-](\d{2}|\d{4})\b")


def _year(value: int | None) -> int | str | None:
    """A year as said; two digits ("del ochenta", "del 26") stay two digits ("'80"), for
    the English grammar to place by the question: a birth year never in the future, a
    visit's year not in the past ("del 26" was 1926 in either: no date to book)."""
    if value is None:
        return None
    if value < 100:
        return f"'{value:02d}"
    if 900 <= value <= 999:  # "novecientos ochenta": the "mil" not heard; no other reading
        return 1000 + value
    return value if 1900 <= value <= 2100 else None


def find_date(text: str) -> str | None:
    """The first date said in ``text`` (normalised), canonically: "March 5 1980"."""
    numeric = _NUMERIC.search(text)
    if numeric:
        day, month, year = (int(g) for g in numeric.groups())
        full = _year(year)
        if 1 <= day <= 31 and 1 <= month <= 12 and full is not None:
            return f"{_MONTH_NUMBERS[month - 1]} {day} {full}"
    match = _DATE.search(text)
    if match is None:
        return _numbered(text)
    day_words = match.group("day").split()
    runs = number_runs(day_words)
    if not runs or runs[-1][1] != len(day_words):
        return None
    day = runs[-1][2]
    if not 1 <= day <= 31:
        return None
    out = f"{MONTHS[match.group('month')]} {day}"
    year_said = match.group("digits") or match.group("year") or match.group("bare")
    if year_said:
        said = _year(parse_number(year_said.split()))
        if said is not None:
            out += f" {said}"
    return out


_JOINS = frozenset({"de", "del", "de el", "el", "en el"})  # "cinco de el tres" as heard


def _numbered(text: str) -> str | None:
    """ "el cinco del tres de mil novecientos ochenta": day, month and year as numbers."""
    words = text.split()
    runs = number_runs(words)
    for (_, e1, day), (s2, e2, month), (s3, _, year) in zip(runs, runs[1:], runs[2:],
                                                            strict=False):
        joined = " ".join(words[e1:s2]) in _JOINS and " ".join(words[e2:s3]) in _JOINS
        full = _year(year)
        if joined and 1 <= day <= 31 and 1 <= month <= 12 and full is not None:
            return f"{_MONTH_NUMBERS[month - 1]} {day} {full}"
    return _month_in_year(words, runs)


def _month_in_year(words: list[str], runs: list[tuple[int, int, int]]) -> str | None:
    """ "el cinco del 3.980": the "de" before "mil" not heard, so the recogniser wrote the
    month and the year as one number (tres mil novecientos ochenta = 3980). Read only
    where nothing else can be meant: a day, then one number of a month's thousands and
    a 9xx year (which ``_year`` reads as 19xx)."""
    for (_, e1, day), (s2, _, merged) in itertools.pairwise(runs):
        month, rest = divmod(merged, 1000)
        joined = " ".join(words[e1:s2]) in _JOINS
        if joined and 1 <= day <= 31 and 1 <= month <= 12 and 900 <= rest <= 999:
            return f"{_MONTH_NUMBERS[month - 1]} {day} {1000 + rest}"
    return None


_HOUR = (r"(?P<hour>una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|once|doce|\d{1,2})"
         r"(?::(?P<mm>\d{2}))?")
_MINUTES = r"(?:\s+y\s+(?P<min>media|cuarto|[a-z]+(?:\s+y\s+[a-z]+)?|\d{1,2}))?"
_TIME = re.compile(rf"\b(?:a\s+)?las?\s+{_HOUR}{_MINUTES}"
                   r"(?:\s+(?:de\s+la|en\s+la|por\s+la|de\s+la)\s+(?P<part>manana|tarde|noche))?\b")


def find_time(text: str) -> str | None:
    """A clock time said in ``text``: "a las tres y media de la tarde" -> "3:30 pm"."""
    if re.search(r"\bmedio\s*dia\b", text):
        return "12 pm"
    match = _TIME.search(text)
    if match is None:
        return None
    hour = parse_number([match.group("hour")])
    if hour is None or not 1 <= hour <= 12:
        return None
    minute = int(match.group("mm") or 0)
    said = match.group("min")
    if said:
        minute = {"media": 30, "cuarto": 15}.get(said) or parse_number(said.split()) or 0
    part = match.group("part")
    suffix = "am" if part == "manana" else "pm" if part in ("tarde", "noche") else (
        "am" if 7 <= hour <= 11 else "pm")
    return f"{hour}:{minute:02d} {suffix}" if minute else f"{hour} {suffix}"


_PARTS = {"manana": "morning", "tarde": "afternoon", "noche": "evening"}


def find_preference(text: str) -> str | None:
    """A day preference: "el proximo martes por la tarde" -> "next Tuesday afternoon"."""
    words: list[str] = []
    if re.search(r"\b(?:lo\s+(?:antes|mas\s+pronto)|cuanto\s+antes|la\s+primera\s+que\s+haya"
                 r"|lo\s+primero\s+que\s+haya)\b", text):
        return "whatever's earliest"
    if re.search(r"\b(?:la\s+)?semana\s+(?:que\s+viene|proxima)|\bproxima\s+semana\b", text):
        words.append("next week")
    day = re.search(rf"\b(?P<next>proximo\s+|el\s+otro\s+)?(?P<day>{'|'.join(DAYS)})"
                    r"(?P<after>\s+que\s+viene|\s+proximo)?\b", text)
    if day:
        nxt = "next " if day.group("next") or day.group("after") else ""
        words.append(nxt + DAYS[day.group("day")])
    elif re.search(r"\bpasado\s+manana\b", text):
        words.append("the day after tomorrow")
    elif re.search(r"\bmanana\b", re.sub(r"\b(?:de|por|en)\s+la\s+manana\b", "", text)):
        words.append("tomorrow")
    elif re.search(r"\bhoy\b", text):
        words.append("today")
    part = re.search(r"\b(?:de|por|en)\s+la\s+(manana|tarde|noche)\b", text)
    if part and not _TIME.search(text):
        words.append(_PARTS[part.group(1)])
    return " ".join(words) if words else None
