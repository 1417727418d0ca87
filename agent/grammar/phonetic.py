"""Do two spellings of a name sound alike? ("Mary" / "Merry", "Jon" / "John").

Speech recognition writes a name as it hears it, and a homophone of the patient's name is
often what it hears: the careful second pass wrote the synthetic patient's "Mary Smith" as
"Merry Smith" on every CPU instruction set, and the step-up identity check, which compared
spellings, then refused the patient. The same misspelling also escaped the redaction of
the patient's own name. Both now compare names by sound as well as by spelling.

:func:`sound_key` is a small Metaphone-like key (written for this module): consonant
digraphs folded to one sound, soft c/g, silent letters, vowels dropped after the first
letter, doubled sounds collapsed. :func:`sounds_like` asks for the same key *and* a close
spelling (edit distance under half the longer word), so "Mary" does not match "Moore"
or "Marrow" although their keys agree.

Pure: strings in, a key or a verdict out.
"""

from __future__ import annotations

import re
import unicodedata

from carrier.edits import edit_distance

# Rewrites applied in order on the lower-cased word (a digraph before its letters).
_START = (("kn", "n"), ("gn", "n"), ("pn", "n"), ("wr", "r"), ("ps", "s"), ("x", "s"),
          ("wh", "w"))
_REWRITES = (
    ("tch", "x"), ("sch", "sk"), ("ph", "f"), ("ck", "k"), ("sh", "x"), ("ch", "x"),
    ("tth", "th"), ("th", "t"), ("dge", "je"), ("dg", "j"), ("gh", ""), ("q", "k"),
    ("x", "ks"), ("z", "s"), ("v", "f"), ("d", "t"), ("mb", "m"),
)
_SOFT_C = re.compile(r"c(?=[eiy])")
_SOFT_G = re.compile(r"g(?=[eiy])")
_HARD_GH = re.compile(r"gh(?=[aeiou])")  # "Meghan", "Ghana": a g; elsewhere gh is silent
_VOWELS = frozenset("aeiou")
MAX_EDIT_SHARE = 0.5  # edit distance under this share of the longer spelling


def _ends_in_vowel_sound(w: str) -> bool:
    """"Mary", "Sarah", "Marie", "Erica", "Joe": yes; "Anne", "Rose", "Eric": no (a final
    e after a consonant is silent)."""
    w = w[:-1] if len(w) > 2 and w.endswith("h") and w[-2] in _VOWELS else w
    if w.endswith("e"):
        return len(w) > 1 and w[-2] in "aeiouy"
    return w[-1] in "aiouy"


def sound_key(word: str) -> str:
    """The word's sound key: consonant sounds, the first letter's vowel as "a", and an "a"
    for a final vowel sound: "Mary" and "Merry" -> "mra", "Catherine" -> "ktrn"."""
    w = "".join(ch for ch in fold(word) if "a" <= ch <= "z")
    if not w:
        return ""
    final_vowel = _ends_in_vowel_sound(w)
    for prefix, repl in _START:
        if w.startswith(prefix):
            w = repl + w[len(prefix):]
            break
    w = _HARD_GH.sub("g", _SOFT_G.sub("j", _SOFT_C.sub("s", w)))
    w = w.replace("c", "k")
    for old, new in _REWRITES:
        w = w.replace(old, new)
    if not w:
        return ""
    out = [w[0] if w[0] not in _VOWELS else "a"]
    for i, ch in enumerate(w[1:], start=1):
        prev, nxt = w[i - 1], (w[i + 1] if i + 1 < len(w) else "")
        if ch in _VOWELS or ch == "y":
            continue  # after the first letter a y is a vowel ("Bryan", "Smyth", "Mary")
        if ch == "w" and (prev in _VOWELS or nxt not in _VOWELS):
            continue  # "Stewart", "Lewis", "Dow": a w next to a vowel sound is part of it
        if ch == "h" and (prev not in _VOWELS or nxt not in _VOWELS):
            continue  # "John", "Sarah": an h that is not between vowels is silent
        if out[-1] != ch:
            out.append(ch)
    if final_vowel and len(w) > 1:
        out.append("a")
    return "".join(out)


def fold(word: str) -> str:
    """Lower case without accents: "José" -> "jose" (recognisers write names either way)."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def sounds_like(a: str, b: str) -> bool:
    """The same name as heard: equal spellings, or the same sound key and a close spelling."""
    a, b = fold(a), fold(b)
    if a == b:
        return True
    key = sound_key(a)
    if len(key) < 2 or key != sound_key(b):  # one sound is no evidence
        return False
    return edit_distance(a, b) < MAX_EDIT_SHARE * max(len(a), len(b))
