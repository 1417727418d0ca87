"""Spanish spoken forms for redaction: what a caller or chatter says in Spanish that the
English recognisers (``agent.redaction.spoken``) cannot read.

* dates: "cinco de marzo de mil novecientos ochenta", "el primero de enero", "5 de marzo
  de 1980", "marzo de 1980" (a [DOB] near "nací", "nacimiento", "cumpleaños");
* digits said one by one or in pairs: "cinco cinco cinco, cero uno dos tres" (labelled by
  the caller's ``label``: a phone number, a social security number...);
* ages over 89 (Safe Harbor): "noventa y dos años", "cien años";
* street addresses: "Calle del Olmo 14", "avenida Libertad número doscientos", "C/ Ejemplo
  19, 3º izquierda", "Paseo de las Flores 102, puerta B": a street word, its name and a
  number (a street named without one, "la avenida principal", is no address of anyone).

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


_STREETS = frozenset({"calle", "avenida", "av", "avda", "carretera", "ctra", "calzada", "bulevar",
                      "boulevard", "pasaje", "travesia", "callejon", "privada", "glorieta",
                      "carrera", "diagonal", "transversal"})
# Also everyday words ("camino" I walk, "paseo" a walk, "plaza" a place, "ronda" a round):
# a street only before a name written with a capital ("Camino Viejo 55").
_STREETS_NAMED = frozenset({"camino", "paseo", "plaza", "pza", "ronda", "via", "rambla"})
_LINKS = frozenset({"de", "del", "la", "las", "los", "el"})
_NAME_ENDS = frozenset({"en", "por", "para", "que", "con", "a", "al", "y", "o", "es", "esta",
                        "no", "me", "se", "le", "lo", "mi", "su", "veces", "minutos", "horas",
                        "dias", "anos", "favor"})
_NUMBER_WORDS = frozenset({"numero", "num", "no", "n", "kilometro", "km", "nro"})
_EXTRAS = frozenset({"piso", "puerta", "portal", "escalera", "esc", "bajo", "apartamento", "apto",
                     "depto", "departamento", "interior", "int", "letra", "izquierda", "derecha",
                     "izq", "dcha", "centro", "primero", "segundo", "tercero", "cuarto",
                     "quinto", "sexto", "septimo", "octavo", "noveno", "decimo"})


def _street_number(words: list[tuple[str, int, int]], j: int) -> int:
    """Words used by a house number at ``j`` (digits, "14b", or said): 0 if none."""
    if j >= len(words):
        return 0
    if re.fullmatch(r"\d{1,5}[a-z]?", words[j][0]):
        return 1
    value, used = _cardinal(words, j)
    return used if value > 0 else 0


def _extra(words: list[tuple[str, int, int]], k: int) -> bool:
    """A floor, door, side or a second number ("número 12", "# 12-30") after the first."""
    return words[k][0] in _EXTRAS or words[k][0] in _NUMBER_WORDS


def _addresses(text: str, plain: str, words: list[tuple[str, int, int]]
               ) -> list[tuple[int, int]]:
    """(start, end) in ``plain`` of each street address: the street word, its name (up to
    four words, "de los" between them), a number (after "número", "km"), then the floor,
    door or side ("segundo piso", "puerta B", "3º izquierda")."""
    out = []
    for i, (w, start, end) in enumerate(words):
        slash = w == "c" and plain[end:end + 1] == "/"
        if w not in _STREETS and w not in _STREETS_NAMED and not slash:
            continue
        j, named = i + 1, 0
        while j < len(words) and named < 4 and _GAP.match(
                plain[words[j - 1][2]:words[j][1]].replace("/", "", 1 if j == i + 1 else 0)):
            word = words[j][0]
            if word in _NAME_ENDS or word in _NUMBER_WORDS or _street_number(words, j):
                break
            if word not in _LINKS:
                if named == 0 and w in _STREETS_NAMED and not text[words[j][1]].isupper():
                    break  # "camino todos los días", "paseo con el perro"
                named += 1
            j += 1
        if j < len(words) and words[j][0] in _NUMBER_WORDS:
            j += 1
        used = _street_number(words, j) if j < len(words) and _GAP.match(
            plain[words[j - 1][2]:words[j][1]] if j > i + 1 else " ") else 0
        if not used or (not named and (w in _STREETS_NAMED or not words[j][0].isdigit())):
            continue  # no number: no one's address ("cruzo la calle dos veces")
        last = j + used - 1
        k = last + 1
        while k < len(words) and k - last <= 3 and (_extra(words, k) or (
                words[k][0].isdigit() and k + 1 < len(words) and _extra(words, k + 1))
                or (_extra(words, k - 1) and (len(words[k][0]) <= 2 or words[k][0].isdigit())
                    ) or ("#" in plain[words[k - 1][2]:words[k][1]] and words[k][0].isdigit())
                ) and re.fullmatch(r"[\s,º°ª.#-]*", plain[words[k - 1][2]:words[k][1]]):
            last, k = k, k + 1
        out.append((start, words[last][2]))
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
    composed = "".join(text[k] for k in where[:-1])  # the text's letters, case kept
    spans += [(*span(s, e), "ADDRESS") for s, e in _addresses(composed, plain, words)]
    return spans
