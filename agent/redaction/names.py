"""Names said after a lead ("my name is", "this is", "for"), after a title ("Doctor"),
or before "here"/"speaking"; and the words that are no name (``agent.redact`` uses it)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from agent.redaction.common_words import is_common_word
from agent.redaction.span import Span
from agent.redaction.span import latin as _latin

NAME_HERE = re.compile(_latin(
    r"(?:^|[.!?]\s+)([A-Z][a-z'-]+(?:\s+[A-Z][A-Za-z'-]+)?)\s+(?:here|speaking|calling)\b"))

_NAME_LEAD = re.compile(
    r"\b(?:my name is|my name's|name is|this is|i am|i'm|im|it's|call me|speaking with|"
    r"speak (?:to|with)|talk (?:to|with)|ask for|patient|husband|wife|son|daughter|mother|"
    r"under the name|the name|named|"
    r"father|mom|dad|for|[ms]e llam[ao]|mi nombre es|soy|habla)\s*,?\s+", re.I)
# Particles between the words of a name ("Juana de la Cruz", "Ana van der Berg"): lower
# case, never a name on their own (nor redacted wherever said: ``agent.transcript_text``).
PARTICLES = frozenset({"de", "del", "la", "las", "los", "el", "y", "da", "di", "do", "dos",
                       "van", "von", "der", "le", "du"})
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "doctor", "nurse"})
_TITLE = re.compile(_latin(
    r"\b(?i:mr|mrs|ms|miss|dr|doctor|nurse)\.?\s+([A-Z][A-Za-z'-]+(?:\s+[A-Z][A-Za-z'-]+)?)"))
_NAME_WORD = re.compile(_latin(r"[A-Za-z][A-Za-z'-]*"))
_MORE_NAMES = re.compile(_latin(r",\s+((?:[A-Z][A-Za-z'-]+\s?){1,3})"))
_NOT_NAMES = frozenset({
    "i", "yes", "no", "not", "the", "a", "an", "calling", "here", "fine", "good", "great", "sorry",
    "so", "just", "going", "trying", "sure", "okay", "ok", "available", "busy", "speaking", "me",
    "it", "that", "this", "what", "about", "your", "my", "his", "her", "their", "our", "in",
    "on", "at", "to", "from", "with", "and", "or", "but", "hoping", "looking", "able",
    "sick", "feeling", "home", "out", "back", "done", "ready", "afraid",
    "glad", "happy", "new", "having", "still", "also", "very", "really", "appointment",
    "today", "tomorrow", "is", "was", "be", "been", "call", "wondering", "confused",
    "correct", "right", "wrong", "there", "she", "he", "they", "we", "you", "would", "like",
    "need", "want", "cancel", "confirm", "reschedule", "afternoon", "morning", "evening",
    "medicare", "medicaid", "insurance", "over", "under", "diabetic", "pregnant", "allergic",
    "sleeping", "waiting", "late", "early", "him", "them", "us", "someone", "somebody", "y", "yo",
    # contractions and question words: "I'm calling about ..." (before "calling" it read as
    # a name), "Doctor Who is on call?", "Doctor, when can I come?"
    "i'm", "im", "we're", "you're", "they're", "he's", "she's", "it's", "that's", "there's",
    "who's", "who", "when", "where", "why", "how", "which", "whose",
})
# Languages, clinic departments and phone-menu words: no names after a weak lead ("For
# English press two", "For Billing", "Is this for Radiology?", "This is Reception").
_MENU = """
english spanish español espanol french german italian portuguese chinese mandarin cantonese
vietnamese korean russian arabic tagalog hindi polish creole japanese farsi somali hmong
billing payments payment accounts records reception receptionist scheduling refills refill
prescriptions prescription pharmacy lab labs laboratory imaging radiology cardiology
dermatology neurology oncology pediatrics orthopedics obstetrics gynecology urology
psychiatry behavioral therapy surgery nursing triage emergency emergencies urgent operator
directory hours directions option options menu questions question
"""
_MENU_WORDS = frozenset(_MENU.split())
# Leads of who is speaking or asked for, after which a name in lower case (as speech
# recognition often writes it) is taken: two words that are no common word, or one before
# "speaking", "calling" or "here" ("this is testa patientson", "it's testa calling").
_IDENTITY_LEADS = frozenset({"this is", "i am", "i'm", "im", "it's", "speaking with",
                             "speak to", "speak with", "talk to", "talk with", "ask for"})
_NOT_NAME_ENDING = re.compile(r"(?:ing|ed|ous|ful|less|ive|ible|able|ly)$")
_SAYS_WHO = re.compile(r"\s+(?:speaking|calling|here)\b")


def known_name_parts(names: Iterable[str]) -> frozenset[str]:
    """The words of the patient's own names, lower case."""
    return frozenset(part.lower() for name in names for part in name.split())


