"""Cleaning ASR output before the grammars look at it.

Speech recognisers add punctuation, capitals and hesitation words that carry no
meaning for the grammars; they are removed here so every grammar sees the same
lowercase, single-spaced text. Characters that carry meaning in written forms
(``/`` and ``-`` in dates, ``:`` in times, ``@`` and ``.`` in addresses) are kept
between digits or letters.
"""

from __future__ import annotations

import re
import unicodedata

FILLERS = frozenset(
    {"um", "umm", "ummm", "uh", "uhh", "uhm", "er", "erm", "hmm", "hm", "mm", "mmm", "ah", "ahh"}
)
_MULTI_FILLERS = ("you know", "let's see", "lets see", "let me see", "let me think", "i mean")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
# Punctuation that never carries meaning for the grammars.
_DROP = re.compile(r"[!?;\"()\[\]{}<>…]")
# A comma or period not between two digits is a pause, not part of a number.
_PAUSE = re.compile(r"(?<!\d)[.,](?!\d)|(?<=\d)[.,](?!\d)|(?<!\d)[.,](?=\d)")
_SPACES = re.compile(r"\s+")


def clean(text: str) -> str:
    """Lowercase, drop punctuation and hesitations, single spaces."""
    # NFKC folds full-width and superscript digits to ASCII; other characters that
    # Python calls digits but int() refuses are dropped.
    out = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    out = "".join(ch for ch in out if not ch.isdigit() or ch in "0123456789")
    out = re.sub(r"\b(?:uh[- ]huh|mm[- ]hmm|mhm|uh[- ]hum)\b", "uhhuh", out)
    out = re.sub(r"\b(?:uh-uh|nuh[- ]uh|unh-unh|mm-mm)\b", "nuhuh", out)  # a no said so
    out = _DROP.sub(" ", out)
    out = _PAUSE.sub(" ", out)
    out = out.replace("-", " - ").replace("  ", " ")
    # hyphens: keep them inside digit groups (555-0123, 3-5-1980), split words (twenty-five)
    out = re.sub(r"(?<=\d) - (?=\d)", "-", out)
    out = out.replace(" - ", " ")
    for phrase in _MULTI_FILLERS:
        out = re.sub(rf"\b{phrase}\b", " ", out)
    words = [w for w in _SPACES.split(out) if w and w not in FILLERS]
    return " ".join(words)


def tokens(text: str) -> list[str]:
    """Tokens of the cleaned text."""
    cleaned = clean(text)
    return cleaned.split(" ") if cleaned else []


def has_phrase(cleaned: str, phrase: str) -> bool:
    """Whole-word phrase match on cleaned text."""
    return re.search(rf"(?<![\w']){re.escape(phrase)}(?![\w'])", cleaned) is not None


# A reply that corrects itself ("12345, no wait, 12346", "Aetna, sorry, I mean Cigna"):
# what follows the last correction is the answer. Read on the raw text, since ``clean``
# drops "I mean" as a hesitation.
_CORRECTION = re.compile(
    r"\b(?:no,? wait|wait,? no|no,? sorry|sorry|i mean|i meant|actually(?:,? no)?|"
    r"correction|scratch that|let me start (?:again|over)|start over|oops|or rather|"
    r"make that|wait)\b|\bno(?:\s*,\s*|\s+no\b)", re.IGNORECASE)


def after_correction(text: str) -> str:
    """The part of ``text`` after its last self-correction, when the caller said
    something after it; else the text itself ("12345, sorry" is 12345)."""
    for m in reversed(list(_CORRECTION.finditer(text))):
        rest = text[m.end():]
        if clean(rest):
            return rest
    return text


# Where one thought ends and the next begins: "not Tuesday, Wednesday", "Monday is bad,
# how about Thursday", "I used to have Medicare but now I have Humana".
_CLAUSE = re.compile(r"[,;:!?]|\.(?:\s|$)| - |\b(?:but|so|though|although|how about|"
                     r"what about|instead)\b", re.IGNORECASE)
# "anything but Monday": this "but" excludes, it does not start a clause.
# "any day but Monday", "any time but Monday" too (Monday was searched).
_EXCEPT_BUT = re.compile(r"\b((?:any|every)\w*(?: (?:day|time|morning|afternoon|evening|week)s?)?|"
                         r"all|whatever)\s+but\b", re.IGNORECASE)


def clauses(text: str) -> list[str]:
    """The utterance cut into clauses, each cleaned, empty ones left out."""
    text = _EXCEPT_BUT.sub(r"\1 except", text)
    return [c for c in (clean(part) for part in _CLAUSE.split(text)) if c]
