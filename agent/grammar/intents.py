"""Intents: yes/no and the phrases the workflows act on.

Each intent is a list of whole-word phrases matched on cleaned text; more specific
phrases win (a deny phrase such as "that's not right" is checked before the affirm
word "right"). Opt-out words follow STANDARDS.md (64.1200(a)(10)): stop, quit, end,
revoke, opt out, cancel, unsubscribe, plus the usual "don't call me" forms.
Beside it: ``yes_no_words`` (the phrases of a plain yes or no) and ``stop_cancel`` (an
opt-out, a cancel said alone, and a cancel or a move taken back).
"""

from __future__ import annotations

import re

from agent.grammar.hearing import NO_ENGLISH, NOT_HEARD
from agent.grammar.nonanswers import FETCH, I_MEAN, UNSURE, WHO, YEAH_NO, YES_BUT_NOT
from agent.grammar.normalize import clauses, clean, has_phrase
from agent.grammar.stop_cancel import KEEP, NOT_COMING, STAY, is_bare_cancel, is_opt_out
from agent.grammar.urgent import urgent
from agent.grammar.yes_no_words import AFFIRM_PHRASES, DENY_PHRASES

AGENT_PHRASES = (
    "talk to a person", "speak to a person", "talk to someone", "speak to someone",
    "speak with someone", "talk with someone", "speak with a person", "talk with a person",
    "real person", "a human", "real human", "human being", "representative", "operator",
    "an agent", "live agent",
    "the front desk", "talk to a human", "speak to a human", "transfer me", "receptionist",
    "talk to somebody", "speak to somebody", "customer service", "a nurse", "agent",
)
REPEAT_PHRASES = (
    "repeat that", "repeat", "say that again", "say it again", "what did you say", "pardon",
    "come again", "one more time", "didn't catch", "didn't hear", "didnt catch", "didnt hear",
    "could you say that", "can you say that", "sorry what", "what was that", "i missed that",
)
WRONG_NUMBER_PHRASES = (
    "wrong number", "no one by that name", "nobody by that name", "no one here by that name",
    "nobody here by that name", "doesn't live here", "does not live here", "don't know who that is",
    "dont know who that is", "don't know anyone", "no such person", "you have the wrong",
    "you've got the wrong", "not this number", "never heard of",
)
RESCHEDULE_PHRASES = (
    "reschedule", "re schedule", "change my appointment", "change the appointment", "change it",
    "move my appointment", "move the appointment", "move it", "different time", "different day",
    "another time", "another day", "other time", "can't make it", "cant make it",
    "cannot make it", "won't make it", "wont make it", "won't be able", "not be able to make",
    "later date", "push it back", "new time", "new appointment", "earlier appointment",
    "book", "schedule", "make an appointment", "postpone",
)
CANCEL_PHRASES = (
    "cancel my appointment", "cancel the appointment", "cancel it", "cancel that",
    "cancel this appointment", "cancel appointment", "call it off", "don't need the appointment",
    "no longer need", "don't need it anymore", "dont need it anymore",
)
DONT_KNOW_PHRASES = ("i don't know", "i dont know", "not sure", "no idea", "i'm not sure",
                     "don't remember", "dont remember", "can't remember", "i forget",
                     "dunno", "no clue", "beats me", "hard to say", "i couldn't say", "can't say",
                     "i'm unsure", "unsure", "who knows", "not certain", "couldn't tell you")
LATER_PHRASES = ("call me back", "call back later", "not a good time", "bad time", "i'm busy",
                 "im busy", "i'm driving", "im driving", "call later", "another time to talk",
                 "not right now", "not now", "call me later", "call later", "try me later",
                 "try again later", "i'm at work", "im at work", "i'm working", "can't talk",
                 "cant talk", "cannot talk", "in a meeting", "i'm in the car", "busy right now",
                 "bad moment", "not a good moment", "i'm out", "later please", "maybe later",
                 "some other time", "not today", "i'm with someone", "i'm at the doctor")
