"""Spanish prompts, the language choice and a whole Spanish conversation through the
engine (issue 12, Spanish): every patient-facing prompt of the shipped reminder and
intake workflows, and the engine's built-in ones, exists in Spanish; a Spanish prompt
names no field its English prompt does not (so the PHI rules hold unchanged)."""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import agent.workflow.simulator as simulator_module
from agent.grammar.dates import DatePreference
from agent.i18n import (
    LANGUAGE_OFFER,
    SPANISH_KEY,
    LanguageChoice,
    load_overlays,
    localised,
    spanish_asked,
    spanish_dates,
    to_canonical,
)
from agent.language import CallLanguage
from agent.memory import InMemoryMemoryStore
from agent.scheduling.search import describe
from agent.workflow.asides import QUESTION_PROMPTS
from agent.workflow.defaults import DEFAULT_PROMPTS
from agent.workflow.effects import Expectation, Utterance
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all, load_workflow
from agent.workflow.records import ClinicFileSource
from agent.workflow.simulator import SimulationResult, simulate
from agent.workflow.template import fields
from tests.workflow.helpers import CLINIC, NOW, WORKFLOWS

OVERLAYS = load_overlays(WORKFLOWS / "es")
DAYS_EN = list(calendar.day_name)
MONTHS_EN = list(calendar.month_name)[1:]
SHIPPED = load_all(WORKFLOWS)


@pytest.mark.parametrize("workflow_id", sorted(SHIPPED))
def test_every_prompt_of_every_shipped_workflow_has_spanish(workflow_id: str) -> None:
    """Every workflow in config/workflows (the next one added too): no English-only prompt."""
    overlay = OVERLAYS.for_workflow(workflow_id)
    missing = set(SHIPPED[workflow_id].prompts) - set(overlay)
    assert not missing, f"{workflow_id}: no Spanish for {sorted(missing)}"


def test_the_completeness_check_sees_a_workflow_added_english_only(tmp_path: Path) -> None:
    """A workflow file dropped next to the shipped ones is checked too (the list is read
    from the folder, not written in the test)."""
    text = (WORKFLOWS / "escalation.yaml").read_text(encoding="utf-8")
    (tmp_path / "escalation.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "new_flow.yaml").write_text(
        text.replace("workflow: escalation", "workflow: new_flow"), encoding="utf-8")
    shipped = load_all(tmp_path)
    assert set(shipped) == {"escalation", "new_flow"}
    assert not set(shipped["escalation"].prompts) - set(OVERLAYS.for_workflow("escalation"))
    assert set(shipped["new_flow"].prompts) - set(OVERLAYS.for_workflow("new_flow"))


ASKED = [
    None, DatePreference(None, "afternoon"), DatePreference(None, None),
    DatePreference(dt.date(2026, 3, 12), "afternoon"), DatePreference(dt.date(2026, 3, 10), None),
    DatePreference(dt.date(2026, 3, 9), None, days=7),
    DatePreference(dt.date(2026, 3, 9), "morning", days=7),
    DatePreference(dt.date(2026, 3, 10), None, later_same_day=True),
]


@pytest.mark.parametrize("pref", ASKED)
def test_what_the_caller_asked_for_is_said_in_spanish(pref: DatePreference | None) -> None:
    """The "nothing open <what you asked>" phrase the scheduler words in English is spoken
    in Spanish in a Spanish call, whichever form it takes."""
    prompt = OVERLAYS.for_workflow("no_show_reactivation")["offer_nearest"]
    said = spanish_dates(prompt.replace("{vars.offers.asked}", describe(pref)))
    english = {"on", "the", "in", "at", "that", "time", "week", "of", "later", "day",
               "morning", "afternoon", "evening", *DAYS_EN, *MONTHS_EN}
    assert not set(re.findall(r"[A-Za-z]+", said.split(". ")[0])) & english, said


def test_the_asked_phrase_reads_naturally() -> None:
    assert spanish_asked("on Thursday afternoon") == "el jueves por la tarde"
    assert spanish_asked("the week of March 9 in the morning") == \
        "la semana del 9 de marzo por la mañana"
    assert spanish_asked("later that day") == "más tarde ese mismo día"


