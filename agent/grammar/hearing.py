"""A caller who did not hear or follow the question, or who has no English.

- ``NOT_HEARD``: "I can't hear you", "you're cutting out", "I didn't quite get that",
  "could you go slower", "I don't understand the question": the question again, no
  answer ("I can't" was a no) and no miss; short forms only where they are the whole turn.
  The line itself reported ("the line is breaking up", "I lost you there", "can you hear
  me?", "we got cut off") and the question asked for ("what was the question?", "what did
  you ask?") are the same: the question again, never an answer, an opt-out or a wrong
  number ("sorry, I lost you there" was no answer and a missed turn).
- ``NO_ENGLISH``: "no hablo inglés", "my English is not very good", "someone who speaks
  Spanish", "I don't speak much English", "only Vietnamese", "no understand", "a
  translator": staff, never a "no" (it ended the call as "not available"; "sorry, no
  understand" was a no). A plain request for Spanish or English ("Spanish please", "¿habla
  inglés?") switches the call where the clinic has that language
  (``agent.grammar.language_request``, read before this grammar); what remains here
  (another language, a person who speaks it) goes to staff.
"""

from __future__ import annotations

import re

from agent.grammar import pace
from agent.grammar.normalize import clean

_LANGUAGES = (r"(?:spanish|español|espanol|english|ingles|inglés|vietnamese|chinese|mandarin|"
              r"cantonese|korean|russian|arabic|french|portuguese|tagalog|creole|polish|"
              r"italian|german|japanese|hindi|farsi|somali|hmong)")
# Languages other than English: "I only speak Vietnamese" (never "I only speak English").
_OTHER = (r"(?:spanish|español|espanol|vietnamese|chinese|mandarin|cantonese|korean|russian|"
          r"arabic|french|portuguese|tagalog|creole|polish|italian|german|japanese|hindi|"
          r"farsi|somali|hmong)")
_DEGREE = r"(?:very |so |too |that |all that |really )*"
# How much English: "much", "very good", "a lot of" ("I don't speak much English").
_AMOUNT = r"(?:much |a lot of |very much |(?:very |so |too |that |really )?(?:good|well) )?"
NO_ENGLISH = re.compile(
    r"\b(?:no|not|don't|dont|do not|can't|cant|cannot) (?:speak |talk |understand |hablo |know )?"
    rf"{_AMOUNT}(?:english|ingles|inglés)\b|(?<!not )(?<!don't )(?<!dont )\bspeak spanish\b|"
    r"^(?:spanish|español|espanol)(?: please)?$|"
    rf"\bmy english (?:is |isn't |isnt |is not |not )?{_DEGREE}(?:not )?{_DEGREE}"
    r"(?:bad|poor|limited|broken|weak|so so)\b|"
    rf"\b(?:my )?english (?:is )?(?:isn't|isnt|is not|not|no) {_DEGREE}(?:good|great|well|"
    r"my (?:first |native |main )?language)\b|"
    r"(?<!don't )(?<!do not )\b(?:little|poor|bad|broken)(?: bit)?(?: of)? english\b|"
    rf"^{_OTHER}(?: please)?$|(?<!not )(?<!don't )(?<!dont )\bspeak {_OTHER}\b|"
    r"\b(?:trouble|difficulty|a hard time|problems?) (?:with|understanding|speaking) english\b|"
    r"\benglish is (?:hard|difficult|not easy)\b|"
    rf"\bonly (?:speak |talk |understand )?{_OTHER}\b|\b(?:speak|talk|understand) only "
    rf"{_OTHER}\b|(?<!do )(?<!does )\bno (?:understand|comprendo|entiendo)\b|"
    r"\b(?:someone|somebody|anyone|anybody|a person|interpreter|translator)\b.*"
    rf"\b(?:speaks?|speaking|talks?|in) {_LANGUAGES}\b|"
    rf"\b{_LANGUAGES} (?:speaker|speaking|interpreter|translator)\b|"
    r"\b(?:interpreter|translator)\b")
# The line and what is wrong with it ("the connection is really bad", "bad line"). Only
# "is", "really" and the like between them: "the line at the pharmacy was awful" is no
# report of this call's line.
_LINE = r"(?:line|connection|signal|audio|phone line)"
_LINK = r"(?: (?:is|was|keeps|kept|really|very|so|just|pretty|quite|super|a bit|a little|all))*"
_BAD = (r"(?:bad|poor|terrible|awful|weak|choppy|crackl\w*|static\w*|fuzzy|garbled|breaking up|"
        r"broke up|cutting (?:out|off|in and out)|cut (?:out|off)|dropp(?:ed|ing)(?: out)?|"
        r"(?:isn't|isnt|is not|not) (?:very )?clear)")
# The caller no longer hears the agent ("you keep cutting out", "we got cut off"); said
# of "it" or "the call" only for the line's own words ("it faded" may be a rash).
_CUT = r"(?:breaking up|broke up|cutting out|cut out|cutting off|cut off|dropped out|dropping out)"
_GONE = (rf"{_CUT}|dropp(?:ed|ing)|went (?:quiet|silent|dead)|gone quiet|fading(?: out)?|faded"
         r"(?: out)?|choppy|garbled|muffled|crackling|disconnected|(?:sound|sounds|sounding) "
         r"(?:really |very |so |kind of |a bit |a little )?(?:far away|distant|faint|quiet|"
         r"muffled|robotic|garbled|choppy)")