# The caller asks for a moment: to find a card, to think, to step somewhere quiet.
HOLD_PHRASES = ("hold on", "hang on", "one moment", "one sec", "one second", "one minute",
                "just a moment", "just a sec", "just a second", "just a minute", "bear with me",
                "hold please", "a moment please")
# A request for a moment that holds a number word: taken out before a value is read, so
# "one moment" is not the first of three offered times (nor one drink an evening), and
# "just a second" not the second time.
_HOLD_SPAN = re.compile(r"\b(?:one|just\s+a|(?:give|wait|allow)\s+(?:me\s+|us\s+)?(?:a|one))\s+"
                        r"(?:moment|sec|second|minute)s?\b", re.IGNORECASE)


def without_hold(text: str) -> str:
    """``text`` without its requests for a moment ("one moment, the second one" ->
    ", the second one")."""
    return _HOLD_SPAN.sub(" ", text)


DONE_PHRASES = ("that's all", "thats all", "nothing else", "that's it", "i'm done", "no more")
# Questions a caller asks at any point; the engine answers, then asks its question again.
ASK_WHO_PHRASES = (
    "who is this", "who's this", "whos this", "who is calling", "who's calling", "whos calling",
    "who are you", "who is speaking", "who am i speaking", "who am i talking", "who's that",
    "where are you calling from", "what company", "who do you work for", "who called",
    "what office is this", "what number is this",
)
ASK_PURPOSE_PHRASES = (
    "what's this about", "what is this about", "whats this about", "what's this regarding",
    "what is this regarding", "what's this for", "what is this for", "why are you calling",
    "what do you want", "what's the call about", "what is the call about", "what's it about",
    "what is it about", "what's this call", "what is this call", "reason for the call",
    "purpose of this call", "purpose of the call", "what are you calling about",
    "what's it regarding", "what is it regarding", "why did you call",
)
ASK_PROVIDER_PHRASES = (
    "which doctor", "what doctor", "who is the appointment with", "who's the appointment with",
    "who am i seeing", "who will i see", "who will i be seeing", "who am i going to see",
    "which provider", "what provider", "with which doctor", "who's the doctor",
    "who is the doctor", "is that with", "what's the doctor's name",
)
ASK_TIME_PHRASES = (
    "what time", "when is it", "when is that", "when was that", "when is the appointment",
    "when's the appointment", "when's my appointment", "when is my appointment", "what day",
    "what date", "which day", "when was it", "what's the date", "what was the date",
    "what was the time", "when do i come",
)
# Everyday questions about the clinic (where, when open, what number, insurance and cost,
# parking and what to bring): heard only in a turn shaped as a question (``_asks``), so a
# reason for a visit that mentions a cost or a car park is no question.
ASK_ADDRESS_PHRASES = ("your address", "the address", "directions", "your location",
                       "the location", "where you're located", "where you are located")
ASK_HOURS_PHRASES = ("your hours", "office hours", "opening hours", "business hours",
                     "hours of operation", "what hours", "open on weekends", "open on the weekend")
ASK_CALLBACK_PHRASES = ("callback number", "call back number", "your phone number",
                        "your number", "best number", "your telephone number")
ASK_BILLING_PHRASES = ("copay", "co pay", "co-pay", "deductible", "out of pocket", "in network",
                       "out of network", "the cost", "the price", "how much is a visit",
                       "how much is the visit", "how much is it")
ASK_VISIT_PHRASES = ("parking", "park", "what should i bring", "what do i need to bring",
                     "what do i bring", "should i bring", "do i need to bring", "do i need to fast",
                     "should i fast", "how early should i", "how early do i", "what to bring")
FAQ_INTENTS = ("ask_hours", "ask_address", "ask_callback", "ask_billing", "ask_visit")
QUESTION_INTENTS = ("ask_bot", "ask_who", "ask_purpose", "ask_provider", "ask_hours",
                    "ask_time", "ask_address", "ask_callback", "ask_billing", "ask_visit")
