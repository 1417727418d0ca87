"""Stop and cancel: the words of an opt-out, a cancel said alone, and a cancel or a move
taken back by a negation (``agent.grammar.intents`` reads them).

Opt-out words follow STANDARDS.md (64.1200(a)(10)): stop, quit, end, revoke, opt out,
cancel, unsubscribe, plus the usual "don't call me" forms. One such word said alone
counts, whatever discourse words are around it ("okay, stop"); "cancel" alone is asked
about (the appointment, or the calls?).
"""

from __future__ import annotations

import re

from agent.grammar.normalize import has_phrase

OPT_OUT_PHRASES = (
    "stop calling", "don't call", "dont call", "do not call", "never call", "stop contacting",
    "take me off", "remove me", "remove my number", "no more calls", "stop these calls",
    "opt out", "opt me out", "optout", "unsubscribe", "revoke", "stop the calls",
    "stop texting", "no more messages", "leave me alone", "put me on your do not call",
    "cancel these calls", "cancel the calls", "cancel all calls", "cancel my subscription",
    "cancel the reminders", "cancel these reminders", "cancel reminders", "end these calls",
)
# Single opt-out words count when they are (nearly) all the caller said.
OPT_OUT_WORDS = frozenset({"stop", "quit", "end", "revoke", "unsubscribe", "cancel"})
# Discourse words around that one word leave it alone ("okay stop", "wait, stop", "yeah
# stop" were a yes or nothing; "go ahead and cancel", "you can cancel" a yes that confirmed
# the appointment): the opt-out holds, and a bare cancel is asked about.
_DISCOURSE = frozenset({"okay", "ok", "alright", "oh", "well", "hey", "wait", "so", "yes", "yeah",
                        "yep", "yup", "sure", "then", "already", "look", "listen", "go", "ahead",
                        "and", "you", "can", "fine"})
_OPT_OUT_PADDING = frozenset({"no", "please", "just", "it", "now", "that", "calling", "call", "the",
                              "this", "all", "i", "said", "want", "to", "right", "away", "me",
                              *_DISCOURSE})

# Not coming to the appointment: "I can't come", "we're not coming", "she won't make it".
NOT_COMING = re.compile(r"\b(?:not|won't|wont|will not|can't|cant|cannot|unable to|isn't|aren't)"
                        r"\s+(?:be\s+)?(?:going to\s+|gonna\s+|able to\s+)?(?:coming|come|"
                        r"make it|attend|attending|there|going)\b")


def is_opt_out(cleaned: str) -> bool:
    if any(has_phrase(cleaned, p) for p in OPT_OUT_PHRASES):
        return True
    words = cleaned.split()
    if not words:
        return False
    core = [w for w in words if w not in _OPT_OUT_PADDING]
    if len(core) == 1 and core[0] in OPT_OUT_WORDS:
        return True
    # "stop" leading the answer ("stop, I'm not interested", "okay, stop, I'm not
    # interested"), but not "stop by the office"
    while len(words) > 1 and words[0] in _DISCOURSE:
        words = words[1:]
    return words[0] in ("stop", "quit") and (len(words) == 1 or words[1] not in ("by", "in", "at"))


# Wanting words around a cancel said alone ("I need to cancel", "I'd like to cancel", "we
# have to cancel"): still a bare cancel, asked about. Kept out of the opt-out padding, where
# they would turn "I need to stop" into an opt-out.
_CANCEL_PADDING = frozenset({"need", "needs", "have", "has", "got", "gotta", "would", "like",
                             "i'd", "id", "we", "we'd", "we'll", "i'll", "will", "going", "gonna",
                             "wanna", "wanted", "let's", "lets", "unfortunately"})


def is_bare_cancel(cleaned: str) -> bool:
    """"cancel" alone: the appointment, or the calls? The engine asks."""
    core = [w for w in cleaned.split() if w not in _OPT_OUT_PADDING | _CANCEL_PADDING]
    return core == ["cancel"]


# A cancel or a move said not to be done: "please don't cancel my appointment", "no,
# don't cancel it", "cancel, not reschedule", "I do not need to move it". The negation's
# scope ends at its clause, and at a verb of coming: "we're not coming, cancel it" (the
# cancel was taken back) is a cancel.
_NOT = (r"\b(?:don't|dont|do not|not|never|won't|wont|will not|didn't|did not|no need to)\s+"
        r"(?:(?!coming\b|come\b|going\b|make\b|there\b|attend)\w+\s+){0,2}")
KEEP = re.compile(_NOT + r"(?:cancel|call it off)\b")
STAY = re.compile(_NOT + r"(?:reschedule|rebook|move|change|push|bump|postpone|put it off)\b")
