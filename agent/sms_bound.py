"""What of a long text the agent reads: a bounded string, whatever the text's length.

A text may be up to 255 concatenated parts (about 39,000 characters), and the grammars'
cost grows with the length they read (about 0.36 s a kilobyte, on the event loop that
carries every call and text). The carrier reads the compliance keywords (STOP...) from
the whole text first; the agent reads its head (``HEAD`` characters: far more than any
answer to a reminder) and, beyond it, the words around at most ``WINDOWS`` opt-out cues
("stop", "unsubscribe", "remove me", "no more", "no me manden"...), strong cues first,
so "... please stop texting me" at the end of a long text is still heard as an opt-out.
At most ``LIMIT`` characters reach the grammars.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # agent.sms imports this module
    from agent.sms import PatientTextLike

HEAD = 480
WINDOWS = 3
AROUND = 100  # characters either side of a cue
LIMIT = HEAD + WINDOWS * (2 * AROUND + 40)
_STRONG = re.compile(
    r"\b(?:stop\w*|s\W?t\W?o\W?p|unsubscribe\w*|opt\W?out|revoke\w*|remove|no more|quit\w*|"
    r"alto|parar|baja|no me|no quiero|no mas|no más|sa[qc]uenme|quitenme|borrenme)\b|🛑", re.I)
_WEAK = re.compile(r"\b(?:don'?t|do not|never|cease|take|delete|drop|cancel\w*|end)\b", re.I)


@dataclass(frozen=True)
class BoundedText:
    """An inbound text with ``text`` bounded (``parsed_text``). ``sender`` is PHI."""

    patient_id: str | None
    sender: str
    text: str
    at: dt.datetime

    def __repr__(self) -> str:
        return f"BoundedText(patient_id={self.patient_id!r}, <redacted>)"


def bounded(message: PatientTextLike) -> BoundedText:
    return BoundedText(message.patient_id, message.sender, parsed_text(message.text),
                       message.at)


def parsed_text(text: str) -> str:
    """``text`` itself when short; else its head and the words around its opt-out cues."""
    if len(text) <= HEAD:
        return text
    head = text[:HEAD].rsplit(None, 1)[0] if " " in text[:HEAD] else text[:HEAD]
    spans: list[tuple[int, int]] = []
    for cue in (_STRONG, _WEAK):
        for found in cue.finditer(text, len(head)):
            if len(spans) == WINDOWS:
                break
            start, end = max(len(head), found.start() - AROUND), found.end() + AROUND
            if not any(s < end and start < e for s, e in spans):
                spans.append((start, end))
    parts = [head, *(_words_of(text[s:e], s > len(head), e < len(text))
                     for s, e in sorted(spans))]
    return " ... ".join(p for p in parts if p)[:LIMIT]


def _words_of(piece: str, cut_left: bool, cut_right: bool) -> str:
    """The whole words of ``piece`` (a word cut at either end is dropped)."""
    words = piece.split()
    if cut_left and words and not piece[:1].isspace():
        words = words[1:]
    if cut_right and words and not piece[-1:].isspace():
        words = words[:-1]
    return " ".join(words)