TEXT_ADDRESS_PHRASES = ("text me the address", "send me the address", "text me your address",
                        "text me directions", "send me directions", "text the address")
# A refill not wanted for a reason the clinic should hear: already filled, stopped, enough.
NOT_NEEDED_PHRASES = ("have plenty", "have enough", "still have some", "still have plenty",
                      "took me off", "no longer take", "no longer taking")
REFILL_PHRASES = ("refill", "renew", "more medication", "prescription", "need more")


# Looser patterns tried after the phrase lists: a verb and its object anywhere in the turn.
_W = r"(?:\w+\s+){0,4}"
_DAY_OR_TIME = (r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|"
                r"next week|morning|afternoon|evening|noon|\d{1,2}(?::\d\d)? ?(?:am|pm|a m|"
                r"p m|o'?clock)\b)")
PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    "opt_out": (
        re.compile(rf"\b(?:don't|dont|do not) want {_W}(?:calls|messages|texts|reminders)\b"),
        re.compile(rf"\b(?:take|remove|delete|drop) {_W}(?:number|me|name)\b {_W}"
                   r"(?:off|from)\b"),
        re.compile(r"\b(?:take|remove) my (?:number|name) off\b"),
        re.compile(r"\b(?:don't|dont|do not|never|stop|quit|cease) (?:\w+\s+){0,2}(?:call|"
                   r"calling|text|texting|contact)\b(?! (?:back|you|them)\b)"),
        re.compile(rf"\bno more {_W}(?:calls|messages|texts|reminders)\b"),
    ),
    "agent": (
        re.compile(rf"\b(?:speak|talk|connect|transfer|put me through) {_W}(?:human|person|"
                   r"someone|somebody|representative|staff|office|receptionist|nurse|"
                   r"scheduler|agent)\b"),
        NO_ENGLISH,
    ),
    "interpreter": (NO_ENGLISH,),  # also "agent": staff, told it is the language
    "repeat": NOT_HEARD,  # agent.grammar.hearing
    "ask_who": (re.compile(r"^who$"),),
    "wrong_number": (
        re.compile(r"\b(?:isn't|is not|not) (?:her|his|their|your) (?:phone|number)\b"),
        re.compile(r"\bno longer (?:her|his|their) (?:phone|number)\b"),
        re.compile(r"\b(?:doesn't|does not|don't|do not) (?:live|work) here\b"),
        # "nope, wrong person" as the whole answer ("wrong person, I'm her husband" is a
        # relative answering: a no, not a wrong number)
        re.compile(r"^(?:(?:no|nope|nah|sorry|oh)\s+)*(?:you have |you've got |you got |it's |"
                   r"its |that's |thats )?(?:the )?wrong (?:person|guy|gal|lady|man|woman|"
                   r"house|people)$"),
    ),
    "reschedule": (
        # "Yes but can we do 3pm instead", "could we do Friday instead?": another time
        # asked for beside a yes is a move, not a yes.
        re.compile(rf"\binstead\b.*\b{_DAY_OR_TIME}|\b{_DAY_OR_TIME}.*\binstead\b"),
        re.compile(rf"\bbut\b.*\b(?:can|could) (?:we|i|you)\b.*\b{_DAY_OR_TIME}"),
        re.compile(rf"\b(?:make|move|change|push|switch) {_W}(?:later|earlier|another|"
                   r"different|next week|other)\b|\bchange (?:the|my) (?:time|day|date)\b"),
        re.compile(r"\b(?:later|earlier) in the (?:week|day|month)\b"),
        re.compile(r"\b(?:another|different|other|new) (?:day|time|date|week|slot|spot|opening)\b"
                   r"|\b(?:later|earlier) (?:slot|spot|opening|day)\b"),
        # A moving verb with the appointment (or who comes) as its object: "push the
        # appointment to Friday", "bump it", "put it off", "move me to Monday"
        re.compile(rf"\b(?:push|bump|postpone|shift)\s+{_W}(?:appointment|appt|visit|checkup|"
                   r"check up|it|me|us|her|him)\b"),
        re.compile(r"\bput\s+(?:it|that|this|(?:my|the|our|her|his)\s+(?:appointment|visit))\s+"
                   r"off\b|\bput\s+off\s+(?:my|the|our|her|his)\s+(?:appointment|visit)\b"),
        re.compile(r"\bmove\s+(?:me|us|her|him)\b"),
        # "yes, but not that day", "not that time", "I can't do that day": the appointment's
        # day or time turned down (the yes was a confirmation); "not at this time" is a no
        re.compile(r"(?:^|\b(?:but|just|only) )not (?:on |at |for )?that (?:day|date|time)\b|"
                   r"\b(?:can't|cant|cannot) do (?:that|this) (?:day|date|time)\b"),
    ),
    "cancel": (
        re.compile(rf"\b(?:won't|wont|will not|don't|dont|do not|no longer) need {_W}"
                   r"appointment\b"),
        re.compile(rf"\bcancel {_W}(?:appointment|visit|it)\b|\b(?:can't|cant|cannot|won't|"
                   r"wont) make it\b.*\bcancel\b"),  # "I can't make it, please cancel"
        # "I can't come, so cancel please", "cancel, we're not coming": not coming says
        # what the cancel is of (the appointment, not the calls)
        re.compile(r"\bcancel\b.*" + NOT_COMING.pattern + "|" + NOT_COMING.pattern +
                   r".*\bcancel\b"),
    ),
    "deny": (
        re.compile(r"^(?:i )?(?:guess|suppose|reckon|imagine) not$"),  # a hedged no
        # the patient is not there: "she's not here", "he is not home" (not available)
        re.compile(r"\b(?:she|he|they)(?:'s|'re| is| are)? (?:not|isn't|isnt|aren't) "
                   r"(?:here|home|in|around|available)\b"),
        re.compile(r"\b(?:this is|it's|its|i'm|im|i am) (?:her|his|their|the|a) (?:husband|wife|"
                   r"son|daughter|mother|mom|father|dad|partner|caregiver|sister|brother|"
                   r"roommate|friend|nurse|aide|boyfriend|girlfriend|grandson|granddaughter)\b"),
    ),
    "later": (
        re.compile(r"\b(?:isn't|is not|not|isnt) (?:a |really a )?(?:good|great|convenient) "
                   r"(?:time|moment)\b"),
        re.compile(r"\b(?:call|ring|try|phone|reach) (?:me |us )?(?:back )?(?:later|tomorrow|"
                   r"another time|some other time|in an hour|this evening|tonight)\b"),
        re.compile(r"\b(?:i'm|im|i am) (?:driving|at work|busy|working|in the car|"
                   r"behind the wheel|on the road|in a meeting|with a patient|cooking)\b"),
        re.compile(r"\b(?:can't|cannot|can not) (?:talk|speak|do this) (?:right )?now\b"),
    ),
    "ask_time": (re.compile(r"^(?:and )?when(?: again)?$"),
                 re.compile(r"\bremind me (?:what|when|of the) (?:day|time|date)\b"),
                 re.compile(r"\bwhat (?:day|time|date) (?:was|is|did you say)\b")),
    "ask_provider": (re.compile(r"\bwith (?:who|whom)\b"),),
    "not_needed": (re.compile(r"\balready (?:picked (?:it |them )?up|got (?:it|them|one)|have "
                              r"(?:it|them|one|some)|filled|refilled|ordered)\b"),
                   re.compile(r"\b(?:don't|dont|do not|not|no longer) (?:take|taking|use|using)"
                              r"(?: (?:it|that|them|this|those))? ?(?:anymore|any more)\b"),
                   re.compile(r"\b(?:doctor|dr|physician|they|he|she) (?:stopped|discontinued|"
                              r"cancelled|canceled) (?:it|that|them|this)\b"),
                   # Care elsewhere now: "I moved to another doctor", "I see a new provider".
                   re.compile(r"\b(?:moved|switched|changed|went|transferred) (?:over )?to "
                              r"(?:another|a different|a new|other|my other) (?:doctor|clinic|"
                              r"provider|practice|office|physician)\b"),
                   re.compile(r"\b(?:see|seeing|have|found) (?:another|a different|a new) "
                              r"(?:doctor|clinic|provider|practice|physician)\b")),
    "change_pharmacy": (re.compile(r"\b(?:different|another|other|new) pharmacy\b"),
                        re.compile(r"\bchange (?:my |the )?pharmacy\b"),
                        re.compile(r"\bsend (?:it|that|them) to (?:the )?\w+(?: \w+){0,3} "
                                   r"instead\b")),
    # "She passed away", "my husband died last month", "he is deceased": the person the
    # call is about has died (a pet's death is not this: see _PET).
    "deceased": (re.compile(r"\b(?:he|she|they|him|her)(?:'s| is| has| had| was)?\s+"
                            r"(?:just\s+|recently\s+)?(?:passed away|passed on|passed(?!\s+"
                            r"(?:the|a|an|it|that|this|her|his|my|by|through|along|out)\b)|"
                            r"died|deceased|dead)\b"),
                 re.compile(r"\b(?:my|our|her|his|their)\s+(?:mom|mother|dad|father|husband|"
                            r"wife|son|daughter|grandma|grandpa|grandmother|grandfather|brother|"
                            r"sister|partner|aunt|uncle)\s+(?:(?:has|had|just|recently)\s+)?"
                            r"(?:passed|died)\b"),
                 re.compile(r"\b(?:passed away|is deceased|was deceased|no longer with us|"
                            r"no longer living|not alive)\b")),
    # "Are you a robot?", "is this a recording?", "am I talking to a real person?": asked
    # whether the voice is automated, the agent says so (an artificial voice, 47 CFR
    # 64.1200; state bot-disclosure laws).
    "ask_bot": (re.compile(r"\b(?:are you|is this|is that|was that|am i (?:talking|speaking) "
                           r"(?:to|with))\s+(?:just\s+)?(?:an?\s+)?(?:real\s+|actual\s+|live\s+)?"
                           r"(?:robot|bot|machine|computer|recording|recorded|automated|"
                           r"automatic|ai|a i|artificial|human|person)\b"),),
    "ask_address": (re.compile(r"\bwhere (?:are|r) (?:you|y'all|you guys)(?: guys)? (?:located|"
                               r"based|at)\b"),
                    re.compile(r"\bwhere(?: is|'s| s| are) (?:the|your|you're|you) ?(?:clinic|"
                               r"office|practice|building|located|offices|location)\b"),
                    re.compile(r"\bhow (?:do|can|would|should|will) (?:i|we) (?:get|find|come) "
                               r"(?:there|you|to you|to the (?:clinic|office)|to your office)\b")),
    "ask_hours": (re.compile(r"\b(?:are|r) (?:you|y'all|you guys|they) (?:still )?"
                             r"(?:open|closed)\b"),
                  re.compile(r"\b(?:is|will) (?:the |your )?(?:office|clinic|practice) (?:be )?"
                             r"(?:open|closed)\b"),
                  re.compile(r"\b(?:when|what time|what days?|how late|how early|until when) "
                             r"(?:are|do|does|will|is) (?:you|y'all|you guys|the office|the clinic|"
                             r"your office|the practice|it|they) (?:guys )?(?:be )?(?:open|close|"
                             r"closed|closing|opening)\b"),
                  re.compile(r"\b(?:when|what time) (?:do|does) (?:you|the office|the clinic) "
                             r"(?:open|close)\b")),
    "ask_callback": (re.compile(r"\bwhat(?:'s| is| s)? (?:the |a |your )?(?:best |right |good )?"
                                r"(?:phone |telephone |call ?back )?number\b(?! is this)"),
                     re.compile(r"\bhow (?:do|can|should|could|would) (?:i|we) (?:reach|contact|"
                                r"call|get (?:a )?hold of|get in touch with) (?:you|y'all|the "
                                r"office|the clinic|your office|someone)\b"),
                     re.compile(r"\bnumber (?:to|i can|i should|should i|can i) "
                                r"(?:call|reach|use)\b")),
    "ask_billing": (re.compile(rf"\b(?:take|accept|bill|cover|covered by|work with|in network "
                               rf"with)\b {_W}(?:insurance|plan|medicare|medicaid|coverage)\b"),
                    re.compile(r"\b(?:insurance|plan|medicare|medicaid) (?:cover|covers|pay|"
                               r"pays|accepted|taken)\b"),
                    re.compile(r"\b(?:cost|costs|price|pay for)\b"),
                    re.compile(r"\bhow much (?:is|will|would|does|do|did) (?:it|this|that|the|a|an|"
                               r"my|i)\b(?: \w+){0,3} (?:cost|be|pay|owe|charge)\b")),
    "hold": (re.compile(r"\b(?:give|wait|allow) (?:me |us )?(?:a|one) (?:moment|sec|second|"
                        r"minute)\b"),
             re.compile(r"\blet me (?:get|find|grab|check|look|see|think|pull|dig)\b"),
             re.compile(r"^(?:wait|hold)(?: please)?$"), FETCH),
    "dont_know": (UNSURE,),
    # Someone else's date of birth ("her birthday is ...", "he was born ..."): no proof that
    # the one speaking is the patient (it verified them, and the details followed).
    "proxy": (re.compile(r"\b(?:her|his|their) (?:date of birth|birth ?date|birthday|dob)\b|"
                         r"\b(?:she|he|they) (?:was|were|is) born\b|\bmy (?:mom|mother|dad|father|"
                         r"husband|wife|son|daughter|child|kid|grandma|grandmother|grandpa|"
                         r"grandfather|brother|sister|partner|aunt|uncle)'?s (?:date of birth|"
                         r"birth ?date|birthday|dob)\b"),),
    # "can you text me the address", "send the address to my phone"
    "text_address": (re.compile(rf"\b(?:text|send|message)\b {_W}(?:address|directions|"
                                r"location)\b"),),
    "affirm": (
        re.compile(r"^(?:yes |yeah |yep )?(?:this is|it's|its|it is) (?!her |his |their |not |"
                   r"the |my |a |an |about |regarding |fine|good|ok|okay|wrong|bad)"
                   r"[a-z']+(?: [a-z']+)?(?: speaking| here| yes)?$"),
        # "Robin here", "Testa speaking"; not "she's not here" (was a yes: the patient)
        re.compile(r"^(?![a-z']+ (?:not|isn't|isnt|aren't|ain't) )[a-z']+(?: [a-z']+)? "
                   r"(?:speaking|here)$"),
        re.compile(r"^(?:you bet|i guess so|guess so|i think so|that would be me|that'd be me|"
                   r"that's her|that's him|you got her|you got him|yes ma'am|yes sir|"
                   r"that's fine|why not|go ahead|please do)\b"),
        # A hedged yes as the whole answer: "I guess", "I suppose (so)", "I reckon".
        re.compile(r"^(?:i |i'd )?(?:guess|suppose|reckon|imagine)(?: so)?$"),
        # Coming, said as the answer: "he'll be there", "we'll come in", "count me in"
        re.compile(r"^(?:(?:yes|yeah|yep|ok|okay|sure|alright|oh)\s+)*(?:i|we|she|he|they)(?:'ll| "
                   r"will) (?:be there|be in|come|come in|make it|be coming|show up|attend)\b"
                   r"|^(?:(?:yes|yeah|sure|okay|ok)\s+)*count (?:me|us|her|him) in$"),
    ),
}


