"""A caller who asks the agent to speak slower ("more slowly please", "you're talking
too fast", "más despacio"): the voice takes a slower pace for the rest of the call
(``agent.voice.SLOW_PACE``). What the engine does with the turn is unchanged (most of
these are also a request for the question again, ``agent.grammar.hearing``).

Only the agent's speech is meant: "I walk slowly since my surgery", "the pain is slowly
getting worse", "my heart is beating fast" and "as fast as possible" ask for no pace.
English and Spanish are read on the raw turn (accents folded), before any translation.
"""

from __future__ import annotations

import re
import unicodedata

from agent.grammar.normalize import clean

_SPEAK = r"(?:speak|talk|say|go|read|repeat|ask|tell|explain)\w*"
ENGLISH = re.compile(
    r"\b(?:slower|more slowly|slow (?:it |things )?down)\b|"
    rf"\b{_SPEAK}(?: \w+){{0,3}} slow(?:ly|er)?\b|"
    r"^(?:(?:a |little |bit |more )*)slowly(?: please)?$|"
    r"\b(?:you(?:'re| are)?|talking|speaking|talk|speak|going|reading)(?: \w+){0,2} "
    r"(?:way |much |a bit |a little )?too (?:fast|quick(?:ly)?)\b|"
    r"^(?:way |much )?too (?:fast|quick)(?: please)?$")
_SPANISH = re.compile(
    r"\b(?:mas|muy) (?:despacio|lento|lentamente)\b|"
    r"\b(?:hable|habla|hablen|hableme|lea|diga|digalo|repita|repitalo)(?: \w+){0,2} "
    r"(?:despacio|lento|lentamente)\b|^despacio(?: por favor)?$|"
    r"\b(?:muy|demasiado) rapido\b")


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", clean(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def asks_slower(text: str) -> bool:
    """True when the turn asks the agent to speak slower (English or Spanish)."""
    said = _folded(text)
    return bool(ENGLISH.search(said) or _SPANISH.search(said))
