"""Spanish number words to integers (0-9999): "mil novecientos ochenta" -> 1980."""

from __future__ import annotations

_UNITS = {
    "cero": 0, "un": 1, "uno": 1, "una": 1, "primero": 1, "primer": 1, "dos": 2, "tres": 3,
    "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10,
    "once": 11, "doce": 12, "trece": 13, "catorce": 14, "quince": 15, "dieciseis": 16,
    "diecisiete": 17, "dieciocho": 18, "diecinueve": 19, "veinte": 20, "veintiun": 21,
    "veintiuno": 21, "veintiuna": 21, "veintidos": 22, "veintitres": 23, "veinticuatro": 24,
    "veinticinco": 25, "veintiseis": 26, "veintisiete": 27, "veintiocho": 28,
    "veintinueve": 29,
}
_TENS = {"treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60, "setenta": 70,
         "ochenta": 80, "noventa": 90}
_HUNDREDS = {"cien": 100, "ciento": 100, "doscientos": 200, "trescientos": 300,
             "cuatrocientos": 400, "quinientos": 500, "seiscientos": 600, "setecientos": 700,
             "ochocientos": 800, "novecientos": 900}
NUMBER_WORDS = frozenset(_UNITS) | frozenset(_TENS) | frozenset(_HUNDREDS) | {"mil", "y"}
# Longest digit word read as a number: a phone or member number is at most this long; a
# longer one is no number a patient says (and past 4300 digits ``int`` raises ValueError).
MAX_DIGITS = 18


def is_number_word(word: str) -> bool:
    return (word in NUMBER_WORDS and word != "y") or word.isdigit()


def parse_number(words: list[str]) -> int | None:
    """The value of a run of number words (normalised, no accents), or None."""
    total, current, seen = 0, 0, False
    for word in words:
        if word == "y":
            continue
        if word.isdigit():
            if len(word) > MAX_DIGITS or not word.isdecimal():
                return None  # no number a patient says; ``int`` may refuse it
            current += int(word)
        elif word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word in _HUNDREDS:
            current += _HUNDREDS[word]
        elif word == "mil":
            total += (current or 1) * 1000
            current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


def number_runs(words: list[str]) -> list[tuple[int, int, int]]:
    """(start, end, value) for each maximal run of number words in ``words``."""
    runs: list[tuple[int, int, int]] = []
    i = 0
    while i < len(words):
        if not is_number_word(words[i]):
            i += 1
            continue
        j = i
        while j < len(words) and (is_number_word(words[j]) or (
                words[j] == "y" and j + 1 < len(words) and is_number_word(words[j + 1])
                and words[j + 1] not in ("mil",))):
            if words[j].isdigit() and j > i:
                break  # "5 3 1980": digit groups stay apart
            j += 1
        value = parse_number(words[i:j])
        if value is not None:
            runs.append((i, j, value))
        i = max(j, i + 1)
    return runs
