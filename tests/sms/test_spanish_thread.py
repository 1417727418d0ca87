"""A reminder thread the patient answers in Spanish goes on in Spanish.

Before: the Spanish texts of ``appointment_reminder_sms`` (config/workflows/es) were
loaded by nothing: "Sí, confirmo" was confirmed in English, "Quiero cambiar la hora" was
asked its date of birth in English, and "9" at "appointment or messages?" in a Spanish
thread was confirmed in English. Each text stays within 160 characters, and the opt-out
wording (STOP, START) is the one carriers read."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from agent.i18n import load_overlays
from agent.sms import WORKFLOW
from carrier.sms.segment import plan
from tests.dialer.conftest import START
from tests.dialer.test_integration_records import add_appointment
from tests.sms.conftest import Stack
from tests.workflow.helpers import WORKFLOWS

pytestmark = pytest.mark.postgres


async def reminded(stack: Stack, pool: asyncpg.Pool, appointment: str) -> None:
    await add_appointment(pool, appointment, stack.patient, START + dt.timedelta(hours=30))
    await stack.reminders.send_reminder(stack.patient, appointment)
    await stack.smsc.wait("submit")


async def answer(stack: Stack, text: str) -> str:
    await stack.text_from_phone(text)
    return str((await stack.smsc.wait("submit"))["text"])


async def test_a_spanish_yes_is_confirmed_in_spanish(stack: Stack, pool: asyncpg.Pool) -> None:
    await reminded(stack, pool, "s1")
    reply = await answer(stack, "Sí, confirmo")
    assert await stack.reminders.settled(stack.patient) == "confirmed"
    assert reply == "Gracias, su cita está confirmada."


async def test_a_spanish_thread_stays_in_spanish(stack: Stack, pool: asyncpg.Pool) -> None:
    await reminded(stack, pool, "s2")
    assert "fecha de nacimiento" in await answer(stack, "Quiero cambiar la hora")
    # Digits alone later in the thread: the thread is still in Spanish.
    assert "fecha de nacimiento" in await answer(stack, "01/01/1901")


async def test_an_opt_out_key_in_a_spanish_thread_is_confirmed_in_spanish(
        stack: Stack, pool: asyncpg.Pool) -> None:
    await reminded(stack, pool, "s3")
    assert "9" in await answer(stack, "Cancela")  # CANCELAR alone is a STOP keyword
    reply = await answer(stack, "9")
    assert "No recibirá más mensajes" in reply
    assert "START" in reply
    assert len(reply) <= 160


def test_every_spanish_text_fits() -> None:
    """Each Spanish text of the SMS workflow, with a 20-character clinic name and number,
    is at most 160 characters (accents make it UCS-2: at most 3 parts)."""
    texts = load_overlays(WORKFLOWS / "es").workflows[WORKFLOW]
    for prompt_id, text in texts.items():
        filled = text.replace("{org_name}", "N" * 20).replace("{callback_number}",
                                                              "+15550100100")
        assert "{" not in filled or "vars." in filled, prompt_id
        assert len(filled) <= 160, (prompt_id, len(filled))
        assert len(plan(filled).parts) <= 3, prompt_id


def test_every_text_of_the_workflow_has_its_spanish_text() -> None:
    """Before: the built-in call wording ("diga cita u oprima uno") stood in for the
    texts the Spanish file did not have (the opt-out goodbye, appointment or messages?)."""
    from agent.workflow.loader import load_workflow  # noqa: PLC0415

    english = load_workflow(WORKFLOWS / f"{WORKFLOW}.yaml").prompts
    spanish = load_overlays(WORKFLOWS / "es").workflows[WORKFLOW]
    assert set(english) <= set(spanish), set(english) - set(spanish)