BUILT_IN = {**DEFAULT_PROMPTS, **QUESTION_PROMPTS}


def test_every_built_in_prompt_has_spanish() -> None:
    assert set(BUILT_IN) <= set(OVERLAYS.defaults)


@pytest.mark.parametrize("workflow_id", sorted(OVERLAYS.workflows))
def test_spanish_prompts_name_only_the_english_fields(workflow_id: str) -> None:
    workflow = SHIPPED[workflow_id]  # an overlay for a workflow that does not exist fails
    for prompt_id, text in OVERLAYS.workflows[workflow_id].items():
        english = workflow.prompts[prompt_id].text  # an unknown prompt id fails
        assert set(fields(text)) <= set(fields(english)), prompt_id
    for prompt_id, text in OVERLAYS.defaults.items():
        assert set(fields(text)) <= set(fields(BUILT_IN[prompt_id])), prompt_id


def test_the_key_chooses_spanish_only_as_the_first_input() -> None:
    choice = LanguageChoice()
    assert choice.stt_language == "auto"  # the first turn: Whisper detects the language
    assert choice.on_key(SPANISH_KEY)
    assert choice.spanish
    assert choice.stt_language == "es"
    english = LanguageChoice()
    assert not english.on_key("1")
    assert not english.on_key(SPANISH_KEY)  # later, 2 means what the workflow says
    assert not english.spanish
    assert english.stt_language == "en"
    assert "oprima dos" in LANGUAGE_OFFER
    assert SPANISH_KEY == "2"


def test_answering_in_spanish_switches() -> None:
    choice = LanguageChoice()
    assert choice.on_utterance("Sí, soy yo.")
    assert choice.spanish
    detected = LanguageChoice()
    assert detected.on_utterance("C, soy, yor.", "es")  # Whisper heard Spanish
    english = LanguageChoice()
    assert not english.on_utterance("Yes, speaking.", "es")  # the words say English
    assert not english.on_utterance("Sí, soy yo.")  # decided by the first answer


def test_dates_and_times_are_said_in_spanish() -> None:
    said = spanish_dates("Tiene una cita el Tuesday, March 10 a las 2:30 PM. Las horas son: "
                         "Wednesday, March 11 at 9 AM with Dr. Ruiz")
    assert said == ("Tiene una cita el martes 10 de marzo a las 2:30 de la tarde. Las horas "
                    "son: miércoles 11 de marzo a las 9 de la mañana con Dr. Ruiz")
    assert spanish_dates("Sin fechas.") == "Sin fechas."


def run_spanish(workflow_id: str, turns: Iterable[str], monkeypatch: pytest.MonkeyPatch,
                patient: str = "pat-1001") -> tuple[SimulationResult, list[str]]:
    """The simulator with the conversation in Spanish: overlay on, answers canonicalised
    as the live call's port does (``agent.language``)."""
    overlay = OVERLAYS.for_workflow(workflow_id)

    def spanish_conversation(*args: Any, **kwargs: Any) -> Conversation:
        conv = Conversation(*args, **kwargs)
        conv.workflow = localised(conv.workflow, overlay)
        return conv

    monkeypatch.setattr(simulator_module, "Conversation", spanish_conversation)
    lines = iter(to_canonical(t) for t in turns)
    said: list[str] = []
    result = asyncio.run(simulate(
        load_workflow(WORKFLOWS / f"{workflow_id}.yaml"), ClinicFileSource(CLINIC), patient,
        now=NOW, read_line=lambda: next(lines, None), write=said.append,
        memory_store=InMemoryMemoryStore()))
    return result, said


def test_a_spanish_reminder_confirms(monkeypatch: pytest.MonkeyPatch) -> None:
    result, said = run_spanish("appointment_reminder", [
        "Sí, soy yo.", "El cinco de marzo de mil novecientos ochenta.", "Confirmo."],
        monkeypatch)
    assert result.outcome == "confirmed"
    spoken = " ".join(said)
    assert "¿Hablo con" in spoken
    assert "fecha de nacimiento" in spoken
    assert "Su cita está confirmada" in spoken
    assert "Hello" not in spoken
    assert "Your appointment" not in spoken


