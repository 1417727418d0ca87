"""Spanish understanding: a Spanish caller's words, rewritten into the canonical phrases
the engine's grammar (``agent.grammar``) reads, so every workflow runs unchanged in
Spanish. ``to_canonical("no me llame más")`` is ``"stop calling me"``;
``to_canonical("el cinco de marzo de mil novecientos ochenta")`` is ``"March 5 1980"``.
Text with nothing recognised (a reason for a visit, an insurer's name) is kept as said,
with spoken numbers turned into digits (phone numbers, member ids).

``looks_spanish(text)`` tells whether an utterance is Spanish (the language switch)."""

from __future__ import annotations

import re
import unicodedata

from agent.grammar import understand
from agent.grammar.es.dates import find_date, find_preference, find_time
from agent.grammar.es.frequency import find_frequency
from agent.grammar.es.intents import find_intent, spoken
from agent.grammar.es.numbers import number_runs

__all__ = ["looks_english", "looks_spanish", "normalise", "to_canonical"]


def normalise(text: str) -> str:
    """Lower case, accents and punctuation off (ñ kept as n), one space between words."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    # "1,980" and "1.980" (the Spanish thousands mark): a year, as written.
    plain = re.sub(r"(?<=\b\d)[,.](?=\d{3}\b)", "", plain)
    plain = re.sub(r"(?<=\d)[/.-](?=\d)", "/", plain)
    return " ".join(re.sub(r"[^a-z0-9/: ]+", " ", plain).split())


_NAME = re.compile(r"\b(?:me\s+llamo|mi\s+nombre\s+es|soy)\s+(?!yo\b)(.+)$", re.I)


def _name(text: str) -> str | None:
    """ "Hola, me llamo Ana López" -> "my name is Ana López" (the name as written)."""
    match = _NAME.search(text.strip().rstrip(".!"))
    if match is None:
        return None
    return f"my name is {match.group(1).strip()}"


def _digits(words: list[str]) -> str:
    out: list[str] = []
    runs = {start: (end, value) for start, end, value in number_runs(words)}
    i = 0
    while i < len(words):
        if i in runs and not words[i].isdigit():
            end, _value = runs[i]
            # Said one digit at a time ("cinco cinco cinco"): each word its own digit.
            out.extend(str(number_runs([w])[0][2]) if number_runs([w]) else w
                       for w in words[i:end] if w != "y")
            i = end
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


def to_canonical(text: str) -> str:
    """The canonical phrase(s) for a Spanish utterance, or the utterance itself."""
    plain = normalise(text)
    if not plain:
        return text
    often = find_frequency(spoken(text))
    intent = find_intent(plain, text)
    if intent == "no" and often is not None and often.startswith("not "):
        intent = None  # "no siempre" is "not always" (no value), not a plain no
    if intent == "yes" and re.search(r"\b(?:pero|sino|aunque)\b", plain):
        intent = "yes and no"  # "sí, pero el martes": no plain yes; asked again
    pieces = [p for p in (intent, often, find_date(plain), find_time(plain),
                          find_preference(plain)) if p]
    words = plain.split()
    if pieces == [often] and number_runs(words):
        # "seis horas, a veces cinco" answers "how many hours?": the numbers are kept.
        return f"{often} {_digits(words)}"
    if pieces:
        return " ".join(dict.fromkeys(pieces))
    named = _name(text)
    if named is not None:
        return named
    if number_runs(words):
        digits = _counts(_digits(words))
        # "cinco tres ochenta": a date said as bare numbers, read day first as Spanish
        # speakers say it (the English grammar would read "5 3 80" as May 3).
        return find_date(digits) or digits
    return text


def _counts(digits: str) -> str:
    """A count said the Spanish way, as the English grammar reads it: "6 y media" (and "6
    horas y media") -> "6.5", "ni 1" -> "none", "1 par" -> "2" (they were 6, 1 and 1).
    Only where the turn is a number: "a las tres y media" is a time, read before this."""
    if re.search(r"\bni\s+1\b", digits):
        return "none"
    digits = re.sub(r"\b1\s+par\b", "2", digits)
    return re.sub(r"\b(\d+)((?:\s+[a-z]+)?)\s+y\s+medi[oa]\b", r"\1.5\2", digits)


def _words(text: str) -> list[str]:
    return text.split()


# Words that are common in Spanish and (almost) never in English speech.
_SPANISH_WORDS = frozenset(_words(
    "si no soy yo el la los las de del que por para con una uno es esta estoy quiero "
    "llame llamen llamadas cita hola buenos buenas dias tardes gracias claro bueno pues "
    "senor senora usted habla hablo espanol me mi nombre llamo cancelar confirmo manana "
    "tarde noche favor vale sabe se numero equivocado ahora manejando ocupado segunda "
    "primera tercera duele tengo seguro llamada ingles espanol"
))
_ENGLISH_WORDS = frozenset(_words(
    "yes yeah yep the this is it's i i'm me my you your speaking that's what who hello "
    "hi okay ok sure right please thanks thank no"
))


def looks_english(text: str) -> bool:
    """More English-only words than Spanish ones ("yes, speaking")."""
    words = normalise(text).split()
    spanish = sum(w in _SPANISH_WORDS and w not in _ENGLISH_WORDS for w in words)
    return sum(w in _ENGLISH_WORDS for w in words) > spanish


def looks_spanish(text: str) -> bool:
    """Whether ``text`` reads as Spanish: accents or Spanish-only words outnumber English."""
    if re.search(r"[ñáéíóú¿¡]", text.lower()):
        return True
    words = normalise(text).split()
    if not words:
        return False
    spanish = sum(w in _SPANISH_WORDS and w not in _ENGLISH_WORDS for w in words)
    english = sum(w in _ENGLISH_WORDS for w in words)
    if spanish > english and (spanish >= 2 or words[0] in {"si", "hola", "bueno"}):
        return True
    # Understood by the Spanish grammar and by nothing in the English one ("cancelar",
    # "la segunda"); a bare "no" or digits say nothing about the language.
    plain = " ".join(words)
    if english or plain in {"no", "si"} or plain.replace(" ", "").isdigit():
        return False
    spanish_hit = find_intent(plain) or find_date(plain) or find_time(plain) \
        or find_preference(plain)
    return bool(spanish_hit) and not understand(text).intents
