"""The closing said at the call's time limit is budgeted at the pace the call is said at.

Before: the closing was measured once, at the voice's own pace, when the call was answered.
After the caller asked for it slower ("more slowly please"), every prompt, the closing too,
is said about 30% longer (``agent.voice.SLOW_PACE``), so the closing started at the soft end
ran past the time planned for it and could reach the carrier's hard limit (cut mid-number).
A prompt not yet synthesised was estimated at the normal pace too. Now the budget follows
the pace (and the language) in use: it re-measures the closing as it will be said, scaling
the last measurement until then, and estimates an unsynthesised prompt at that pace.
"""

from __future__ import annotations

import numpy as np

from agent.endings import FINISH_S, SLACK_S, Budget, closing_text, spoken_seconds
from agent.voice import SLOW_PACE

CLOSING = closing_text("Demo Clinic", "555-0100")


def _ends_by_limit(budget: Budget, closing_said_s: float) -> bool:
    """A closing of ``closing_said_s`` begun after a caller finished at the soft end."""
    return budget.soft_end + FINISH_S + SLACK_S + closing_said_s <= budget.started \
        + budget.limit_s + 1e-9


def test_a_slowed_call_leaves_room_for_the_slowed_closing_before_it_is_measured() -> None:
    budget = Budget(60.0, 1000.0)
    assert budget.follow(CLOSING, 1.0)
    budget.measured(CLOSING, 1.0, 10.0)
    assert _ends_by_limit(budget, 10.0)
    assert budget.follow(CLOSING, SLOW_PACE)  # the caller asked for it slower
    assert _ends_by_limit(budget, 10.0 * SLOW_PACE)  # estimated from the normal one


def test_the_slowed_closing_once_measured_is_what_the_budget_keeps() -> None:
    budget = Budget(60.0, 1000.0)
    budget.follow(CLOSING, 1.0)
    budget.measured(CLOSING, 1.0, 10.0)
    budget.follow(CLOSING, SLOW_PACE)
    budget.measured(CLOSING, SLOW_PACE, 14.2)
    assert _ends_by_limit(budget, 14.2)
    assert not _ends_by_limit(budget, 14.3)


def test_a_late_measurement_of_a_closing_no_longer_said_is_ignored() -> None:
    budget = Budget(60.0, 1000.0)
    budget.follow(CLOSING, 1.0)
    budget.follow(CLOSING, SLOW_PACE)  # slowed before the first measurement came back
    budget.measured(CLOSING, 1.0, 10.0)  # the normal-pace one, now stale
    assert _ends_by_limit(budget, 10.0 * SLOW_PACE)
    assert not budget.follow(CLOSING, SLOW_PACE)  # nothing new to measure


def test_the_spanish_closing_is_measured_when_the_call_turns_spanish() -> None:
    budget = Budget(60.0, 1000.0)
    budget.follow(CLOSING, 1.0)
    budget.measured(CLOSING, 1.0, 10.0)
    assert budget.follow(closing_text("Demo Clinic", "555-0100", spanish=True), 1.0)


def test_an_unsynthesised_prompt_is_estimated_at_the_pace_in_use() -> None:
    text = "Please say your date of birth, month day and year."
    assert spoken_seconds(text, None, pace=SLOW_PACE) > spoken_seconds(text, None)
    cached = np.zeros(16000 * 3, dtype=np.int16)
    assert spoken_seconds(text, cached, pace=SLOW_PACE) == 3.0  # a recording is its length
