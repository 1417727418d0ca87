"""The engine's built-in prompts are synthesised ahead with the workflow's own.

Before, the opt-out goodbye, "Of course, take your time." and the answer to "are you a
robot?" were synthesised only when said, while the caller waited for them."""

from __future__ import annotations

import dataclasses

from agent.prompts import fixed_prompts
from agent.workflow.loader import load_all
from agent.workflow.model import Prompt

from ..workflow.helpers import WORKFLOWS

RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
          "clinic": {"address_line": "100 Example Avenue, New York, NY 10001",
                     "days": "Monday to Friday", "opens": "9 AM", "closes": "5 PM"},
          "patient": {"id": "pat-1001", "first_name": "Testa"},
          "appointment": {"provider": "Dr. Ada Testwell", "day": "Tuesday",
                          "time": "10:30 AM"}}


def test_built_in_prompts_without_phi_are_prepared_on_disk() -> None:
    plain, personal = fixed_prompts(load_all(WORKFLOWS)["appointment_reminder"], RECORD)
    for said in ("Thank you. You will not receive any more calls from Maple Grove Family "
                 "Clinic. Goodbye.", "Of course, take your time.",
                 "I am an automated assistant for Maple Grove Family Clinic. You can say "
                 "representative at any time to reach our staff."):
        assert said in plain
    # The appointment's doctor and time are never written to disk, and not prepared here.
    assert not any("Dr. Ada Testwell" in text for text in plain)
    assert "Your appointment is with Dr. Ada Testwell." not in personal


def test_a_workflows_own_prompt_wins_over_the_built_in() -> None:
    workflow = load_all(WORKFLOWS)["appointment_reminder"]
    own = dataclasses.replace(workflow, prompts={
        **workflow.prompts, "hold_ok": Prompt("hold_ok", "Sure, no rush.", phi=False, line=1)})
    plain, _ = fixed_prompts(own, RECORD)
    assert "Sure, no rush." in plain
    assert "Of course, take your time." not in plain


def test_the_clinics_own_answers_are_shared_on_disk_not_made_per_call() -> None:
    """The address and the hours are the clinic's, not a patient's: prepared once for
    every call (they were prepared again in memory for each call)."""
    plain, personal = fixed_prompts(load_all(WORKFLOWS)["appointment_reminder"], RECORD)
    assert "Our address is 100 Example Avenue, New York, NY 10001." in plain
    assert not any("Example Avenue" in text or "office hours" in text for text in personal)