def _pattern_hit(cleaned: str, intent: str) -> bool:
    return any(p.search(cleaned) for p in PATTERNS.get(intent, ()))


# A turn shaped as a question: a question mark, a clause opening with a question word (after
# "and", "so", "yes", ...), or "I was wondering", "can you tell me".
_OPENERS = r"(?:(?:and|so|also|oh|okay|ok|yes|yeah|no|sorry|wait|well|hi|hello|but|then|um|uh)\s+)*"
_ASKING = re.compile(rf"(?:^|[,.;:!]\s*){_OPENERS}(?:what|what's|whats|where|where's|wheres|when|"
                     r"how|do|does|is|are|can|could|will|would|should|which|any|y'all|r u)\b|"
                     r"\b(?:wondering|want to know|wanted to know|like to know|need to know|"
                     r"tell me|curious)\b")


def _asks(text: str) -> bool:
    said = text.replace("\u2019", "'").lower().strip()
    return "?" in said or _ASKING.search(said) is not None


# A caller correcting themself: the answer after the last of these counts ("yes, no wait,
# no"; "no, sorry, I mean yes"). Fewer markers than ``normalize.after_correction`` (the
# slots' rule): a bare "no," is an answer here ("no, that's fine" is a no), not a marker.
_CORRECTION = re.compile(r"\b(?:wait|i mean|sorry|actually|scratch that|correction|make that)\b")


