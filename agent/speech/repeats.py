"""Decoding loops and repeats in a short-window Whisper text: a loop ("No. No. No. ...")
cut to one copy, a real repeat ("No, no.") kept, and whether a first pass looks wrong
enough to be decoded again in a longer window (``agent.speech.whisper``)."""

from __future__ import annotations

import re

__all__ = ["collapse_repeats", "repeats_at_end", "settle_repeats", "unloop"]


def unloop(ids: list[int], max_period: int = 16) -> list[int]:
    """Token ids with a decoding loop at their end cut to one copy of the looped run.

    A run of up to ``max_period`` tokens said three times or more at the end (the last
    copy may be partial), or twice or more when it is the whole sequence, is a loop.
    """
    n = len(ids)
    best_cut = n
    for period in range(1, min(max_period, n // 2) + 1):
        start = n - period  # the periodic suffix with this period begins at start
        while start > 0 and ids[start - 1] == ids[start - 1 + period]:
            start -= 1
        span = n - start
        looped = span >= 3 * period or (start == 0 and span >= 2 * period)
        if looped and start + period < best_cut:
            best_cut = start + period
    return ids[:best_cut]


_WORD = re.compile(r"[\w']+")


def settle_repeats(said: str, *, ran_out: bool, final: bool) -> tuple[str, bool]:
    """A decoded text with a decoding loop collapsed to one copy, and a real repeat kept;
    and whether to decode it again in the long window (a first pass that looks wrong).

    Three copies or more, or a decode that ran to its token budget, is a loop. Two copies
    that ended on their own ("No, no.") may be what the caller said: on a first pass in a
    short window they are collapsed (so the item is decoded again in the long window, see
    ``transcribe_batch``), on the final pass they are kept. Collapsing every repeat cut
    words the caller said ("No, no." became "No,"). A first pass whose last phrase of two
    words or more is said twice ("Press 8 to start over. Press 8 to start over.") is kept
    as it is but decoded again: short windows invent such a copy, the long one does not.
    """
    text = collapse_repeats(said)
    if text == said:
        return said, ran_out or (not final and repeats_at_end(said))
    if ran_out or not final:
        return text, True
    copies = len(said.split()) / max(1, len(text.split()))
    return (text if copies > 2 else said), False


def repeats_at_end(text: str, min_words: int = 2) -> bool:
    """True when the text ends with a phrase of ``min_words`` words or more said twice."""
    keys = [" ".join(_WORD.findall(w.lower())) for w in text.split()]
    n = len(keys)
    return any(keys[n - 2 * p:n - p] == keys[n - p:]
               for p in range(min_words, n // 2 + 1))


def collapse_repeats(text: str) -> str:
    """Collapse a transcript that is one phrase said 2+ times over ("No. No. No." -> "No.").

    Compares words without punctuation; a trailing partial copy counts as a repeat.
    """
    words = text.split()
    keys = [" ".join(_WORD.findall(w.lower())) for w in words]
    n = len(keys)
    for period in range(1, n // 2 + 1):
        if all(keys[i] == keys[i % period] for i in range(n)):
            return " ".join(words[:period])
    return text
