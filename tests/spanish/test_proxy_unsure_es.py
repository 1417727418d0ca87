"""Spanish "not sure" and someone else's date of birth, as the English fixes read them.

Before: "pues no estoy muy segura" stored a no to a screening question and "quién sabe"
was a miss; "sí, su fecha de nacimiento es ...", "la de ella es ...", "él nació ..." at
"¿Hablo con Testa?" or at the date-of-birth question verified whoever answered as the
patient. Now an unsure answer stores nothing and moves on, and someone else's date of
birth ends politely as not available (intake is unchanged). Each test fails before.
"""

from __future__ import annotations

import pytest

from agent.grammar.es import to_canonical
from agent.workflow.effects import Effect, Hangup, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all
from tests.workflow.helpers import NOW, WORKFLOWS

SHIPPED = load_all(WORKFLOWS)
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
          "patient": {"id": "pat-1001", "first_name": "Testa", "last_name": "Patientson",
                      "dob": "1980-03-05"}}
OUTBOUND = ["appointment_reminder", "health_screening", "no_show_reactivation",
            "refill_reminder"]


def es(conv: Conversation, said: str) -> list[Effect]:
    return conv.handle(Utterance(to_canonical(said)), NOW)


@pytest.mark.parametrize("said", ["No estoy seguro.", "Pues no estoy muy segura.",
                                  "Quién sabe.", "No estoy del todo segura."])
def test_an_unsure_spanish_answer_stores_nothing_and_moves_on(said: str) -> None:
    conv = Conversation(SHIPPED["health_screening"], RECORD, call_id="c1")
    conv.start(NOW)
    conv.state = "q05"
    es(conv, said)
    assert "q05" not in conv._slots
    assert conv.state == "q06"


@pytest.mark.parametrize("workflow", OUTBOUND)
@pytest.mark.parametrize("said", ["Sí, su fecha de nacimiento es el 5 de marzo de 1980.",
                                  "Sí, la de ella es el cinco de marzo de mil novecientos "
                                  "ochenta.",
                                  "Sí, él nació el 5 de marzo de 1980."])
def test_someone_elses_date_of_birth_at_the_opening_is_not_the_patient(
        workflow: str, said: str) -> None:
    conv = Conversation(SHIPPED[workflow], RECORD, call_id="c1")
    conv.start(NOW)
    out = es(conv, said)
    assert not conv.verified
    assert "not_available" in conv.path
    assert any(isinstance(e, Hangup) for e in out)


@pytest.mark.parametrize("said", ["Su fecha de nacimiento es el 5 de marzo de 1980.",
                                  "La fecha de nacimiento de ella es el 5 de marzo de 1980."])
def test_someone_elses_date_of_birth_at_the_question_is_not_the_patient(said: str) -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    es(conv, "Sí.")
    assert conv.state == "ask_dob"
    es(conv, said)
    assert not conv.verified
    assert "not_available" in conv.path


def test_my_own_date_of_birth_still_verifies() -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    es(conv, "Sí, soy yo.")
    es(conv, "Mi fecha de nacimiento es el 5 de marzo de 1980.")
    assert conv.verified


# Counts said the Spanish way: "seis y media" was stored as 6, "ni una" as 1, "un par" as 1.

@pytest.mark.parametrize(("state", "said", "stored"), [
    ("q13", "Seis y media.", 6.5), ("q13", "Unas seis horas y media.", 6.5),
    ("q17", "Una y media.", 1.5), ("q17", "Ni una.", 0), ("q17", "Un par.", 2),
    ("q17", "Ninguna.", 0), ("q13", "Siete.", 7)])
def test_a_spanish_count_is_stored_as_said(state: str, said: str, stored: float) -> None:
    conv = Conversation(SHIPPED["health_screening"], RECORD, call_id="c1")
    conv.start(NOW)
    conv.state = state
    es(conv, said)
    assert conv._slots.get(state) == stored
