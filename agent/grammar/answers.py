"""Answers beyond yes and no: how often, cancel-or-stop, yes/no read from a frequency.

``frequency`` maps the PHQ-style scale (not at all / several days / more than half the
days / nearly every day) and everyday frequency words to 0-3. ``screening_yes_no``
reads a yes/no question's answer from a plain yes or no, else from a frequency or a
description, with the threshold the question asks for (``often`` questions need more
than "now and then"). ``cancel_or_stop`` reads the answer to "cancel your appointment,
or stop calls?": None when unclear, so the engine asks again rather than guess.
"""

from __future__ import annotations

import re

from agent.grammar.intents import yes_no
from agent.grammar.nonanswers import UNSURE
from agent.grammar.normalize import clauses, clean
from agent.grammar.stop_cancel import is_bare_cancel, is_opt_out

# Longest phrases first within a level; checked from the most specific level down.
_FREQUENCY: tuple[tuple[int, tuple[str, ...]], ...] = (
    (2, ("more than half the days", "more than half the time", "more than half", "most days",
         "most of the time", "most nights", "a lot of the time", "more often than not",
         "half the time", "pretty often", "quite often", "frequently", "often", "usually",
         "regularly")),
    (3, ("nearly every day", "nearly every night", "almost every day", "almost every night",
         "every day", "every night", "every single day", "every single night", "all the time",
         "constantly", "always", "daily", "nightly", "each day", "each night", "every morning",
         "every evening", "non stop", "nonstop", "24/7")),
    (0, ("not at all", "never", "hardly ever", "hardly", "rarely", "almost never", "not really",
         "not ever", "none of the days", "no days", "seldom", "once in a blue moon",
         "barely ever", "not that i know of", "not that i'm aware")),
    (1, ("several days", "a few days", "some days", "a couple of days", "a couple days",
         "sometimes", "occasionally", "once in a while", "now and then", "now and again",
         "every now and then", "once or twice", "here and there", "a little", "a bit",
         "a few times", "off and on", "on and off", "from time to time", "every so often",
         "once a week", "twice a week", "a couple times", "kind of", "sort of", "somewhat")),
)
# Descriptions that answer "do you ...?" with a strong yes ("I snore really loud").
_STRONG = re.compile(r"\b(?:really|very|so|super|extremely|terribly|badly|bad|a lot|loud|"
                     r"loudly|terrible|awful|all night|constantly)\b")


# A habit that has ended answers "do you ...?" with no: "I quit last year", "not since
# last year", "yes, I used to, but not now".
_ENDED = re.compile(r"\b(?:i (?:quit|stopped|gave (?:it |that )?up)|not since|no longer|"
                    r"used to\b.*\b(?:but|not|anymore|any more))\b")


def frequency(text: str) -> int | None:
    """0 not at all, 1 several days, 2 more than half the days, 3 nearly every day."""
    cleaned = " | ".join(clauses(text))
    hits: list[tuple[int, int, int]] = []  # (position, -length, level)
    for level, phrases in _FREQUENCY:
        for phrase in phrases:
            m = re.search(rf"(?<![\w']){re.escape(phrase)}(?![\w'])", cleaned)
            if m:
                said = _negated(level) if _is_negated(cleaned, m.start(), m.end()) else level
                if said is not None:
                    hits.append((m.start(), -len(phrase), said))
    if not hits:
        return None
    # The longest phrase at the earliest position: "almost never" over "never".
    first = min(h[0] for h in hits)
    spanning = [h for h in hits if h[0] <= first + 1]
    level = min(spanning, key=lambda h: h[1])[2] if spanning else min(hits)[2]
    return None if level == _UNSURE else level


# A frequency said not to hold: "not often" is rarely (0); "not every day", "not always"
# is somewhere below every day (1 or 2: no value, asked again); "not sometimes" and
# "not never" say nothing by themselves. Read before the phrase ("not very often") or
# right after it ("usually not").
_NEGATORS = frozenset({"not", "don't", "dont", "doesn't", "doesnt", "isn't", "isnt",
                       "wouldn't", "wouldnt", "aren't", "arent", "didn't", "didnt"})
_INTENSIFIERS = frozenset({"very", "that", "so", "too", "really", "all", "quite", "exactly"})
_UNSURE = -1


