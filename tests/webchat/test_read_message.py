"""A chat message at three offered times: "2" is the second one. Before, a lone digit was
always a key, and no offer takes keys: "2" was asked again ("Please say 1, 2 or 3")."""

from __future__ import annotations

from agent.webchat import read_message
from agent.workflow.effects import Action, Dtmf, Expectation, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.engine_parts import expectation
from tests.workflow.helpers import NOW
from tests.workflow.test_offer_choice import offered


def asked(conv: Conversation) -> Expectation:
    return expectation(conv.workflow.states[conv.state])


def test_a_digit_at_offered_times_books_that_time() -> None:
    conv = offered()
    out = conv.handle(read_message("2", asked(conv)), NOW)
    booked = [a for a in out if isinstance(a, Action) and a.name == "reschedule_appointment"]
    assert len(booked) == 1
    assert booked[0].args["choice"] == 2


def test_keys_the_question_offers_and_the_global_keys_stay_keys() -> None:
    expect = asked(offered())
    assert read_message("9", expect) == Dtmf("9")  # the opt-out is never lost
    assert read_message("0", expect) == Dtmf("0")
    assert read_message("2", expect) == Utterance("2")
    assert read_message("2") == Dtmf("2")
