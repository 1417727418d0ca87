"""Answering-machine classification on greeting vectors (pure)."""

import pytest

from agent.amd import AmdVerdict, classify


@pytest.mark.parametrize(
    ("seconds", "text", "verdict"),
    [
        (0.6, "Hello?", AmdVerdict.HUMAN),
        (1.2, "Hi, this is Testa.", AmdVerdict.HUMAN),
        (0.9, "Yeah, hello, who is this?", AmdVerdict.HUMAN),
        (3.5, "Hi, you've reached Testa, please leave a message after the tone.",
         AmdVerdict.MACHINE),
        (2.8, "The person you are calling is not available.", AmdVerdict.MACHINE),
        (1.5, "Voicemail.", AmdVerdict.MACHINE),
        (4.0, "Hello we are not home right now so talk to you later bye", AmdVerdict.MACHINE),
        (None, "", AmdVerdict.SILENT),
    ],
)
def test_classify(seconds: float | None, text: str, verdict: AmdVerdict) -> None:
    assert classify(seconds, text) is verdict
