"""Spanish asked for in English ("Spanish please", "I only speak Spanish", "do you speak
Spanish?") on a call or chat that has Spanish: it switches and asks the question again in
Spanish. Before: the words went to the engine as a request for a person and the call was
transferred to staff (the Spanish the clinic offers was never used); with no Spanish the
call still goes to staff."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from agent.i18n import load_overlays
from agent.language import CallLanguage, ChatLanguage
from agent.workflow.effects import Say, Transfer, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_workflow
from tests.workflow.helpers import NOW, WORKFLOWS

OVERLAY = load_overlays(WORKFLOWS / "es").for_workflow("appointment_reminder")
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
          "patient": {"id": "pat-1001", "first_name": "Testa", "dob": "1980-03-05"}}
ASKED = ["Spanish please", "I speak only Spanish", "do you speak Spanish?",
         "my English is not good, Spanish"]


def reminder() -> Conversation:
    conv = Conversation(load_workflow(WORKFLOWS / "appointment_reminder.yaml"), RECORD,
                        call_id="t")
    conv.start(NOW)
    return conv


@pytest.mark.parametrize("said", ASKED)
@pytest.mark.parametrize("first_turn", [True, False])
def test_spanish_asked_in_english_switches_a_call_that_has_it(said: str,
                                                              first_turn: bool) -> None:
    conv = reminder()
    language = CallLanguage(conv, OVERLAY, object())  # type: ignore[arg-type]
    language.choice.decided = not first_turn  # mid-call: English was chosen already
    io = SimpleNamespace(heard_language="en", tts=None, language=None)
    got = language.heard(io, Utterance(said))  # type: ignore[arg-type]
    assert language.spanish
    out = conv.handle(got, NOW)
    assert not any(isinstance(e, Transfer) for e in out)
    assert [e.text for e in out if isinstance(e, Say)] == [OVERLAY["opening"].replace(
        "{patient.first_name}", "Testa").replace("{org_name}", RECORD["org_name"]).replace(
        "{callback_number}", RECORD["callback_number"])]


def test_without_spanish_the_call_goes_to_staff() -> None:
    conv = reminder()
    language = CallLanguage(conv, {}, None)
    got = language.heard(SimpleNamespace(heard_language="en"), Utterance("Spanish please"))  # type: ignore[arg-type]
    assert not language.spanish
    assert any(isinstance(e, Transfer) for e in conv.handle(got, NOW))


@pytest.mark.parametrize("said", ["I don't speak Spanish", "I speak English and Spanish"])
def test_no_need_for_spanish_does_not_switch(said: str) -> None:
    language = CallLanguage(reminder(), OVERLAY, object())  # type: ignore[arg-type]
    language.choice.decided = True
    language.heard(SimpleNamespace(heard_language="en"), Utterance(said))  # type: ignore[arg-type]
    assert not language.spanish


def test_a_chat_that_has_spanish_switches_when_asked() -> None:
    conv = reminder()
    chat = ChatLanguage(conv, OVERLAY)
    got = chat.heard(Utterance("Spanish please"))
    assert chat.spanish
    assert got == Utterance("repeat that")
