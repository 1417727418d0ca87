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


def test_redaction_keeps_organisation_and_provider_names() -> None:
    import datetime as dt  # noqa: PLC0415

    from agent.redact import KnownIdentifiers  # noqa: PLC0415
    from agent.transcript_text import redact_keeping  # noqa: PLC0415

    known = KnownIdentifiers(names=("Testa", "Patientson"), dob=dt.date(1980, 3, 5))
    text = ("This is Maple Grove Family Clinic for Testa: your visit with Dr. Ada Testwell, "
            "born March fifth nineteen eighty.")
    out = redact_keeping(text, known, ["Maple Grove Family Clinic", "Dr. Ada Testwell"])
    assert "Maple Grove Family Clinic" in out
    assert "Dr. Ada Testwell" in out
    assert "Testa:" not in out
    assert "[NAME]" in out
    assert "nineteen eighty" not in out
