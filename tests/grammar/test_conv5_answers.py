"""Round 5: moves and cancels in other words, "stop" after a discourse word, attendance,
hedges, self-corrections of a day, and someone else answering.

Before: "okay, stop" at "Am I speaking with Testa?" was a yes ("okay") and the caller
was asked for the patient's date of birth, no opt-out recorded; "go ahead and cancel" at
the appointment's details was a yes: the appointment was confirmed. "maybe" and "I'd have
to check" were nothing (a re-prompt, at best); "perhaps not" was a no. "push the
appointment to Friday", "postpone my visit" were no move; "he'll be there" no yes; "April
4th 1960, no sorry, the 5th" kept the 4th. Now a discourse word before "stop" ("okay",
"wait", "oh", "well", "yeah") pads it as "please" did (an opt-out); a go-ahead before a
bare "cancel" leaves it bare (the engine asks: the appointment, or the calls?), never a
yes; hedges are "unsure" (asked again, neither yes nor no); a moving verb with the
appointment as its object is a move; a day alone after a correction replaces the day.

The held-out split (``conv5_heldout.tsv``) was written before the changes and is only
reported; the changes were made on ``conv5_tuned.tsv``.
"""

from __future__ import annotations

import pytest

from agent.grammar import understand
from agent.workflow.effects import AddDoNotCall, RecordRevocation, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all
from tests.grammar.corpus import tuned_right_held_out_share
from tests.workflow.helpers import NOW, WORKFLOWS

CATEGORIES = {"move", "cancel", "stop", "notstop", "attend", "hedge", "fix", "person",
              "es_cancel", "es_hedge", "es_stop"}
SHIPPED = load_all(WORKFLOWS)
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
          "patient": {"id": "p1", "first_name": "Testa", "dob": "1980-03-03"},
          "appointment": {"id": "a1", "provider": "Dr. Ada Testwell", "day": "Tuesday",
                          "time": "10:30 AM"}}


def test_round5_tuned_all_right_and_held_out_reported() -> None:
    right, total = tuned_right_held_out_share("conv5_tuned.tsv", "conv5_heldout.tsv",
                                              CATEGORIES)
    print(f"\nround-5 held-out: {right}/{total} = {right / total:.1%}")
    assert right / total >= 0.5  # a floor, not a target: the held-out split is never tuned


def _opening(said: str) -> tuple[Conversation, list[object]]:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    return conv, conv.handle(Utterance(said), NOW)


@pytest.mark.parametrize("said", ["okay, stop", "wait, stop", "yeah stop", "oh just stop"])
def test_stop_after_a_discourse_word_is_an_opt_out_not_a_yes(said: str) -> None:
    conv, out = _opening(said)
    assert "ask_dob" not in conv.path
    assert any(isinstance(e, RecordRevocation) for e in out)
    assert any(isinstance(e, AddDoNotCall) for e in out)


@pytest.mark.parametrize("said", ["maybe", "I'd have to check with my wife", "perhaps not"])
def test_a_hedge_at_am_i_speaking_with_is_asked_again(said: str) -> None:
    conv, out = _opening(said)
    assert conv.path == ["opening"]  # neither the date of birth asked nor "not available"
    assert not any(isinstance(e, RecordRevocation) for e in out)


@pytest.mark.parametrize("said", ["yes cancel", "okay, you can cancel", "alright, cancel"])
def test_a_go_ahead_and_a_bare_cancel_is_asked_about_never_a_yes(said: str) -> None:
    found = understand(said).intents
    assert "affirm" not in found
    assert "cancel_ambiguous" in found


@pytest.mark.parametrize("said", ["I'll stop in on Friday", "she stopped the medicine"])
def test_stop_that_is_no_opt_out(said: str) -> None:
    assert "opt_out" not in understand(said).intents
