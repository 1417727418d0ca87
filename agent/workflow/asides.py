"""What the caller says beside the question: questions back, deferrals, volunteered answers.

Pure tables and functions the engine consults on every turn (no I/O, no clock):

- ``answer_prompts``: a question asked at any point ("who is this?", "what's this
  about?", "which doctor?", "what time?", "where are you located?", "are you open
  Saturday?", "do you take my insurance?") is answered, then the engine asks its own
  question again. The clinic's address, hours and number come from its record; what
  they cannot answer (insurance, cost, parking, what to bring) is handed plainly to
  staff ("say representative"), never guessed. Before identity is verified the answer
  names only the clinic and the purpose in general terms; the doctor and the time wait
  for verification (the prompts that carry them are marked PHI, so the engine refuses to
  speak them unverified).
- ``deferral``: "I'm driving", "call me back later" close politely with a call-back
  promise where the state has no deferral step of its own.
- ``volunteered``: a slot value said before it is asked (a date of birth at the
  greeting) is kept and used when the workflow reaches the question.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from agent.grammar import FAQ_INTENTS, GLOBAL_INTENTS, QUESTION_INTENTS, parse_slot
from agent.workflow.effects import Dtmf, Input, Utterance
from agent.workflow.model import Accept, ActionCall, State, Workflow

QUESTION_PROMPTS: dict[str, str] = {
    "answer_who": "This is the automated assistant of {org_name}.",
    "answer_bot": "I am an automated assistant for {org_name}. You can say representative "
                  "at any time to reach our staff.",
    "purpose": "We are calling with a message from {org_name} about your care.",
    # "What's this about?" before verification (minimum necessary): the clinic, and that
    # the call is for the patient; never what it is about (an appointment, a sleep study or
    # a prescription is health information about them).
    "purpose_unverified": "This is {org_name} with a call for {patient.first_name}. I can "
                          "tell you what it is about once I have confirmed I am speaking "
                          "with {patient.first_name}.",
    "answer_after_verification": "I can share the details once I have confirmed who I am "
                                 "speaking with.",
    "answer_provider": "Your appointment is with {appointment.provider}.",
    "answer_time": "Your appointment is on {appointment.day} at {appointment.time}.",
    "answer_no_appointment": "I do not have an appointment to tell you about on this call.",
    # The clinic's own data (not PHI: said before verification too).
    "answer_address": "Our address is {clinic.address_line}.",
    "answer_hours": "Our office hours are {clinic.days}, from {clinic.opens} to {clinic.closes}.",
    "answer_callback": "You can reach {org_name} at {callback_number}.",
    # What the clinic's data cannot answer: said plainly, never guessed.
    "answer_billing": "I cannot answer questions about insurance or costs, but our staff can "
                      "help with that. You can say representative at any time to reach them.",
    "answer_staff": "I do not have that information, but our staff can help with that. You "
                    "can say representative at any time to reach them.",
    "later_goodbye": "No problem. We will call you back another time, or you can call "
                     "{org_name} when it suits you. Thank you, goodbye.",
    "cancel_disambiguation_again": "Sorry, I want to get this right. To cancel your "
                                   "appointment, say appointment or press 1. To stop all "
                                   "calls from us, say stop calls or press 9.",
    "cancel_disambiguation_keep": "All right, nothing has been changed.",
}
# Built-in prompts that speak the patient's appointment: never before verification.
PHI_PROMPTS = frozenset({"answer_provider", "answer_time"})
# Slot types worth keeping when said early, and the intent that must come with them (a
# date of birth at the greeting; "move it to Thursday afternoon" with the reschedule).
VOLUNTEERED_TYPES = {"dob": None, "date_pref": "reschedule"}
# Wishes kept when said before the caller is verified, in the same breath as who they are
# ("this is Testa, born March 3 1980, I need to move my appointment"): the first question
# after verification that takes one acts on it (the wish was dropped). Kept under
# ``WISH + intent`` beside the slot values.
EARLY_WISHES = ("reschedule", "cancel")
WISH = "wish:"
# "Hold on, let me get my card": the caller is waited for this long (not the channel's
# usual no-input time), and the request is not a missed answer. At most MAX_HOLDS times a
# question; a free-text answer of more than HOLD_MAX_WORDS words is an answer that happens
# to start with "hold on".
HOLD_WAIT_S = 30.0
MAX_HOLDS = 3
HOLD_MAX_WORDS = 8


# A question about the clinic and what answers it: the fields of ``record["clinic"]`` it
# needs (without them, the staff answer: nothing is guessed).
FAQ_ANSWERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ask_address": ("answer_address", ("address_line",)),
    "ask_hours": ("answer_hours", ("days", "opens", "closes")),
    "ask_callback": ("answer_callback", ()),
    "ask_billing": ("answer_billing", ()),
    "ask_visit": ("answer_staff", ()),
}


def asked_question(intents: frozenset[str], state: State) -> str | None:
    """The question the caller asked, unless this state handles it itself or takes free
    text (a reason for the visit may well contain "what time" or "I'm at work"). A
    question about the clinic ("where are you located?", heard only in a turn shaped as
    a question) is answered at a free-text question too, and yields to a request for a
    person, a wrong number, and whatever else the state itself acts on ("text me the
    address", "I need to reschedule, where are you?"), a yes or no aside."""
    handled = {a.intent for a in state.accept}
    if "ask_bot" in intents and "ask_bot" not in handled:
        return "ask_bot"  # answered wherever it is asked: the caller must not be misled
    faq = not intents & ((handled - {"affirm", "deny"}) | {"agent", "wrong_number"})
    free = takes_free_text(state)
    return next((q for q in QUESTION_INTENTS if q in intents and q not in handled
                 and (faq if q in FAQ_INTENTS else not free)), None)


# Questions answered the same way to anyone (no PHI).
_GENERAL_ANSWERS = {"ask_bot": ("answer_bot",), "ask_who": ("answer_who", "purpose"),
                    "ask_purpose": ("purpose",)}


def answer_prompts(asked: str, verified: bool, record: Mapping[str, Any]) -> tuple[str, ...]:
    """Prompt ids answering ``asked``; no PHI unless ``verified`` (the clinic's address,
    hours and number are no PHI)."""
    if asked in FAQ_ANSWERS:
        prompt_id, needs = FAQ_ANSWERS[asked]
        clinic = record.get("clinic")
        known = isinstance(clinic, Mapping) and all(clinic.get(f) for f in needs)
        return (prompt_id,) if known else ("answer_staff",)
    if asked in _GENERAL_ANSWERS:
        if not verified and _for_a_patient(record):
            return tuple("purpose_unverified" if p == "purpose" else p
                         for p in _GENERAL_ANSWERS[asked])
        return _GENERAL_ANSWERS[asked]
    if not verified:
        return ("purpose", "answer_after_verification")
    appointment = record.get("appointment")
    if not isinstance(appointment, Mapping) or not appointment:
        return ("answer_no_appointment",)
    return ("answer_provider",) if asked == "ask_provider" else ("answer_time",)


def _for_a_patient(record: Mapping[str, Any]) -> bool:
    """A call for a known patient (the workflow's purpose names their care); a caller with
    no record (intake, an unknown inbound caller) hears the workflow's general purpose."""
    patient = record.get("patient")
    return isinstance(patient, Mapping) and bool(patient.get("first_name"))


def reask_prompts(state: State) -> tuple[str, ...]:
    """The current question again: its short reprompt when it has one."""
    return (state.no_match[0],) if state.no_match else tuple(state.say)


def deferral(intents: frozenset[str], state: State, text: str, now: dt.datetime) -> bool:
    """A deferral the state does not handle itself, and that is not an answer to it
    ("not right now" answers "do you take sleeping pills?")."""
    if "later" not in intents or any(a.intent == "later" for a in state.accept) or (
            takes_free_text(state)):
        return False
    for accept in state.accept:
        if accept.slot is not None and accept.slot.type in ("yes_no", "yes_no_often") and (
                parse_slot(accept.slot.type, text, now) is not None):
            return False
    return True


def volunteered(workflow: Workflow, state: State, text: str, intents: frozenset[str],
                now: dt.datetime) -> dict[str, Any]:
    """Slot values said before their question, by slot type; and those said with an
    answer this state takes first: "yes, next Tuesday afternoon" at "would you like a
    new time?" is the yes, and Tuesday afternoon is kept for the search (it was lost)."""
    if "proxy" in intents:
        return {}  # "yes, her date of birth is ...": someone else's, no proof of identity
    asking = {a.slot.type for a in state.accept if a.slot is not None}
    answered = any(a.intent is not None and a.intent in intents for a in state.accept)
    found: dict[str, Any] = {}
    for kind, with_intent in VOLUNTEERED_TYPES.items():
        if kind in asking:
            if not answered:
                continue  # the state's own slot reads it
        elif not _asks_later(workflow, kind) or (
                with_intent is not None and with_intent not in intents):
            continue
        value = parse_slot(kind, text, now)
        if value is not None:
            found[kind] = value
    return found


def early_wishes(intents: frozenset[str], state: State, verified: bool) -> dict[str, bool]:
    """Wishes said before verification that this state does not itself take; none from
    someone speaking for the patient."""
    if verified or "proxy" in intents:
        return {}
    return {WISH + w: True for w in EARLY_WISHES
            if w in intents and not any(a.intent == w for a in state.accept)}


def prefill(workflow: Workflow, call: ActionCall, slots: dict[str, Any],
            kept: dict[str, Any]) -> None:
    """An action about to run reads ``$slots.X`` not asked yet: fill it from what the
    caller already said ("Thursday afternoon" said with "I need to reschedule")."""
    types = {a.slot.name: a.slot.type for s in workflow.states.values() for a in s.accept
             if a.slot is not None}
    for _key, value in call.args:
        if isinstance(value, str) and value.startswith("$slots."):
            name = value[len("$slots."):]
            if name not in slots and types.get(name) in kept:
                slots[name] = kept.pop(types[name])


def reported_death(intents: frozenset[str], state: State, verified: bool,
                   patient_id: str | None) -> bool:
    """"She passed away" in answer to a call about a patient, before the one answering is
    verified as the patient: the call ends kindly and no more calls are made about them.
    Not at a free-text question (an inbound caller's reason may well be a death in the
    family), nor once the patient is verified on the line, nor said with a yes ("yes,
    speaking, my mother died last week": the patient, telling of someone else)."""
    return ("deceased" in intents and "affirm" not in intents and not verified
            and patient_id is not None and listens(state) and not takes_free_text(state))


def holds(intents: frozenset[str], state: State, text: str, now: dt.datetime, held: int) -> bool:
    """Whether the caller asks for a moment rather than answering: "hold on" with no
    answer the state takes in it (a typed value, or free text longer than a request)."""
    if "hold" not in intents or held >= MAX_HOLDS or not listens(state):
        return False
    if intents & ({a.intent for a in state.accept} | set(GLOBAL_INTENTS)):
        return False  # "hold on, yes", "hang on, let me talk to a person"
    if takes_free_text(state):
        return len(text.split()) <= HOLD_MAX_WORDS
    return not any(a.slot is not None and parse_slot(a.slot.type, text, now, options=9)
                   is not None for a in state.accept)


def takes_free_text(state: State) -> bool:
    return any(a.any_text or (a.slot is not None and a.slot.type == "text")
               for a in state.accept)


def _asks_later(workflow: Workflow, kind: str) -> bool:
    return any(a.slot is not None and a.slot.type == kind
               for s in workflow.states.values() for a in s.accept)


def listens(state: State) -> bool:
    """A state that stops to hear the caller (no end, transfer, action, check or jump)."""
    return not (state.end is not None or state.transfer is not None or state.action is not None
                or state.verify is not None or state.branch or state.next is not None)


def early_answer(state: State, kept: Mapping[str, Any], verified: bool
                 ) -> tuple[Accept, str] | None:
    """The accept of a listening state that an answer given early fills, and the key of
    what was kept for it; a wish (``early_wishes``) only once the caller is verified."""
    if not kept or not listens(state):
        return None
    for a in state.accept:
        if a.slot is not None and a.slot.type in kept:
            return a, a.slot.type
    for a in state.accept:
        if verified and a.intent is not None and WISH + a.intent in kept:
            return a, WISH + a.intent
    return None


def cancel_or_stop(event: Input, now: dt.datetime) -> str | None:
    """"appointment", "stop_calls", or None (unclear) for the disambiguation question."""
    if isinstance(event, Utterance):
        answer = parse_slot("cancel_or_stop", event.text, now)
        return answer if isinstance(answer, str) else None
    if isinstance(event, Dtmf):
        return {"1": "appointment", "9": "stop_calls"}.get(event.key)
    return None
