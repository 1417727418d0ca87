"""The patient's name as speech recognition misspelled it ("Mary" written "Merry").

``agent.redact`` redacts the patient's known names where they are spelled as on record;
a homophone the recogniser wrote instead ("Merry Smith") escaped it and was stored. A word
that sounds like a part of a known name (:func:`agent.grammar.phonetic.sounds_like`) is a
name here too, unless it is a common English word ("well" for "Will") not standing next
to another part of the name ("Well Smith" is redacted whole; "Well, yes" is kept).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from agent.grammar.phonetic import sounds_like
from agent.redaction.common_words import is_common_word

_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['-])*")
MIN_PART = 3  # two-letter parts ("Al", "Jo") sound like too many words


def sound_alike_names(text: str, known_parts: Iterable[str]) -> list[tuple[int, int]]:
    """(start, end) of each word that sounds like, but is not spelled as, a known name part."""
    parts = [p.lower() for p in known_parts if len(p) >= MIN_PART]
    words = list(_WORD.finditer(text))
    lower = [w.group(0).lower() for w in words]
    out: list[tuple[int, int]] = []
    for i, w in enumerate(words):
        if lower[i] in parts or not any(sounds_like(lower[i], p) for p in parts):
            continue
        beside = {lower[j] for j in (i - 1, i + 1) if 0 <= j < len(words)}
        if is_common_word(lower[i]) and not beside & set(parts):
            continue
        out.append((w.start(), w.end()))
    return out