# Neither a yes nor a no: both said, or a yes taken back in Spanish on a call in English
# ("yes, pero el martes", "ok pero no", "ya basta"): the question is asked again.
_MIXED = re.compile(r"\b(?:yes and no|yes or no|no and yes|pero|sino|aunque|ya basta)\b")

def yes_no(text: str) -> bool | None:
    """True for yes, False for no, None when neither or both ("yes and no"). The earliest
    answer wins, the longest phrase where two start together ("no doubt" over "no"), and
    a correction's answer over what it corrects."""
    # "right now", "all right then" as a time word: not an answer
    cleaned = re.sub(r"\bright (?:now|away|here|there)\b", "",
                     clean(I_MEAN.sub(" actually ", text))).strip()
    if _MIXED.search(cleaned) or UNSURE.search(cleaned) or YES_BUT_NOT.search(cleaned):
        return None
    if YEAH_NO.search(cleaned):
        return False
    corrections = list(_CORRECTION.finditer(cleaned))
    if corrections:
        corrected = _earliest_answer(cleaned[corrections[-1].end():])
        if corrected is not None:
            return corrected
    return _earliest_answer(cleaned)


def _earliest_answer(cleaned: str) -> bool | None:
    """The answer of the phrase that starts first; of two that start together, the
    longer ("i can't" over "i can", "no doubt" over "no")."""
    best: tuple[int, int, bool] | None = None  # (start, -length, answer)
    for answer, phrases in ((False, DENY_PHRASES), (True, AFFIRM_PHRASES)):
        for phrase in phrases:
            m = re.search(rf"(?<![\w']){re.escape(phrase)}(?![\w'])", cleaned)
            if m and (best is None or (m.start(), -len(phrase)) < best[:2]):
                best = (m.start(), -len(phrase), answer)
    return None if best is None else best[2]


