"""A cancel said alone with wanting words around it is still a bare cancel, asked about
(the appointment, or the calls?); before, "I need to cancel" was understood as nothing
and the question was asked again as if the caller had not answered."""

import pytest

from agent.grammar import understand


@pytest.mark.parametrize("text", ["I need to cancel", "I would like to cancel",
                                  "we have to cancel", "unfortunately I have to cancel",
                                  "I'd like to cancel"])
def test_wanting_a_bare_cancel_is_asked_about(text: str) -> None:
    assert "cancel_ambiguous" in understand(text).intents


def test_a_cancel_with_its_object_stays_a_cancel() -> None:
    assert "cancel" in understand("I need to cancel my appointment").intents
