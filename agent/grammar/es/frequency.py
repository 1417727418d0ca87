"""Spanish answers to "how often?" (and to a yes/no screening question answered with a
frequency), rewritten into the English phrases ``agent.grammar.answers.frequency`` reads:
"a veces" -> "sometimes", "casi todos los días" -> "nearly every day", "más de la mitad
de los días" -> "more than half the days" (the PHQ scale as the Spanish forms word it).

A "no" right before an often/always phrase says it does not hold ("no muy seguido" ->
"not very often", a no; "no siempre" -> "not always", no value), as in English; a "no"
ending its own clause ("No, a veces") is an answer of its own and negates nothing."""

from __future__ import annotations

import re

_DAYS = r"(?:todos\s+los\s+dias|cada\s+dia|a\s+diario|diario|diariamente)"
_WEEK = r"(?:por|a\s+la|al|cada)\s+semana"
# (Spanish, normalised; English phrase; a "no" before it negates it). Longest first
# within the table: the earliest, longest match is the answer.
_TABLE: tuple[tuple[str, str, bool], ...] = (
    (rf"casi\s+{_DAYS}", "nearly every day", True),
    (r"casi\s+(?:todas\s+las\s+noches|cada\s+noche)", "nearly every night", True),
    (r"casi\s+siempre", "almost always", True),
    (r"casi\s+(?:nunca|jamas)", "almost never", False),
    (r"mas\s+de\s+la\s+mitad\s+de\s+(?:los\s+dias|las\s+noches|el\s+tiempo)",
     "more than half the days", True),
    (r"(?:la\s+)?mayor(?:ia|\s+parte)\s+de(?:\s+los|\s+las|l)?\s+(?:dias|noches|tiempo|veces)",
     "most of the time", True),
    (r"(?:muy|bastante|super)\s+(?:seguido|a\s+menudo|frecuente(?:mente)?)", "very often", True),
    (rf"(?:una|1)\s+o\s+(?:dos|2)\s+veces(?:\s+{_WEEK})?", "once or twice", False),
    (rf"(?:una|1)\s+vez\s+{_WEEK}", "once a week", False),
    (rf"(?:dos|2)\s+veces\s+{_WEEK}", "twice a week", False),
    (r"todas\s+las\s+noches|cada\s+noche", "every night", True),
    (_DAYS, "every day", True),
    (r"todo\s+el\s+(?:tiempo|dia)|constantemente|sin\s+parar", "all the time", True),
    (r"siempre", "always", True),
    (r"seguido|a\s+menudo|con\s+frecuencia|frecuentemente|regularmente", "often", True),
    (r"generalmente|por\s+lo\s+general|normalmente|usualmente", "usually", True),
    (r"rara\s+vez|raras\s+veces|raramente", "rarely", False),
    (r"ningun\s+dia|ninguna\s+noche|en\s+absoluto", "not at all", False),
    (r"nunca|jamas", "never", False),
    (r"varios\s+dias|varias\s+noches", "several days", False),
    (r"(?:algunos|unos(?:\s+cuantos)?|pocos)\s+dias", "some days", False),
    (r"a\s+veces|aveces|algunas\s+veces|de\s+vez\s+en\s+cuando|de\s+cuando\s+en\s+cuando|"
     r"ocasionalmente|en\s+ocasiones", "sometimes", False),
)
_COMPILED = tuple((re.compile(rf"\b(?:{pattern})\b"), english, negatable)
                  for pattern, english, negatable in _TABLE)
# "no muy seguido", "no tan a menudo", "no siempre", "no todos los días".
_NOT_BEFORE = re.compile(r"\bno(?:\s+(?:tan|tanto|muy|es))?\s*$")


def find_frequency(text: str) -> str | None:
    """The English frequency phrase for ``text`` (lower case, accents off, punctuation
    kept: "no, siempre" is a no, then "always"), or None."""
    hits = [(m.start(), m.start() - m.end(), english, negatable)
            for pattern, english, negatable in _COMPILED
            for m in [pattern.search(text)] if m]
    if not hits:
        return None
    start, _, english, negatable = min(hits)
    return f"not {english}" if negatable and _NOT_BEFORE.search(text[:start]) else english
