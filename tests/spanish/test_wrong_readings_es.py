"""Spanish replies that the engine acted on as the wrong thing, run through the shipped
workflows the way a Spanish call runs them (``to_canonical``, then the engine).

Before: "No cancele mi cita" at the reminder led to the cancel question and "No, no voy
a ir" confirmed the appointment; "Claro que no" was a yes and "Sí y no" a yes; "No,
espere, sí" was a request for a moment; "Ya no fumo" was a yes (the English "ya") and
"Lo dejé el año pasado" no answer; "La primera no" and "La primera es muy temprano"
booked the first of three offered times and "¿Hay una más tarde?" ended the call to be
called back later; "Quite mi número" was no opt-out; at the name question "Prefiero no
decirlo" was the name "Prefiero Decirlo" and "¿Quién habla?" the name "Habla"."""

from __future__ import annotations

import pytest

from agent.grammar.es import to_canonical
from agent.i18n import SPANISH, LanguageChoice
from agent.language import CallLanguage
from agent.workflow.effects import Action, AddDoNotCall, Effect, Hangup, Say, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all
from tests.workflow.helpers import NOW, WORKFLOWS

SHIPPED = load_all(WORKFLOWS)
RECORD = {"org_name": "Maple Grove Family Clinic", "callback_number": "555-010-0100",
          "patient": {"id": "pat-1001", "first_name": "Testa", "last_name": "Patientson",
                      "dob": "1980-03-05"},
          "appointment": {"id": "appt-1", "provider_id": "prov-1",
                          "day": "Tuesday, November 24", "time": "10:30 AM",
                          "provider": "Dr. Ada Testwell"}}


def es(conv: Conversation, said: str) -> list[Effect]:
    """A Spanish caller's turn, as a Spanish call hands it to the engine."""
    return conv.handle(Utterance(to_canonical(said)), NOW)


def at(workflow: str, state: str) -> Conversation:
    conv = Conversation(SHIPPED[workflow], RECORD, call_id="c1")
    conv.start(NOW)
    if workflow == "appointment_reminder":  # identity first, in Spanish
        es(conv, "Sí, soy yo.")
        es(conv, "el cinco de marzo de mil novecientos ochenta")
        assert conv.verified
    conv.state = state
    return conv


def action_names(out: list[Effect]) -> list[str]:
    return [e.name for e in out if isinstance(e, Action)]


# A request said not to be done.

@pytest.mark.parametrize("said", ["No cancele mi cita, por favor.", "No quiero cancelar.",
                                  "No quiero cambiar la cita.", "No, no voy a ir."])
def test_a_request_said_not_to_be_done_is_not_acted_on(said: str) -> None:
    conv = at("appointment_reminder", "details")
    out = es(conv, said)
    assert conv.state not in ("confirm_cancel", "confirmed", "offer_slots", "offer_nearest")
    assert not {"confirm_appointment", "find_free_slots"} & set(action_names(out))


def test_no_dont_cancel_it_keeps_the_appointment() -> None:
    conv = at("appointment_reminder", "confirm_cancel")
    out = es(conv, "No, no la cancele.")
    assert "cancel_appointment" not in action_names(out)
    assert conv.state == "details"


def test_a_no_then_a_cancel_is_still_a_cancel() -> None:
    conv = at("appointment_reminder", "details")
    es(conv, "No, cancele la cita.")
    assert conv.state == "confirm_cancel"


# Yes and no, as meant.

@pytest.mark.parametrize(("said", "patient"), [("Claro que no.", False), ("¡Cómo no!", True),
                                               ("No, espere, sí.", True),
                                               ("Sí, no, espere, no.", False),
                                               ("Ya le dije que no.", False)])
def test_yes_and_no_as_meant_at_the_identity_question(said: str, patient: bool) -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    es(conv, said)
    assert conv.state == ("ask_dob" if patient else "not_available"), conv.state


@pytest.mark.parametrize("said", ["Ya no fumo.", "Lo dejé el año pasado.", "Nunca.",
                                  "Dejé de tomarlas."])
def test_an_ended_habit_or_never_is_a_no(said: str) -> None:
    conv = at("health_screening", "q18")
    out = es(conv, said)
    assert conv._slots["q18"] is False
    assert not any(isinstance(e, Hangup) for e in out)


def test_yes_and_no_in_spanish_is_asked_again() -> None:
    conv = at("health_screening", "q18")
    es(conv, "Sí y no.")
    assert conv.state == "q18"
    assert "q18" not in conv._slots


# Three times offered.

def offered() -> Conversation:
    conv = at("appointment_reminder", "offer_slots")
    conv._vars["offers"] = {"offers": [{"slot_id": f"s{i}", "label": f"Slot {i}"}
                                       for i in range(1, 4)]}
    return conv


@pytest.mark.parametrize("said", ["La primera no.", "La primera es muy temprano.",
                                  "¿Hay una más tarde?", "Un momento.", "Ninguna de esas."])
def test_a_reply_that_picks_no_offered_time_books_none(said: str) -> None:
    conv = offered()
    out = es(conv, said)
    assert "reschedule_appointment" not in action_names(out)
    assert "choice" not in conv._slots
    assert not any(isinstance(e, Hangup) for e in out)


