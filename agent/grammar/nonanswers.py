"""Replies that sound like a yes or a no and are neither.

- ``UNSURE``: "not sure", "not really sure", "no idea", "I'm not certain": the caller does
  not know ("sure" was read as a yes, "not really" and "no idea" as a no, and stored as a
  screening answer). So is a hedge said as the whole answer ("maybe", "perhaps not", "I
  might") and an answer put off to check it ("I'd have to check", "I need to ask my
  daughter"): neither a yes nor a no, so the question is asked again ("perhaps not" was a
  no). A hedge beside a value ("maybe the 5th") is no whole answer: the value is read.
- ``FETCH``: "yeah, hang on, I'll get her", "I'll get him", "she's coming": someone else
  answered and is fetching the patient; a request for a moment, not the patient's yes
  (the date of birth was asked of whoever answered).
- ``YES_BUT_NOT``: "yes, but not that day": the yes confirmed the appointment.
- ``YEAH_NO``: "yeah no, that's not me": a no (it was the patient's yes).
- ``I_MEAN``: "no, yes, I mean yes": a correction (``clean`` drops it as a hesitation).
- ``WHO``: "yes, that's me", "speaking": a yes that says who is on the line.
"""

from __future__ import annotations

import re

_PADS = r"(?:(?:well|oh|okay|ok|yes|yeah|no|i|guess|think|so|hmm)\s+)*"
UNSURE = re.compile(r"\b(?:not|never) (?:\w+ ){0,3}(?:sure|certain)\b|\bno (?:idea|clue)\b|"
                    r"\b(?:don't|dont|do not) know\b|\bunsure\b|"
                    rf"^{_PADS}(?:maybe|perhaps|possibly|might be|could be|quiza|quizas|quizá|"
                    r"quizás|tal vez)(?: (?:so|not|yes|no|yeah|i guess|i think))?$|"
                    rf"^{_PADS}(?:i|we|she|he|it|that|they) (?:might|may)(?: (?:be|not|do|come|"
                    r"go))?$|"
                    rf"^{_PADS}(?:i'd|i would|i'll|i will|i|we'd|we'll|we|i'll just|i just) "
                    r"(?:have|need|got|want) to (?:check|look|ask|think|find out|talk to|confirm|"
                    r"see if|see what|double check)\b")
FETCH = re.compile(r"\b(?:i'll|ill|i will|let me|i'm going to|i'm gonna|i can) (?:go )?"
                   r"(?:get|grab|fetch|call) (?:her|him|them|my \w+)\b|\b(?:she's|he's|she is|"
                   r"he is) (?:coming|on (?:her|his) way)\b")

# A yes with the day or time taken back: "yes, but not that day", "yes, just not on
# Tuesday": neither a yes nor a no to the question (the yes confirmed the appointment).
YES_BUT_NOT = re.compile(
    r"\b(?:yes|yeah|yep|yup|sure|ok|okay|fine)\b.*\b(?:but|just|only|except) not (?:then\b|"
    r"(?:on |at |in |for )?(?:(?:that|this|the|those) )?(?:today|tomorrow|mondays?|tuesdays?|"
    r"wednesdays?|thursdays?|fridays?|saturdays?|sundays?|mornings?|afternoons?|evenings?|"
    r"time|day|date|week|hour)\b)")
# "Yeah, no" ("yeah nah"): the everyday way of saying no ("yeah no, that's not me"), unless it is
# "yeah, no problem" or "yeah, no worries".
YEAH_NO = re.compile(r"^(?:yeah|yea|ya) (?:no|nah)\b(?! (?:problem|problems|worries|worry|doubt|"
                     r"question|questions))")
# "I mean" is a hesitation to ``clean`` but a correction to a yes or no ("no, yes, I mean
# yes"): read as "actually" before cleaning.
I_MEAN = re.compile(r"\bi mean(?:t)?\b", re.IGNORECASE)
# "Yes, that's me", "Testa speaking", "yes this is Testa": a yes that says who is on the
# line, in a clause of its own. It stands beside a wish to move the appointment said in
# the same breath ("yes this is Testa, ..., and I'd like to reschedule": the identity
# question was asked again, the wish was all that was heard).
WHO = re.compile(r"^(?:(?:yes|yeah|yep|yup)\s+)?(?:that's me|thats me|it's me|its me|"
                 r"this is (?:he|she|him|her)|speaking)$")