_HEAR = (r"(?:really |quite )?hear(?: (?:you|that|it|what|anything|a thing|a word|the "
         r"question|your|properly|clearly|very well)\b| well$|$)")
NOT_HEARD = (
    re.compile(r"^(?:huh|what|sorry|excuse me|pardon me|eh|wait what|hello(?: hello)*|"
               r"(?:hello )?(?:are )?you (?:still )?there|(?:sorry )?what do you mean|"
               r"i (?:don't|dont|do not) (?:understand|follow)(?: the question| you| that)?|"
               r"what (?:are|was|were) you (?:asking|saying)(?: me)?)$"),
    re.compile(r"\b(?:repeat|say again|again please)\b"),
    # Not hearing the agent ("I can't hear you", "I can barely hear"), never the caller's
    # own hearing ("I can't hear out of my left ear" is a reason for a visit).
    re.compile(rf"\b(?:can't|cant|cannot|can not|couldn't|couldnt|could not) {_HEAR}|"
               r"\bdidn'?t (?:quite |really )?(?:get|catch|hear) (?:that|it|you|what)\b|"
               r"\bhard of hearing\b|\b(?:you're|youre|you are|it's|its) (?:breaking|"
               r"cutting) (?:up|out)\b|\byou (?:broke|cut) (?:up|out)\b|\b(?:speak|talk|"
               r"say it|go) (?:a (?:little|bit) )?(?:up|louder|slower|more slowly)\b|"
               r"^(?:(?:please )?(?:louder|slower|slow down)(?: please)?)$|\bslow down\b|"
               r"\bmissed (?:that|it|what you said)\b|\bdon'?t understand the question\b|"
               rf"\b(?:can|could) (?:barely|hardly|only just|not really) {_HEAR}|"
               # "I can't understand you" (was a no: "I can't"), "can't make out what you said"
               r"\b(?:can't|cant|cannot|can not|couldn't|couldnt|could not) (?:really )?"
               r"(?:understand|make out) (?:you|what you|that|what)\b|"
               # the question or what was said, not the answer, is what the caller is unsure of
               r"\b(?:not sure|don't know|dont know|do not know) what you(?:'re| are)? "
               r"(?:asking|saying|mean|want|need)\b|"
               r"^(?:(?:a )?(?:little )?(?:bit )?(?:louder|slower|more slowly)(?: please)?)$|"
               r"\b(?:speak|talk|say it|go|read it) (?:a (?:little|bit) )?(?:more )?slowly\b|"
               r"^(?:once more|one more time|again)(?: please)?$"),
    # The line itself: "the line is breaking up", "bad connection", "I lost you there",
    # "we got cut off", "you went quiet", "can you hear me?", "is anyone there?".
    re.compile(rf"\b{_LINE}{_LINK} {_BAD}\b|\b(?:bad|poor|terrible|awful|weak) (?:line|"
               r"connection|signal|reception)\b|\b(?:you|we|you're|youre|you are|we're|your "
               r"voice(?: is)?) (?:keeps? |kept |just |got |get |were |are |have been |totally |"
               rf"really |all )*(?:{_GONE})\b|\b(?:it|it's|its|it is|the call|this call) "
               rf"(?:keeps |kept |just |is |was |got )*{_CUT}\b|\b(?:lost|losing) you\b|"
               r"\b(?:can|could|do) you (?:still |even )?hear me\b|^you hear me\b|"
               r"\b(?:the|this|my|your) (?:call|line|phone) (?:just )?(?:dropped|cut out|went "
               r"dead)\b|\b(?:are )?you (?:still )?on the line\b|\becho on the line\b|"
               r"\bevery other word\b|"
               r"^(?:hello )*(?:is )?(?:anyone|anybody|someone|somebody) (?:there|on the line)\b"),
    # The question asked for: "what was the question?", "I missed the question", "what
    # did you (just) ask?", "could you ask that again?", "what did you want to know?".
    re.compile(r"\bwhat(?: was|'s| s| is) (?:the|that|your) question\b|\b(?:missed|"
               r"didn'?t (?:get|catch|hear|follow|understand)|repeat|say|ask me|ask) (?:the|that|"
               r"your) question\b|\b(?:don'?t|do not|did not) (?:get|follow|understand) (?:the|"
               r"that|your) question\b|\bwhat did you (?:just )?(?:ask|say|want|need)\b|"
               r"\bwhat(?:'s| is| was) (?:that|it) you (?:said|asked|say|ask)\b|"
               r"\b(?:ask|say) (?:that|it|me that|the question) (?:again|one more time|"
               r"once more)\b"),
    # Slower, please ("you're talking too fast"): the question again, said slower
    # (``agent.grammar.pace``; was no match, a missed turn).
    pace.ENGLISH,
)


_SPANISH = re.compile(r"\b(?:spanish|español|espanol)\b")


def asks_for_spanish(text: str) -> bool:
    """English words that say the caller needs Spanish ("Spanish please", "I only speak
    Spanish", "my English is bad, Spanish?"); "I don't speak Spanish" is not one."""
    cleaned = clean(text)
    return NO_ENGLISH.search(cleaned) is not None and _SPANISH.search(cleaned) is not None