@pytest.mark.parametrize(("said", "pick"), [("La segunda.", 2), ("La tercera, por favor.", 3),
                                            ("La primera, perdón, la segunda.", 2)])
def test_a_spanish_pick_books_that_time(said: str, pick: int) -> None:
    conv = offered()
    out = es(conv, said)
    booked = [e for e in out if isinstance(e, Action) and e.name == "reschedule_appointment"]
    assert [b.args["choice"] for b in booked] == [pick]


# Opt-outs.

@pytest.mark.parametrize("said", ["Quite mi número.", "Eliminen mi número, por favor.",
                                  "No quiero que me vuelvan a llamar.", "Ya no me marquen.",
                                  "No, espere, no me llamen más."])
def test_every_way_of_saying_stop_calling_is_an_opt_out(said: str) -> None:
    conv = Conversation(SHIPPED["appointment_reminder"], RECORD, call_id="c1")
    conv.start(NOW)
    out = es(conv, said)
    assert any(isinstance(e, AddDoNotCall) for e in out), said


# The name question.

@pytest.mark.parametrize("said", ["Prefiero no decirlo.", "No le voy a dar mi nombre.",
                                  "¿Quién habla?"])
def test_a_refusal_or_a_question_is_no_name(said: str) -> None:
    conv = at("patient_intake", "welcome")
    es(conv, said)
    assert conv.state == "welcome"
    assert "name" not in conv._slots


def test_who_is_calling_is_answered_at_the_name_question() -> None:
    conv = at("patient_intake", "welcome")
    out = es(conv, "¿Quién habla?")
    assert "answer_who" in [e.prompt_id for e in out if isinstance(e, Say)]


# ---- the English fixes of the same day, said in Spanish ---------------------------------

def fresh(workflow: str) -> Conversation:
    conv = Conversation(SHIPPED[workflow], RECORD, call_id="c1")
    conv.start(NOW)
    return conv


@pytest.mark.parametrize("said", ["¿Es usted un robot?", "¿Es una grabación?",
                                  "¿Hablo con una persona?"])
def test_asked_if_it_is_automated_in_spanish_it_says_so(said: str) -> None:
    conv = fresh("appointment_reminder")
    out = es(conv, said)
    assert next(e.prompt_id for e in out if isinstance(e, Say)) == "answer_bot"
    assert conv.state == "opening"


def test_a_reported_death_in_spanish_ends_the_call_and_stops_the_calls() -> None:
    from agent.workflow.effects import RecordRevocation  # noqa: PLC0415

    conv = fresh("appointment_reminder")
    out = es(conv, "Falleció el mes pasado.")
    assert [e.method for e in out if isinstance(e, RecordRevocation)] == ["reported_deceased"]
    assert [e.reason for e in out if isinstance(e, Hangup)] == ["deceased_reported"]


def test_asking_for_a_person_in_spanish_still_transfers() -> None:
    from agent.workflow.effects import Transfer  # noqa: PLC0415

    out = es(fresh("appointment_reminder"), "Quiero hablar con una persona.")
    assert any(isinstance(e, Transfer) for e in out)


@pytest.mark.parametrize(("said", "canonical"), [
    ("Ya la recogí", "I already picked it up"), ("El doctor me la quitó",
                                                  "I already picked it up"),
    ("Mándela a otra farmacia", "send it to a different pharmacy")])
def test_spanish_refill_replies(said: str, canonical: str) -> None:
    assert to_canonical(said) == canonical


def spanish_call() -> tuple[Conversation, CallLanguage]:
    conv = fresh("patient_intake")
    lang = CallLanguage(conv, {}, None)
    lang.choice = LanguageChoice(language=SPANISH, decided=True)
    return conv, lang


@pytest.mark.parametrize(("said", "kept"), [
    ("No puedo dormir bien desde hace un mes", True),
    ("Primera consulta, me duele la rodilla", True),
    ("No me llame más", False),  # an opt-out holds at any question
    ("Quiero hablar con una persona", False),
    ("¿Aceptan mi seguro?", False)])  # a question about the clinic is answered there
def test_a_spanish_free_text_answer_keeps_the_callers_words(said: str, kept: bool) -> None:
    """Before: "No puedo dormir bien..." reached the engine as "no" and was stored as the
    reason for the visit; any reason that began with "no" or "primera" lost its words."""
    from types import SimpleNamespace  # noqa: PLC0415

    from agent.workflow.effects import Expectation  # noqa: PLC0415

    conv, lang = spanish_call()
    conv.state = "ask_reason"
    lang.expectation(Expectation((), "text", (), ()))
    heard = lang.heard(SimpleNamespace(heard_language="es"), Utterance(said))  # type: ignore[arg-type]
    assert (heard == Utterance(said)) is kept, heard


def test_a_spanish_yes_at_a_typed_question_is_still_canonical() -> None:
    from types import SimpleNamespace  # noqa: PLC0415

    from agent.workflow.effects import Expectation  # noqa: PLC0415

    _conv, lang = spanish_call()
    lang.expectation(Expectation(("affirm",), None, (), ()))
    heard = lang.heard(SimpleNamespace(heard_language="es"),  # type: ignore[arg-type]
                       Utterance("Sí, soy yo."))
    assert heard == Utterance("yes")
