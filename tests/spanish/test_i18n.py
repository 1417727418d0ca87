"""Spanish prompts, the language choice and a whole Spanish conversation through the
engine (issue 12, Spanish): every patient-facing prompt of the shipped reminder and
intake workflows, and the engine's built-in ones, exists in Spanish; a Spanish prompt
names no field its English prompt does not (so the PHI rules hold unchanged)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

import agent.workflow.simulator as simulator_module
from agent.i18n import (
    LANGUAGE_OFFER,
    SPANISH_KEY,
    LanguageChoice,
    load_overlays,
    localised,
    spanish_dates,
    to_canonical,
)
from agent.memory import InMemoryMemoryStore
from agent.workflow.asides import QUESTION_PROMPTS
from agent.workflow.defaults import DEFAULT_PROMPTS
from agent.workflow.engine import Conversation
from agent.workflow.loader import load_all, load_workflow
from agent.workflow.records import ClinicFileSource
from agent.workflow.simulator import SimulationResult, simulate
from agent.workflow.template import fields
from tests.workflow.helpers import CLINIC, NOW, WORKFLOWS

OVERLAYS = load_overlays(WORKFLOWS / "es")
SHIPPED = load_all(WORKFLOWS)


@pytest.mark.parametrize("workflow_id", ["appointment_reminder", "patient_intake"])
def test_every_prompt_of_the_workflow_has_spanish(workflow_id: str) -> None:
    overlay = OVERLAYS.for_workflow(workflow_id)
    missing = set(SHIPPED[workflow_id].prompts) - set(overlay)
    assert not missing


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
                ) -> tuple[SimulationResult, list[str]]:
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
        load_workflow(WORKFLOWS / f"{workflow_id}.yaml"), ClinicFileSource(CLINIC), "pat-1001",
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
