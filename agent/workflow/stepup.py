"""Step-up identity proof for callers whose number is not vouched for (issue 12).

An inbound caller ID that STIR/SHAKEN did not verify with full attestation may be spoofed,
and the caller-ID match is what picked the patient's record. One factor (the date of
birth) is then not enough before PHI: every single-factor ``verify`` state gets two
generated states, ``<state>.step_up`` (ask the full name) and ``<state>.step_up_check``
(the original checks plus the name), that the engine enters instead of the ``ok`` exit
when the record says ``caller.verified`` is false (``identity.needs_step_up``).
Workflow files stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from agent.workflow.model import Accept, SlotSpec, State, VerifyCheck

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
