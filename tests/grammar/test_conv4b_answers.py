"""A patient who is not there, a qualified no, "no, stop", a confirmation without "yes".

Before: at "Am I speaking with Testa?", "she's not here" was a yes (read as "Robin here")
and whoever answered was asked for the patient's date of birth; "not exactly" was a yes
("exactly"); "no stop" was a plain no, and the call ended as not available with no
opt-out recorded (STANDARDS.md: "stop" is an opt-out in every state); "I'll be there",
"see you then", "works for me" at "can you confirm?" were nothing, a missed turn. The
held-out split (``conv4b_heldout.tsv``) was written before and is only reported (its
misses were printed once before the fix; the fix was made on the tuned split).
"""

from __future__ import annotations

import pytest

from agent.workflow.effects import AddDoNotCall, Hangup, RecordRevocation, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all
from tests.grammar.corpus import tuned_right_held_out_share
from tests.workflow.helpers import NOW, WORKFLOWS

CATEGORIES = {"absent", "hedge", "stop", "confirm"}
SHIPPED = load_all(WORKFLOWS)
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
          "patient": {"id": "p1", "first_name": "Testa", "dob": "1980-03-03"}}


def test_round4b_tuned_all_right_and_held_out_reported() -> None:
    right, total = tuned_right_held_out_share("conv4b_tuned.tsv", "conv4b_heldout.tsv",
                                              CATEGORIES)
    print(f"\nround-4b answers held-out: {right}/{total} = {right / total:.1%}")
    assert right / total >= 0.6  # a floor, not a target: the held-out split is never tuned


@pytest.mark.parametrize("said", ["she's not here", "he is not here"])
def test_the_patient_not_there_is_not_available(said: str) -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    out = conv.handle(Utterance(said), NOW)
    assert "ask_dob" not in conv.path
    assert "not_available" in conv.path
    assert any(isinstance(e, Hangup) for e in out)


def test_no_stop_is_an_opt_out() -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    out = conv.handle(Utterance("no stop"), NOW)
    assert any(isinstance(e, RecordRevocation) for e in out)
    assert any(isinstance(e, AddDoNotCall) for e in out)