def _is_negated(cleaned: str, start: int, end: int) -> bool:
    """In the same clause: a negator just before ("not very often"), or one word before
    that ("I don't snore that often", "I wouldn't say never"), or "not" right after."""
    before = cleaned[:start].rsplit("|", maxsplit=1)[-1].split()
    while before and before[-1] in _INTENSIFIERS:
        before.pop()
    after = cleaned[end:].split()
    return any(w in _NEGATORS for w in before[-2:]) or bool(after and after[0] == "not")


def _negated(level: int) -> int | None:
    return {2: 0, 3: _UNSURE}.get(level)


# A question the caller will not answer: "I'd rather not say", "prefer not to answer",
# "no comment", "I won't answer that", "skip", "pass". Recorded as DECLINED, a value of its
# own, never read as a yes or a no ("no comment" is no "no"); the questionnaire moves on.
DECLINED = "declined"
_DECLINES = re.compile(
    r"\b(?:(?:rather|prefer(?:red)?|like) not (?:to )?(?:say|answer|tell|share|discuss|get into|"
    r"talk about|go into)|(?:don't|dont|do not|won't|wont|will not|not going to|refuse to|"
    r"decline to|not comfortable|uncomfortable) (?:want to |like to |gonna )?(?:say|answer|"
    r"answering|saying|tell|telling|share|sharing|discuss|discussing|get into|talk about)|"
    r"no comment|none of your business|(?:that's|thats|that is|it's|its) (?:private|personal)|"
    r"(?:i'll|ill|i will|let me|i'd like to|can i|can we|could we|let's|lets) (?:pass|skip)|"
    r"next question|keep that to myself)\b|^(?:skip|pass|skip it|skip that|skip this one|"
    r"skip that one)$")


def declined(text: str) -> bool:
    """The caller declines to answer the question (no yes, no no, no number)."""
    return _DECLINES.search(clean(text)) is not None


def screening_yes_no(text: str, *, often: bool = False) -> bool | str | None:
    """Yes/no to a screening question; ``often`` questions need "more than half the days";
    :data:`DECLINED` when the caller will not answer."""
    if declined(text) or UNSURE.search(clean(text)):  # "not sure" was a yes, "no idea" a no
        return DECLINED if declined(text) else None
    if re.match(r"not (?:right now|now|currently|anymore|any more|these days|lately|at the "
                r"moment|at present|presently)\b",
                clean(text)) or _ENDED.search(clean(text)):
        return False  # "do you take sleeping pills?" "not right now": a no, not a deferral
    level = frequency(text)
    if level is not None:
        return level >= (2 if often else 1)
    answer = yes_no(text)
    if answer is not None:
        return answer
    cleaned = clean(text)
    if _STRONG.search(cleaned) and not re.search(r"\b(?:not|don't|dont|never|no)\b", cleaned):
        return True
    return None


_APPOINTMENT = re.compile(r"\b(?:appointment|appointments|appt|visit|booking|the doctor|"
                          r"the one on|reservation)\b")
_CALLS = re.compile(r"\b(?:calls|calling|call me|reminders|messages|phone calls|texts|"
                    r"stop calls|contact)\b")
_NEGATED = r"\b(?:not|no|don't|dont|keep)\s+(?:the\s+|my\s+)?"


def cancel_or_stop(text: str) -> str | None:
    """"appointment", "stop_calls", or None when the answer does not say which."""
    cleaned = clean(text)
    # a bare "cancel" ("yeah cancel", "go ahead and cancel") says not which: asked again
    calls = bool(_CALLS.search(cleaned)) or (is_opt_out(cleaned) and not is_bare_cancel(cleaned))
    appointment = bool(_APPOINTMENT.search(cleaned))
    if re.search(_NEGATED + r"(?:calls|reminders|messages)\b", cleaned):
        calls = False
    if re.search(_NEGATED + r"(?:appointment|visit)\b", cleaned):
        appointment = False
    if cleaned in ("one", "1", "number one", "the first", "the first one"):
        appointment = True
    if cleaned in ("nine", "9", "number nine", "the second", "the second one", "stop"):
        calls = True
    if calls and not appointment:
        return "stop_calls"
    if appointment and not calls:
        return "appointment"
    if calls and appointment and re.search(r"\b(?:both|either|also|too|and)\b", cleaned):
        return "stop_calls"
    return None
