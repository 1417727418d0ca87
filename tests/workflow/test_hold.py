""""Hold on, let me get my card": a caller who asks for a moment is waited for.

Before, the request was a missed answer: the name question took "hold on" as the name
"Hold", the member-ID question counted it as a miss (three and the caller was handed to
staff), and a free-text question stored "hold on" as the reason for the visit."""

from __future__ import annotations

from agent.workflow.asides import HOLD_WAIT_S, MAX_HOLDS
from agent.workflow.effects import Audit, Effect, Listen, Say, Transfer, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all

from .helpers import NOW, WORKFLOWS

SHIPPED = load_all(WORKFLOWS)
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100"}


def intake_at(state: str) -> Conversation:
    conv = Conversation(SHIPPED["patient_intake"], RECORD, call_id="c1")
    conv.start(NOW)
    conv.state = state
    return conv


def said(effects: list[Effect]) -> list[str]:
    return [e.prompt_id for e in effects if isinstance(e, Say)]


def test_hold_on_is_waited_for_longer_and_is_not_a_miss() -> None:
    conv = intake_at("ask_member_id")
    for _ in range(MAX_HOLDS):
        out = conv.handle(Utterance("hang on, let me get my card"), NOW)
        assert said(out) == ["hold_ok"]
        listen = out[-1]
        assert isinstance(listen, Listen)
        assert listen.wait_s == HOLD_WAIT_S
        assert any(isinstance(e, Audit) and e.step.intent == "hold" for e in out)
    out = conv.handle(Utterance("Z Z X 1 2 3 4 5 6 7 8 9"), NOW)
    assert conv.state == "confirm_member_id"
    assert not any(isinstance(e, Transfer) for e in out)


def test_holds_are_limited_then_count_as_misses() -> None:
    conv = intake_at("ask_member_id")
    for _ in range(MAX_HOLDS):
        conv.handle(Utterance("hold on"), NOW)
    out = conv.handle(Utterance("hold on"), NOW)
    assert "hold_ok" not in said(out)
    assert any(isinstance(e, Audit) and e.step.event == "no_match" for e in out)
    listen = out[-1]
    assert isinstance(listen, Listen)
    assert listen.wait_s is None


def test_an_answer_said_with_hold_on_is_taken() -> None:
    conv = intake_at("ask_member_id")
    conv.handle(Utterance("hold on, it's Z Z X 1 2 3 4 5 6 7 8 9"), NOW)
    assert conv.state == "confirm_member_id"


def test_the_name_question_waits_and_then_takes_the_name() -> None:
    conv = intake_at("welcome")
    assert said(conv.handle(Utterance("one moment please"), NOW)) == ["hold_ok"]
    conv.handle(Utterance("Testa Patientson"), NOW)
    assert conv.state == "ask_dob"


def test_free_text_is_not_hold_on_but_a_reason_that_starts_with_it_is_kept() -> None:
    conv = intake_at("ask_reason")
    assert said(conv.handle(Utterance("hold on, let me think"), NOW)) == ["hold_ok"]
    assert conv.state == "ask_reason"
    conv.handle(Utterance("hold on, I have had a sharp pain in my left knee since the fall"),
                NOW)
    assert conv.state != "ask_reason"


def test_a_question_after_hold_on_is_answered_not_held() -> None:
    conv = intake_at("welcome")
    out = conv.handle(Utterance("wait a minute, who is this?"), NOW)
    assert "hold_ok" not in said(out)
    assert "answer_who" in said(out)



def test_hold_on_with_an_answer_or_a_request_is_the_answer_or_the_request() -> None:
    reminder = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    reminder.start(NOW)
    out = reminder.handle(Utterance("hold on, yes, that's me"), NOW)
    assert "hold_ok" not in said(out)
    assert reminder.state != "opening"
    conv = intake_at("ask_member_id")
    out = conv.handle(Utterance("hang on, let me talk to a person"), NOW)
    assert any(isinstance(e, Transfer) for e in out)


def test_one_moment_books_no_offered_time_and_records_no_drink() -> None:
    """"One moment" was the first of three offered times and "just a second" the second:
    the reminder rebooked the patient into a time they never chose. And at "how many
    drinks do you have on a typical evening?" it recorded one."""
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    for said_first in ("one moment", "just a second"):
        conv.state = "offer_slots"
        out = conv.handle(Utterance(said_first), NOW)
        assert said(out) == ["hold_ok"]
        assert conv.state == "offer_slots"
        assert "choice" not in conv._slots
    screening = Conversation(SHIPPED["health_screening"], RECORD, call_id="c2")
    screening.start(NOW)
    screening.state = "q17"
    assert said(screening.handle(Utterance("one moment please"), NOW)) == ["hold_ok"]
    assert "q17" not in screening._slots


def test_a_number_said_after_a_moment_is_still_read() -> None:
    conv = Conversation(SHIPPED["health_screening"], RECORD, call_id="c2")
    conv.start(NOW)
    conv.state = "q17"
    conv.handle(Utterance("one moment... two drinks"), NOW)
    assert conv._slots["q17"] == 2