def not_a_name(word: str, known_parts: frozenset[str], *, strong: bool = False) -> bool:
    """A word is no name when it is a stop word, a title, or (after a weak lead) a common
    English word the patient is not known by. Capitalisation is no evidence: ASR and
    sentence case capitalise "Stop" in "Stop calling me"."""
    lower = word.lower()
    if lower in known_parts:
        return False
    if lower in _NOT_NAMES or lower in _TITLES:
        return True
    base = lower.removesuffix("'s")  # "For Mother's Day"
    return not strong and (is_common_word(base) or base in _MENU_WORDS)


def _lowercase_name(text: str, at: int, words: list[re.Match[str]],
                    known_parts: frozenset[str]) -> Span | None:
    """A name in lower case right after an identity lead at ``at``, or None."""
    picked: list[re.Match[str]] = []
    for w in words[:2]:
        word = w.group(0)
        if (not word.islower() or not_a_name(word, known_parts)
                or _NOT_NAME_ENDING.search(word.lower())):
            break
        if picked and text[at + picked[-1].end():at + w.start()].strip():
            break
        picked.append(w)
    if not picked:
        return None
    end = at + picked[-1].end()
    if len(picked) == 1 and not _SAYS_WHO.match(text, end):
        return None  # "this is urgent": one lowercase word alone is no evidence
    return Span(at + picked[0].start(), end, "NAME")


def name_spans(text: str, known_parts: frozenset[str] = frozenset()) -> list[Span]:
    out: list[Span] = []
    for m in _NAME_LEAD.finditer(text):
        lead = m.group(0).strip().lower()
        words = list(_NAME_WORD.finditer(text[m.end():m.end() + 40]))
        picked: list[re.Match[str]] = []
        strong = lead in ("my name is", "my name's", "name is", "call me", "mi nombre es",
                          "me llamo", "se llama", "me llama", "se llamo")
        named = 0
        for w in words[:6]:
            word = w.group(0)
            particle = bool(picked) and word.lower() in PARTICLES  # "Juana de la Cruz"
            if not particle and (named == 3 or not_a_name(word, known_parts, strong=strong)
                                 or (not strong and not word[0].isupper())):
                break
            if picked and text[m.end() + picked[-1].end():m.end() + w.start()].strip():
                break  # punctuation between words ends the name
            picked.append(w)
            named += not particle
        while picked and picked[-1].group(0).lower() in PARTICLES:
            picked.pop()  # "Soy Juana de" ends at Juana
        if not picked and not strong and lead in _IDENTITY_LEADS:
            lowercase = _lowercase_name(text, m.end(), words, known_parts)
            out += [lowercase] if lowercase is not None else []
        if picked:
            start, end = m.end() + picked[0].start(), m.end() + picked[-1].end()
            # "I'm Fakey, Fakey McSample": a capitalised name said again after a comma
            more = _MORE_NAMES.match(text[end:])
            if more and not any(not_a_name(w, known_parts) for w in more.group(1).split()):
                end += more.start(1) + len(more.group(1).rstrip())
            out.append(Span(start, end, "NAME"))
    for m in _TITLE.finditer(text):
        if not not_a_name(m.group(1).split()[0], known_parts, strong=True):
            out.append(Span(m.start(1), m.end(1), "NAME"))
    return out
