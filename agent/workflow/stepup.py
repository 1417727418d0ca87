"""Step-up identity proof for callers whose number is not vouched for (issue 12).

An inbound caller ID that STIR/SHAKEN did not verify with full attestation may be spoofed,
and the caller-ID match is what picked the patient's record. One factor (the date of
birth) is then not enough before PHI: every single-factor ``verify`` state gets two
generated states, ``<state>.step_up`` (ask the full name) and ``<state>.step_up_check``
(the original checks plus the name), that the engine enters instead of the ``ok`` exit
when the record says ``caller.verified`` is false. Workflow files stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from agent.workflow.model import Accept, SlotSpec, State, Verify, VerifyCheck, Workflow

STEP_UP = ".step_up"
STEP_UP_CHECK = ".step_up_check"
STEP_UP_PROMPT = "step_up_ask"
STEP_UP_SLOT = "step_up_name"


def with_step_up(states: Mapping[str, State]) -> dict[str, State]:
    """``states`` plus the generated step-up states of every single-factor verify."""
    out = dict(states)
    for name, state in states.items():
        verify = state.verify
        if verify is None or len(verify.checks) >= 2 or name + STEP_UP in states:
            continue
        check = replace(verify, checks=(*verify.checks,
                                        VerifyCheck(STEP_UP_SLOT, "patient", "name")))
        out[name] = replace(state, verify=replace(verify, step_up=name + STEP_UP))
        out[name + STEP_UP_CHECK] = State(name=name + STEP_UP_CHECK, line=verify.line,
                                          verify=check)
        out[name + STEP_UP] = State(
            name=name + STEP_UP, line=verify.line, say=(STEP_UP_PROMPT,),
            accept=(Accept(goto=name + STEP_UP_CHECK, line=verify.line,
                           slot=SlotSpec(STEP_UP_SLOT, "name")),),
            no_input=(STEP_UP_PROMPT,), no_match=(STEP_UP_PROMPT,))
    return out


def caller_unverified(record: Mapping[str, Any]) -> bool:
    """True when the record says the caller's number was not verified (live inbound
    calls); records without caller facts (simulator, outbound) keep one factor."""
    caller = record.get("caller")
    return isinstance(caller, Mapping) and caller.get("verified") is False


def needs_step_up(verify: Verify, record: Mapping[str, Any]) -> str | None:
    """The step-up state to enter after ``verify`` passed, or None when one factor will do."""
    if verify.step_up is None or not caller_unverified(record):
        return None
    return verify.step_up


def start_state(workflow: Workflow, record: Mapping[str, Any]) -> str:
    """An inbound call starts at the workflow's ``inbound_start`` when it has one (a
    screening line: no "calling for <name>" opening to someone who called us)."""
    caller = record.get("caller")
    inbound = isinstance(caller, Mapping) and caller.get("direction") == "inbound"
    return workflow.inbound_start if inbound and workflow.inbound_start else workflow.start
