"""Calls that end because the number or the patient is not there any more.

Before: "wrong number" was answered "We will update our records" and nothing was written
(the 24 h and 2 h reminders rang the same stranger again); "she passed away last month"
was answered "Is this Testa? Please say yes or no.", and the reminders went on."""

from __future__ import annotations

import pytest

from agent.workflow.effects import (
    AddDoNotCall,
    Effect,
    Hangup,
    RecordRevocation,
    Say,
    Utterance,
)
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all

from .helpers import NOW, WORKFLOWS
from .test_simulate_cli import _simulate

SHIPPED = load_all(WORKFLOWS)
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
          "patient": {"id": "pat-1001", "first_name": "Testa", "last_name": "Patientson",
                      "dob": "1980-03-05", "phone": "+15550100123"},
          "appointment": {"id": "appt-1", "provider_id": "prov-1",
                          "day": "Tuesday, November 24", "time": "10:30 AM",
                          "provider": "Dr. Ada Testwell"}}


def reminder() -> Conversation:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    return conv


def of(kind: type, out: list[Effect]) -> list:  # type: ignore[type-arg]
    return [e for e in out if isinstance(e, kind)]


def test_a_wrong_number_goes_on_the_do_not_call_list() -> None:
    out = reminder().handle(Utterance("you have the wrong number"), NOW)
    assert of(AddDoNotCall, out) == [AddDoNotCall("+15550100123", "pat-1001", "wrong number",
                                                  NOW)]
    assert not of(RecordRevocation, out)
    assert [h.reason for h in of(Hangup, out)] == ["wrong_number"]


@pytest.mark.parametrize("said", ["she passed away last month", "my wife died in June",
                                  "I'm sorry, he is deceased"])
def test_a_reported_death_ends_the_call_kindly_and_stops_the_calls(said: str) -> None:
    conv = reminder()
    out = conv.handle(Utterance(said), NOW)
    [revocation] = of(RecordRevocation, out)
    assert (revocation.patient_id, revocation.method) == ("pat-1001", "reported_deceased")
    assert not of(AddDoNotCall, out)  # the household's number is not struck off for good
    assert [s.prompt_id for s in of(Say, out)] == ["deceased_goodbye"]
    assert "sorry for your loss" in of(Say, out)[0].text
    assert [h.reason for h in of(Hangup, out)] == ["deceased_reported"]
    assert conv.finished


def test_a_pets_death_or_a_verified_patient_is_no_report() -> None:
    conv = reminder()
    out = conv.handle(Utterance("my dog passed away, can you call back"), NOW)
    assert not of(RecordRevocation, out)
    verified = reminder()
    verified.handle(Utterance("yes"), NOW)
    verified.handle(Utterance("March fifth nineteen eighty"), NOW)
    assert verified.verified
    out = verified.handle(Utterance("my husband passed away, I need to cancel"), NOW)
    assert not of(RecordRevocation, out)
    patient = reminder()
    out = patient.handle(Utterance("yes, speaking, but my mother died last week"), NOW)
    assert not of(RecordRevocation, out)
    assert patient.state == "ask_dob"


def test_an_inbound_callers_reason_is_no_report() -> None:
    conv = Conversation(SHIPPED["patient_intake"], RECORD, call_id="c1")
    conv.start(NOW)
    conv.state = "ask_reason"
    out = conv.handle(Utterance("my mother passed away and I need her records"), NOW)
    assert not of(RecordRevocation, out)
    assert conv.state != "ask_reason"


def test_simulate_shows_what_a_wrong_number_and_a_death_write_down() -> None:
    wrong = _simulate("wrong number\n", "appointment_reminder", "--patient", "pat-1001")
    assert "[number added to the do-not-call list: wrong number]" in wrong.stdout
    died = _simulate("she passed away last month\n", "appointment_reminder",
                     "--patient", "pat-1001")
    assert "[consent revoked: recorded in the consent ledger]" in died.stdout
    assert "I am very sorry for your loss" in died.stdout
    assert "[outcome: deceased_reported;" in died.stdout
