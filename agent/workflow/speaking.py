"""What the engine says: a prompt looked up, gated and rendered into a ``Say`` effect.

A workflow's own prompt is used when it has one, else the built-in text (``defaults``,
the asides' answers). A prompt that names PHI (marked ``phi``, or a field of the
patient's record or a PHI action result in its template) is refused before the caller is
verified (``PhiBeforeVerification``); a rendered prompt that carries PHI is marked so,
and the host keeps it out of any cache on disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.workflow import asides
from agent.workflow.defaults import DEFAULT_PROMPTS
from agent.workflow.effects import Say
from agent.workflow.errors import PhiBeforeVerification
from agent.workflow.model import Prompt, Workflow
from agent.workflow.template import contains_phi, fields, needs_verification, render


def prompt_for(workflow: Workflow, prompt_id: str) -> Prompt:
    """The workflow's prompt, else the built-in one of that id."""
    prompt = workflow.prompts.get(prompt_id)
    if prompt is None:
        text = DEFAULT_PROMPTS.get(prompt_id) or asides.QUESTION_PROMPTS[prompt_id]
        return Prompt(prompt_id, text, phi=prompt_id in asides.PHI_PROMPTS, line=0)
    return prompt


def say_effect(workflow: Workflow, prompt_id: str, scope: Mapping[str, Any], *,
               verified: bool, phi_vars: set[str], state: str) -> Say:
    """``prompt_id`` rendered for ``scope``; refused when it needs a verified caller."""
    prompt = prompt_for(workflow, prompt_id)
    paths = fields(prompt.text)
    gated = prompt.phi or any(needs_verification(p, workflow.phi_fields, phi_vars)
                              for p in paths)
    if gated and not verified:
        raise PhiBeforeVerification(workflow.id, state, prompt_id)
    phi = gated or any(contains_phi(p, workflow.phi_fields, phi_vars) for p in paths)
    return Say(prompt_id, render(prompt.text, scope), prompt.interruptible, phi)