_PET = re.compile(r"\b(?:dog|cat|pet|puppy|kitten|bird|fish|hamster|horse|parrot|rabbit)\b")


def _overruled(text: str, cleaned: str, found: set[str]) -> set[str]:
    """Intents the rest of the utterance takes back: a cancel or a move said not to be
    done ("please don't cancel my appointment"), a person asked about rather than asked
    for ("am I talking to a real person?"), a pet's death ("my dog passed away")."""
    parts = clauses(text)
    out = {"cancel", "cancel_ambiguous"} if any(KEEP.search(c) for c in parts) else set()
    if any(STAY.search(c) for c in parts):
        out.add("reschedule")
    if "ask_bot" in found:
        out.add("agent")
    if _PET.search(cleaned):
        out.add("deceased")
    return out


def _answer(text: str, cleaned: str, found: set[str]) -> bool | None:
    """Yes, no or neither; a request to hear the question again answers nothing ("no, I
    didn't hear you"; "I can't hear you" was a no)."""
    if "repeat" in found or NO_ENGLISH.search(cleaned) or FETCH.search(cleaned):
        return None
    answer = False if _pattern_hit(cleaned, "deny") else yes_no(text)
    return True if answer is None and _pattern_hit(cleaned, "affirm") else answer


def _yes_stands(text: str, found: set[str]) -> bool:
    """A yes is the caller's answer unless a wrong number, an opt-out, a cancel or a move
    said with it is ("yes but can we do 3pm instead"); one that says who is on the line
    stands beside a move or a cancel ("speaking, and I want to cancel my appointment")."""
    if not found & {"wrong_number", "opt_out", "cancel", "cancel_ambiguous", "reschedule"}:
        return True
    return not found & {"wrong_number", "opt_out"} and any(
        WHO.match(c) or PATTERNS["affirm"][0].match(c) or PATTERNS["affirm"][1].match(c)
        for c in clauses(text))


