"""A caller who did not hear or follow the question, or who has no English.

- ``NOT_HEARD``: "I can't hear you", "you're cutting out", "I didn't quite get that",
  "could you go slower", "I don't understand the question": the question again, no
  answer ("I can't" was a no) and no miss; short forms only where they are the whole turn.
- ``NO_ENGLISH``: "no hablo inglés", "my English is not very good", "someone who speaks
  Spanish": staff, never a "no" (it ended the call as "not available"). A plain request
  for Spanish or English ("Spanish please", "¿habla inglés?") switches the call where the
  clinic has that language (``agent.grammar.language_request``, read before this
  grammar); what remains here (another language, a person who speaks it) goes to staff.
"""

from __future__ import annotations

import re

_LANGUAGES = (r"(?:spanish|español|espanol|english|ingles|inglés|vietnamese|chinese|mandarin|"
              r"cantonese|korean|russian|arabic|french|portuguese|tagalog|creole|polish|"
              r"italian|german|japanese|hindi|farsi|somali|hmong)")
_DEGREE = r"(?:very |so |too |that |all that |really )*"
NO_ENGLISH = re.compile(
    r"\b(?:no|not|don't|dont|do not|can't|cant|cannot) (?:speak |talk |understand |hablo )?"
    r"(?:english|ingles|inglés)\b|(?<!not )(?<!don't )(?<!dont )\bspeak spanish\b|"
    r"^(?:spanish|español|espanol)(?: please)?$|"
    rf"\bmy english (?:(?:is|isn't|isnt|is not|not) {_DEGREE}(?:not )?{_DEGREE})?"
    r"(?:bad|poor|limited|broken|weak)\b|"
    rf"\bmy english (?:isn't|isnt|is not|not) {_DEGREE}(?:good|great|well)\b|"
    r"(?<!don't )(?<!do not )\b(?:little|poor|bad|broken) english\b|"
    r"\b(?:someone|somebody|anyone|anybody|a person|interpreter|translator)\b.*"
    rf"\b(?:speaks?|speaking|talks?|in) {_LANGUAGES}\b|"
    rf"\b{_LANGUAGES} (?:speaker|speaking|interpreter|translator)\b|"
    r"\b(?:need|want|have) an? (?:interpreter|translator)\b")
NOT_HEARD = (
    re.compile(r"^(?:huh|what|sorry|excuse me|pardon me|eh|wait what|hello(?: hello)*|"
               r"(?:hello )?(?:are )?you (?:still )?there|(?:sorry )?what do you mean|"
               r"i (?:don't|dont|do not) (?:understand|follow)(?: the question| you| that)?|"
               r"what (?:are|was|were) you (?:asking|saying)(?: me)?)$"),
    re.compile(r"\b(?:repeat|say again|again please)\b"),
    re.compile(r"\b(?:can't|cant|cannot|can not|couldn't|couldnt|could not) hear\b|"
               r"\bdidn'?t (?:quite |really )?(?:get|catch|hear) (?:that|it|you|what)\b|"
               r"\bhard of hearing\b|\b(?:you're|youre|you are|it's|its) (?:breaking|"
               r"cutting) (?:up|out)\b|\byou (?:broke|cut) (?:up|out)\b|\b(?:speak|talk|"
               r"say it|go) (?:a (?:little|bit) )?(?:up|louder|slower|more slowly)\b|"
               r"^(?:(?:please )?(?:louder|slower|slow down)(?: please)?)$|\bslow down\b|"
               r"\bmissed (?:that|it|what you said)\b|\bdon'?t understand the question\b"),
)
