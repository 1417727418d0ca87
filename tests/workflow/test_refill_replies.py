"""Replies to "would you like us to send a refill request to <pharmacy>?" beyond yes/no.

Before: "I already picked it up", "I don't take that anymore", "the doctor stopped it"
were not understood (asked again, then handed to staff with no note), and "yes but send
it to a different pharmacy" sent the request to the pharmacy on file."""

from __future__ import annotations

import pytest

from agent.workflow.effects import Action, Transfer

from .helpers import run, spoken

DOB = "November twentieth nineteen fifty five"


@pytest.mark.parametrize("said", ["I already picked it up", "I don't take that anymore",
                                  "the doctor stopped it", "I have plenty left"])
def test_a_refill_not_needed_is_a_task_for_staff_not_a_request(said: str) -> None:
    result = run("refill_reminder", ["yes", DOB, said], patient="pat-1002")
    actions = [e.name for e in result.effects if isinstance(e, Action)]
    assert "request_refill" not in actions
    assert "refill_not_needed" in actions
    assert result.path[-1] == "not_needed_told"  # the staff task was written
    assert "let your care team know" in spoken(result.effects)[-1].text
    assert result.outcome == "declined"


@pytest.mark.parametrize("said", ["yes but send it to a different pharmacy",
                                  "can you send it to CVS instead"])
def test_another_pharmacy_goes_to_the_pharmacy_team_not_the_one_on_file(said: str) -> None:
    result = run("refill_reminder", ["yes", DOB, said], patient="pat-1002")
    assert not [e for e in result.effects if isinstance(e, Action)
                and e.name == "request_refill"]
    [transfer] = [e for e in result.effects if isinstance(e, Transfer)]
    assert transfer.target == "pharmacy"


def test_a_plain_yes_still_sends_the_request() -> None:
    result = run("refill_reminder", ["yes", DOB, "yes please"], patient="pat-1002")
    assert result.outcome == "refill_requested"


@pytest.mark.parametrize("said", ["I don't need it anymore", "I moved to another doctor",
                                  "I see a new doctor now"])
def test_a_missed_visit_no_longer_wanted_is_declined_not_asked_again(said: str) -> None:
    """Before: "Sorry, I did not understand that." three times, then a transfer."""
    result = run("no_show_reactivation", ["yes", "7/14/1992", said], patient="pat-1003")
    assert result.path[-1] == "declined", result.path
    assert result.outcome == "declined"
