"""Spanish spoken forms for redaction: what a caller or chatter says in Spanish that the
English recognisers (``agent.redaction.spoken``) cannot read.

* dates: "cinco de marzo de mil novecientos ochenta", "el primero de enero", "5 de marzo
  de 1980", "marzo de 1980" (a [DOB] near "nací", "nacimiento", "cumpleaños");
* digits said one by one or in pairs: "cinco cinco cinco, cero uno dos tres" (labelled by
  the caller's ``label``: a phone number, a social security number...);
* ages over 89 (Safe Harbor): "noventa y dos años", "cien años".

Offsets are those of the text given (accents composed or not). Pure.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable

Label = Callable[..., str]  # agent.redact._label_number(text, start, digits, end=)

_WORD = re.compile(r"[0-9a-zß-öø-ÿ]+(?:[./][0-9]+)?")
_UNITS = {"cero": 0, "uno": 1, "una": 1, "un": 1, "dos": 2, "tres": 3, "cuatro": 4,
          "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9}
_TEENS = {"diez": 10, "once": 11, "doce": 12, "trece": 13, "catorce": 14, "quince": 15,
          "dieciseis": 16, "diecisiete": 17, "dieciocho": 18, "diecinueve": 19, "veinte": 20,
          "veintiuno": 21, "veintiun": 21, "veintidos": 22, "veintitres": 23,
          "veinticuatro": 24, "veinticinco": 25, "veintiseis": 26, "veintisiete": 27,
          "veintiocho": 28, "veintinueve": 29}
_TENS = {"treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60, "setenta": 70,
         "ochenta": 80, "noventa": 90}
_HUNDREDS = {"cien": 100, "ciento": 100, "doscientos": 200, "trescientos": 300,
             "cuatrocientos": 400, "quinientos": 500, "seiscientos": 600,
             "setecientos": 700, "ochocientos": 800, "novecientos": 900}
_MONTHS = {"enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6,
           "julio": 7, "agosto": 8, "septiembre": 9, "setiembre": 9, "octubre": 10,
           "noviembre": 11, "diciembre": 12}
_BIRTH = re.compile(r"\b(naci|nacimiento|cumpleanos|nacio)\b")
_GAP = re.compile(r"^[\s,.\-]*$")
_AGE = re.compile(r"\b(noventa(?:\s+y\s+[a-z]+)?|cien|ciento(?:\s+[a-z]+){1,3}?)\s+anos\b")


def _plain(text: str) -> tuple[str, list[int]]:
    """Lower case without accents (combining marks dropped), and where each of its
    characters is in ``text`` (one more entry: the end)."""
    out, where = [], []
    for k, c in enumerate(text):
        if unicodedata.combining(c):
            continue
        base = unicodedata.normalize("NFD", c)[0].lower()
        out.append(base)
        where.append(k)
    where.append(len(text))
    return "".join(out), where


def _words(plain: str) -> list[tuple[str, int, int]]:
    return [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(plain)]


def _cardinal(words: list[tuple[str, int, int]], i: int) -> tuple[int, int]:
    """(value, words used) of a Spanish cardinal under 10000 at ``i``; (0, 0) if none."""
    value, j = 0, i
    w = [x[0] for x in words]
    if j < len(w) and w[j] in ("mil",):
        value, j = 1000, j + 1
    elif j + 1 < len(w) and w[j + 1] == "mil" and (w[j] in _UNITS or w[j] in _TEENS):
        value, j = (_UNITS.get(w[j]) or _TEENS[w[j]]) * 1000, j + 2
    if j < len(w) and w[j] in _HUNDREDS:
        value, j = value + _HUNDREDS[w[j]], j + 1
    if j < len(w) and w[j] in _TENS:
        value, j = value + _TENS[w[j]], j + 1
        if j + 1 < len(w) and w[j] == "y" and w[j + 1] in _UNITS and _UNITS[w[j + 1]]:
            value, j = value + _UNITS[w[j + 1]], j + 2
    elif j < len(w) and w[j] in _TEENS:
        value, j = value + _TEENS[w[j]], j + 1
    elif j < len(w) and w[j] in _UNITS and (j > i or _UNITS[w[j]]):
        value, j = value + _UNITS[w[j]], j + 1
    return (value, j - i) if j > i else (0, 0)


def _day(words: list[tuple[str, int, int]], i: int) -> tuple[int, int]:
    """(day of month, words used) at ``i``; (0, 0) if none."""
    if i >= len(words):
        return 0, 0
    w = words[i][0]
    if w == "primero":
        return 1, 1
    if w.isdigit() and 1 <= int(w) <= 31:
        return int(w), 1
    value, used = _cardinal(words, i)
    return (value, used) if 1 <= value <= 31 else (0, 0)


def _year(words: list[tuple[str, int, int]], i: int) -> tuple[int, int]:
    if i >= len(words):
        return 0, 0
    w = words[i][0]
    if re.fullmatch(r"\d{4}|\d\.\d{3}", w):
        return int(w.replace(".", "")), 1
    value, used = _cardinal(words, i)
    return (value, used) if 1000 <= value <= 2100 else (0, 0)


def _dates(plain: str, words: list[tuple[str, int, int]], dob: dt.date | None
           ) -> list[tuple[int, int, str]]:
    out = []
    for m, (w, _, _) in enumerate(words):
        if w not in _MONTHS:
            continue
        first, last, day, year = m, m, 0, 0
        if m >= 2 and words[m - 1][0] == "de":
            for k in range(max(0, m - 4), m - 1):
                value, used = _day(words, k)
                if used == m - 1 - k:
                    first, day = k, value
                    break
        if m + 2 < len(words) and words[m + 1][0] in ("de", "del"):
            year, used = _year(words, m + 2)
            last = m + 1 + used if used else m
        if first == last:
            continue  # a month alone ("en marzo") names no date
        start, end = words[first][1], words[last][2]
        around = plain[max(0, start - 45):start] + " " + plain[end:end + 30]
        theirs = dob is not None and dob.month == _MONTHS[w] and day in (0, dob.day) \
            and year in (0, dob.year) and (day or year)
        out.append((start, end, "DOB" if theirs or _BIRTH.search(around) else "DATE"))
    return out


def _digit_runs(plain: str, words: list[tuple[str, int, int]]
                ) -> list[tuple[int, int, str]]:
    """Runs of digits said one by one (or in pairs, "cincuenta y cinco"): 6 or more."""
    out = []
    i = 0
    while i < len(words):
        digits, j, last = "", i, -1
        while j < len(words):
            if j > i and not _GAP.match(plain[words[j - 1][2]:words[j][1]]):
                break
            w = words[j][0]
            if w in _UNITS and w not in ("un", "una"):
                digits, last, j = digits + str(_UNITS[w]), j, j + 1
            elif w in _TENS or w in _TEENS:
                value, used = _cardinal(words, j)
                digits, last, j = digits + str(value), j + used - 1, j + used
            else:
                break
        if len(digits) >= 6:
            out.append((words[i][1], words[last][2], digits))
            i = last + 1
        else:
            i += 1
    return out


def spanish_spans(text: str, label: Label, dob: dt.date | None = None
                  ) -> list[tuple[int, int, str]]:
    """(start, end, label) of the Spanish forms above in ``text`` (its own offsets); a
    date that is the patient's ``dob`` (as much of it as was said) is a [DOB]."""
    plain, where = _plain(text)
    words = _words(plain)

    def span(start: int, end: int) -> tuple[int, int]:
        stop = where[end - 1] + 1
        while stop < len(text) and unicodedata.combining(text[stop]):
            stop += 1  # the accent of the last letter, decomposed ("cumpleaños" in NFD)
        return where[start], stop

    spans = [(*span(s, e), lab) for s, e, lab in _dates(plain, words, dob)]
    for s, e, digits in _digit_runs(plain, words):
        start, end = span(s, e)
        spans.append((start, end, label(text, start, digits, end=end)))
    spans += [(*span(m.start(1), m.end(1)), "AGE") for m in _AGE.finditer(plain)]
    return spans