def test_a_spanish_opt_out_ends_in_spanish(monkeypatch: pytest.MonkeyPatch) -> None:
    result, said = run_spanish("appointment_reminder", ["No me llame más, por favor."],
                               monkeypatch)
    assert result.outcome == "opted_out"
    assert "No recibirá más llamadas" in " ".join(said)


def test_a_spanish_intake_takes_the_name_and_birth_date(monkeypatch: pytest.MonkeyPatch) -> None:
    _, said = run_spanish("patient_intake", [
        "Hola, me llamo Ana López.", "el catorce de julio de mil novecientos noventa y dos"],
        monkeypatch)
    spoken = " ".join(said)
    assert "nombre y apellido" in spoken
    assert "número de teléfono" in spoken


def test_a_spanish_refill_is_requested(monkeypatch: pytest.MonkeyPatch) -> None:
    result, said = run_spanish("refill_reminder", [
        "Sí, soy yo.", "veinte de noviembre de mil novecientos cincuenta y cinco",
        "Sí, por favor."],
        monkeypatch, patient="pat-1002")
    assert result.outcome == "refill_requested"
    spoken = " ".join(said)
    assert "Su receta de lisinopril" in spoken
    assert "Su solicitud de renovación fue enviada" in spoken
    assert "prescription" not in spoken


def test_a_spanish_no_show_books_a_new_time(monkeypatch: pytest.MonkeyPatch) -> None:
    result, said = run_spanish("no_show_reactivation", [
        "Sí.", "el catorce de julio de mil novecientos noventa y dos", "Sí.", "La segunda."],
        monkeypatch, patient="pat-1003")
    assert result.outcome == "booked"
    spoken = " ".join(said)
    assert "Le echamos de menos" in spoken
    assert "queda para el" in spoken
    assert "Goodbye" not in spoken


def test_a_spanish_screening_asks_in_spanish(monkeypatch: pytest.MonkeyPatch) -> None:
    _, said = run_spanish("health_screening", [
        "Sí, soy yo.", "El cinco de marzo de mil novecientos ochenta.", "Sí.", "A veces."],
        monkeypatch)
    spoken = " ".join(said)
    assert "veinticinco preguntas" in spoken
    assert "¿Ronca?" in spoken
    assert "Do you" not in spoken



def test_a_spanish_repeat_request_asks_again_and_a_frequency_answers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """ "¿Puede repetir?" at "¿Ronca?" says the question again (no "conteste sí o no": it
    is no miss), then "a veces" (which that help itself offers) is the yes. Before, both
    were misses and the third attempt would have transferred the caller."""
    _, said = run_spanish("health_screening", [
        "Sí, soy yo.", "El cinco de marzo de mil novecientos ochenta.", "Sí.",
        "¿Puede repetir?", "¿Cómo?", "A veces."], monkeypatch)
    spoken = " ".join(said)
    assert spoken.count("¿Ronca?") == 3
    assert "Por favor conteste sí o no" not in spoken
    assert "¿Ronca tan fuerte" in spoken  # q02 was a yes: its follow-up is asked


@pytest.mark.parametrize("said", ["¿Puede repetir?", "¿Cómo?", "¿Mande?"])
def test_a_spanish_repeat_request_is_no_free_text_answer(said: str) -> None:
    """At a free-text question (the reason for the visit) the caller's words are kept,
    but a request to repeat is no reason: the engine gets the repeat."""
    conv = Conversation(load_workflow(WORKFLOWS / "patient_intake.yaml"), {}, call_id="t")
    language = CallLanguage(conv, {}, None)
    language.choice = LanguageChoice(language="es", decided=True)
    language.expectation(Expectation((), "text", (), ()))
    got = language.heard(SimpleNamespace(heard_language="es"), Utterance(said))  # type: ignore[arg-type]
    assert got == Utterance("repeat that")
