"""Pure pieces of the engine that need none of its state: action arguments, what a
listening state expects, and the transfer summary's collected list."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.redact import KnownIdentifiers, redact
from agent.workflow.effects import AddDoNotCall, Effect, Expectation, RecordRevocation
from agent.workflow.errors import EngineError
from agent.workflow.model import ActionCall, BranchRule, State, evaluate, resolve
from agent.workflow.template import render

# "Cancel your appointment, or stop calls?": keys 1 and 9 answer it.
DISAMBIGUATION = Expectation(("cancel", "opt_out"), None, ("1", "9"), ("appointment", "stop calls"))


# How often one question is said again on request ("what?", "say that again", key *)
# before the next request goes where a question that failed its attempts goes (staff, or
# the call-back offer when no one answers). Four, one more than the shipped workflows'
# ``max_attempts``: a caller asking again is engaged, not missing answers (a missed word,
# once more slower, a noisy moment or two); a fifth request in a row is a line or a caller
# the agent is not reaching, and before the call's length limit was the only end of it.
MAX_REPEATS = 4


# Global requests the engine hands to staff, and the reason the person taking the call
# reads in the transfer summary: a caller with little English needs an interpreter, which
# the one answering should know before they speak.
TO_STAFF = {"interpreter": "caller needs an interpreter (little English)",
            "agent": "caller asked for a person"}


@dataclass(frozen=True)
class Ending:
    """How a global ending closes the conversation: what is said, the hang-up reason,
    the outcome (None: the one remembered so far, else "incomplete"), and what is written
    down first."""

    prompt: str
    hangup: str
    outcome: str | None
    revoke: bool = False  # consent revoked in the consent ledger (RecordRevocation)
    dnc: str | None = None  # the number onto the organisation's do-not-call list, why


ENDINGS: dict[str, Ending] = {
    "opt_out": Ending("optout_goodbye", "opted_out", "opted_out", revoke=True,
                      dnc="caller request"),
    # "We will update our records": the number is not the patient's, so it is not called
    # again for them (a reassigned number's new owner never agreed to these calls).
    "wrong_number": Ending("wrong_number_goodbye", "wrong_number", "wrong_number",
                           dnc="wrong number"),
    # The patient has died: no more calls or texts about them (every channel's consent
    # revoked, "reported_deceased", for the clinic to review), and a kind goodbye.
    "deceased": Ending("deceased_goodbye", "deceased_reported", "deceased_reported",
                       revoke=True),
    "later": Ending("later_goodbye", "call_back_later", None),
}


def ending_records(name: str, method: str, record: Mapping[str, Any], channel: str,
                   now: dt.datetime) -> list[Effect]:
    """What an ending writes down before its goodbye: the consent revocation (``method``:
    "voice", "dtmf"; a reported death says so) and the do-not-call entry."""
    ending = ENDINGS[name]
    patient = resolve("patient.id", record)
    patient_id = str(patient) if patient is not None else None
    phone = resolve("patient.phone", record)
    phone_text = str(phone) if phone is not None else None
    out: list[Effect] = []
    if ending.revoke:
        method = "reported_deceased" if name == "deceased" else method
        out.append(RecordRevocation(patient_id, phone_text, channel, method, now))
    if ending.dnc is not None:
        out.append(AddDoNotCall(phone_text, patient_id, ending.dnc, now))
    return out


def branch(rules: tuple[BranchRule, ...], scope: Mapping[str, Any], workflow: str,
           state: str) -> str:
    """The state a ``branch`` goes to: the first rule whose condition holds."""
    for rule in rules:
        if rule.when is None or evaluate(rule.when, scope):
            return rule.goto
    raise EngineError(f"workflow {workflow!r} state {state!r}: no branch matched")


def action_args(call: ActionCall, scope: Mapping[str, Any]) -> dict[str, Any]:
    """``$path`` values resolved, other strings rendered, the rest as written."""
    args: dict[str, Any] = {}
    for key, value in call.args:
        if isinstance(value, str) and value.startswith("$"):
            args[key] = resolve(value[1:], scope)
        elif isinstance(value, str):
            args[key] = render(value, scope)
        else:
            args[key] = value
    return args


def expectation(state: State) -> Expectation:
    intents = tuple(a.intent for a in state.accept if a.intent is not None)
    slot_type = next((a.slot.type for a in state.accept if a.slot is not None), None)
    keys = tuple(a.dtmf for a in state.accept if a.dtmf is not None)
    return Expectation(intents, slot_type, keys, state.hints)


def transfer_summary(head: str, verified: bool, slots: Mapping[str, Any],
                     slot_types: Mapping[str, str], known: KnownIdentifiers) -> str:
    """What the person taking the call is told: step, identity, what was collected, and
    the caller's last free-text answer, redacted."""
    names = sorted(slots)
    collected = ", ".join(names) if len(names) <= 6 else f"{len(names)} answers"
    summary = (f"{head}; identity {'verified' if verified else 'not verified'}; collected: "
               f"{collected or 'nothing'}")
    said = [str(slots[n]) for n in names if slot_types.get(n) == "text"]
    if said:
        summary += f"; caller said: {redact(said[-1], known)[:120]}"
    return summary