def detect(text: str) -> frozenset[str]:
    """Every intent the utterance expresses; the engine picks by the state's order."""
    cleaned = clean(text)
    found: set[str] = set()
    if is_bare_cancel(cleaned):
        found.add("cancel_ambiguous")
    elif is_opt_out(cleaned) or _pattern_hit(cleaned, "opt_out"):
        found.add("opt_out")
    table = (
        ("agent", AGENT_PHRASES), ("interpreter", ()), ("repeat", REPEAT_PHRASES),
        ("wrong_number", WRONG_NUMBER_PHRASES), ("reschedule", RESCHEDULE_PHRASES),
        ("cancel", CANCEL_PHRASES), ("dont_know", DONT_KNOW_PHRASES),
        ("later", LATER_PHRASES), ("done", DONE_PHRASES), ("refill", REFILL_PHRASES),
        ("hold", HOLD_PHRASES), ("deceased", ()), ("proxy", ()), ("not_needed", NOT_NEEDED_PHRASES),
        ("change_pharmacy", ()), ("text_address", TEXT_ADDRESS_PHRASES),
        ("ask_bot", ()), ("ask_who", ASK_WHO_PHRASES), ("ask_purpose", ASK_PURPOSE_PHRASES),
        ("ask_provider", ASK_PROVIDER_PHRASES), ("ask_time", ASK_TIME_PHRASES),
        ("ask_address", ASK_ADDRESS_PHRASES), ("ask_hours", ASK_HOURS_PHRASES),
        ("ask_callback", ASK_CALLBACK_PHRASES), ("ask_billing", ASK_BILLING_PHRASES),
        ("ask_visit", ASK_VISIT_PHRASES),
    )
    asks = _asks(text)
    for name, phrases in table:
        if name in FAQ_INTENTS and not asks:
            continue
        if any(has_phrase(cleaned, p) for p in phrases) or _pattern_hit(cleaned, name):
            found.add(name)
    if "wrong_number" in found:
        return frozenset(found)
    found -= _overruled(text, cleaned, found)
    found |= urgent(cleaned)
    if "cancel" in found:
        found.discard("reschedule")
    answer = _answer(text, cleaned, found)
    if answer is True and _yes_stands(text, found):
        found.add("affirm")
    elif answer is False and "opt_out" not in found and not (
            "cancel" in found and NOT_COMING.search(cleaned)):  # the no is the not coming
        found.add("deny")
    if "i don't know" in cleaned or "dont know" in cleaned:
        found.discard("deny")
    if "repeat" in found:  # "I'm not sure what you're asking": unsure of the question
        found.discard("dont_know")
    if "later" in found:  # "not right now", "sure, but I'm driving": a deferral, not a yes
        found.discard("affirm")
    return frozenset(found)
