"""Spanish answers on a call still in English: never a yes they do not say
(tests/spanish/corpus_english_call.py)."""

from __future__ import annotations

import pytest

from agent.grammar import understand
from agent.language import text_meaning
from tests.spanish.corpus_english_call import HELD_OUT_EN, TUNED_EN, EnglishCallCase


def read(case: EnglishCallCase) -> bool:
    said, expected = case
    intents = understand(text_meaning(said)).intents
    if expected == "!affirm":
        return "affirm" not in intents
    wrong = {"affirm", "deny"} - {expected} if expected in ("affirm", "deny") else {"affirm"}
    return expected in intents and not intents & wrong


@pytest.mark.parametrize("case", TUNED_EN, ids=[c[0] for c in TUNED_EN])
def test_spanish_on_an_english_call(case: EnglishCallCase) -> None:
    assert read(case), (case, text_meaning(case[0]),
                        sorted(understand(text_meaning(case[0])).intents))


def test_held_out_spanish_on_an_english_call() -> None:
    missed = [c for c in HELD_OUT_EN if not read(c)]
    score = 1 - len(missed) / len(HELD_OUT_EN)
    print(f"English-call Spanish held-out: {score:.0%} of {len(HELD_OUT_EN)} "
          f"({len(missed)} missed: {[c[0] for c in missed]})")
    assert score >= 0.9, missed


@pytest.mark.parametrize(("said", "intent"), [("Ya no quiero llamadas", "opt_out"),
                                              ("ya no me llamen", "opt_out"),
                                              ("Ya no quiero", "deny")])
def test_a_voice_call_in_english_reads_a_spanish_no(said: str, intent: str) -> None:
    """Before: a call in English passed the words to the engine as heard, and "Ya no
    quiero llamadas" confirmed the appointment (a yes)."""
    from types import SimpleNamespace  # noqa: PLC0415

    from agent.i18n import LanguageChoice  # noqa: PLC0415
    from agent.language import CallLanguage  # noqa: PLC0415
    from agent.workflow.effects import Expectation, Utterance  # noqa: PLC0415
    from agent.workflow.engine import Conversation  # noqa: PLC0415
    from agent.workflow.loader import load_workflow  # noqa: PLC0415
    from tests.workflow.helpers import WORKFLOWS  # noqa: PLC0415

    conv = Conversation(load_workflow(WORKFLOWS / "appointment_reminder.yaml"), {}, call_id="t")
    language = CallLanguage(conv, {}, None)
    language.choice = LanguageChoice(decided=True)
    language.expectation(Expectation((), "yes_no", (), ()))
    got = language.heard(SimpleNamespace(heard_language="en"), Utterance(said))  # type: ignore[arg-type]
    assert isinstance(got, Utterance)
    intents = understand(got.text).intents
    assert intent in intents, (got, intents)
    assert "affirm" not in intents, (got, intents)


def test_digits_alone_do_not_decide_the_language() -> None:
    """A date in digits first ("01/01/1990" at "date of birth?") read as Spanish (a
    day-first date the Spanish grammar knows) and switched an English text thread."""
    from agent.i18n import LanguageChoice  # noqa: PLC0415

    choice = LanguageChoice()
    assert not choice.on_utterance("01/01/1990")
    assert not choice.decided
    assert choice.on_utterance("Sí, gracias")
