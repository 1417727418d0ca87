"""What a patient's text says itself: the reply without what phones and mail apps add.

Pure. A reply often carries more than the patient typed: the message it answers quoted
below it ("On Mon ... wrote:", "> ..."), a signature ("-- ", "Sent from my iPhone"), an
iPhone reaction sent to a phone that is not an iPhone (``Liked "<our whole reminder>"``),
zero-width or full-width characters, or a code point that is no character at all. Our
reminder ends "STOP to opt out": read with the quote, a "C" would be an opt-out and a
confirmation at once. Keywords (``compliance.keyword``) and the conversation both read
:func:`body`; a reaction is read by :func:`reaction`.
"""

from __future__ import annotations

import re
import unicodedata

# The first line of a quoted earlier message or of a signature ends what the patient wrote.
_TAIL = re.compile(
    r"^\s*(?:>|on\b.{0,200}\bwrote:\s*$|-{2,}\s*(?:original message\s*-*\s*)?$|"
    r"from:\s|sent from my\b|sent (?:from|via) \w+|get outlook for\b)",
    re.IGNORECASE | re.MULTILINE)
# iOS reactions as plain text ("Liked", "Loved", "Disliked" + the quoted message).
_REACTION = re.compile(
    r"^(liked|loved|laughed at|emphasi[sz]ed|questioned|disliked)\s+[\"\u201c\u201d].*"
    r"[\"\u201c\u201d]\s*$", re.IGNORECASE | re.DOTALL)
_YES_EMOJI = {"\U0001f44d", "\U0001f44c", "\u2705", "\u2714", "\u2611"}
_NO_EMOJI = {"\U0001f44e", "\u274c", "\u2716"}
_SKIN_AND_VARIATION = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f\ufe0e]")
# The stop sign is the word STOP drawn: an opt-out. A raised hand, "no entry" and
# "prohibited" say stop or no, of the messages or of the appointment: the conversation asks
# which (as for a bare "cancel"). A thumbs-down or a cross is a plain no (_NO_EMOJI).
STOP_SIGN = "\U0001f6d1"
_HALT_EMOJI = {"\u270b", "\u26d4", "\U0001f6ab"}


def stop_emoji(text: str) -> str | None:
    """For a reply of stop emoji alone: "stop" (a stop sign among them) or "cancel" (only
    ✋ ⛔ 🚫: appointment or messages?); None for anything else."""
    marks = set(_SKIN_AND_VARIATION.sub("", body(text)).replace(" ", ""))
    if not marks or not marks <= _HALT_EMOJI | {STOP_SIGN}:
        return None
    return "stop" if STOP_SIGN in marks else "cancel"


def body(text: str) -> str:
    """The patient's own words: normalised (NFKC), without format or control characters,
    lone surrogates, a quoted earlier message or a signature; stripped."""
    text = unicodedata.normalize("NFKC", _valid(text))
    text = "".join(ch for ch in text
                   if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    m = _TAIL.search(text)
    if m is not None and text[:m.start()].strip():
        text = text[:m.start()]
    return text.strip()


def reaction(text: str) -> bool | None:
    """True for a thumbs-up (or "Liked ..."), False for a thumbs-down (or "Disliked ..."),
    None when the reply is anything else."""
    said = body(text)
    m = _REACTION.match(said)
    if m is not None:
        verb = m.group(1).lower()
        return {"liked": True, "loved": True, "disliked": False}.get(verb)
    marks = set(_SKIN_AND_VARIATION.sub("", said).replace(" ", ""))
    if marks and marks <= _YES_EMOJI:
        return True
    if marks and marks <= _NO_EMOJI:
        return False
    return None


def _valid(text: str) -> str:
    """Lone surrogates (a badly decoded part) become U+FFFD: the text can be stored."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
