"""Emoji a patient may send alone to a reminder or in a chat, and what each is.

The decision (2026-12-07): 🛑 (the stop sign, U+1F6D1) is the word STOP drawn: an opt-out
at once, as the keyword. ✋ ⛔ 🚫 say "stop" or "no" and could be about the appointment
("no, I won't come") as well as the messages: the conversation asks which, as it does for
a bare "cancel" (reply 1 for the appointment, 9 for the messages), so neither a wanted
opt-out is lost nor an unwanted one recorded. 👎 ❌ stay a plain no (a thumbs-down is
not an opt-out); other faces are nothing.

Kinds: "stop" (the STOP keyword), "ask" (appointment or messages?), "no", "none".
TUNED_EMOJI are the cases the code was changed for; HELD_OUT_EMOJI was written before
that change and never tuned to: its score is reported.
"""

from __future__ import annotations

EmojiCase = tuple[str, str]

TUNED_EMOJI: list[EmojiCase] = [
    ("\U0001f6d1", "stop"),
    ("\U0001f6d1\U0001f6d1", "stop"),
    ("\U0001f6d1 please", "stop"),
    ("\u270b", "ask"),
    ("\U0001f6ab", "ask"),
    ("\U0001f44e", "no"),
    ("\U0001f600", "none"),
]

HELD_OUT_EMOJI: list[EmojiCase] = [
    ("\U0001f6d1\U0001f6d1\U0001f6d1", "stop"),
    ("\U0001f6d1\ufe0f", "stop"),
    ("STOP \U0001f6d1", "stop"),
    ("\U0001f6d1 thanks", "stop"),
    ("\U0001f6d1 por favor", "stop"),
    ("\u26d4", "ask"),
    ("\u270b\U0001f3fd", "ask"),
    ("\U0001f6ab\U0001f6ab", "ask"),
    ("\U0001f44e\U0001f3fb", "no"),
    ("\u274c", "no"),
    ("\U0001f621", "none"),
    ("\U0001f64f", "none"),
]
