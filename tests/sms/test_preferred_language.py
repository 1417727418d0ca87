"""A patient's preferred language on the text channel, over SMPP with a real database.
Before: every reminder text was in English (the STOP wording too) whatever the record
said, "español" in the middle of a thread was read as an answer, and nothing was kept."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from carrier.records.store import Records
from carrier.sms.settings import DEFAULT_REMINDER_ES
from tests.dialer.conftest import START
from tests.dialer.test_integration_records import add_appointment
from tests.sms.conftest import Stack

pytestmark = pytest.mark.postgres


async def reminded(stack: Stack, pool: asyncpg.Pool, appointment: str) -> str:
    await add_appointment(pool, appointment, stack.patient, START + dt.timedelta(hours=30))
    await stack.reminders.send_reminder(stack.patient, appointment)
    return str((await stack.smsc.wait("submit"))["text"])


async def answer(stack: Stack, text: str) -> str:
    await stack.text_from_phone(text)
    return str((await stack.smsc.wait("submit"))["text"])


async def stored(records: Records, stack: Stack) -> str | None:
    return await records.patient_language(uuid.UUID(stack.patient))


async def test_a_patient_who_prefers_spanish_is_reminded_in_spanish(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    await records.set_patient_language(uuid.UUID(stack.patient), "es", actor="t", reason="t")
    text = await reminded(stack, pool, "p1")
    assert text.startswith("Demo Clinic: cita el ")
    assert DEFAULT_REMINDER_ES.split("{time}")[1] in text  # the letters, and STOP to opt out
    assert "STOP" in text
    assert len(text) <= 160
    assert await answer(stack, "C") == "Gracias, su cita está confirmada."  # thread in Spanish
    assert await stack.reminders.settled(stack.patient) == "confirmed"


async def test_asking_for_spanish_in_a_thread_switches_it_and_is_kept_once_verified(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    text = await reminded(stack, pool, "p2")
    assert "STOP to opt out" in text  # no preference: English
    again = await answer(stack, "¿Habla español?")  # the reply's instructions, in Spanish
    assert again.startswith("Responda C para confirmar"), again
    assert await stored(records, stack) is None  # not verified: nothing changed
    assert "fecha de nacimiento" in await answer(stack, "R")
    await stack.text_from_phone("el 5 de marzo de 1980")  # verified; then a slot search
    assert "Demo Clinic" in (await stack.smsc.wait("submit", timeout=60))["text"]
    await stack.reminders.settled(stack.patient)  # no open time: the thread has ended
    assert await stored(records, stack) == "es"
    await records.drain_spool()
    rows = await records.pool.fetch(
        "SELECT actor, reason FROM audit_log WHERE action = 'patient.language'")
    assert [r["actor"] for r in rows] == ["agent"]
    assert rows[0]["reason"].startswith("text thread sms-")


async def test_a_plain_stop_from_a_patient_who_prefers_spanish_is_confirmed_in_spanish(
        stack: Stack, records: Records) -> None:
    """Before: "STOP" (the word the reminder asks for) was confirmed in English."""
    await records.set_patient_language(uuid.UUID(stack.patient), "es", actor="t", reason="t")
    reply = await answer(stack, "STOP")
    assert "No recibirá más" in reply, reply
    assert "START" in reply
    assert len(reply) <= 160


async def test_a_text_outside_any_thread_is_answered_in_the_preferred_language(
        stack: Stack, records: Records) -> None:
    """Before: "we cannot answer texts here" was in English to a patient who prefers
    Spanish (an emergency's 911 line too)."""
    await records.set_patient_language(uuid.UUID(stack.patient), "es", actor="t", reason="t")
    reply = await answer(stack, "¿A qué hora abren mañana?")
    assert reply == "Demo Clinic: No podemos responder mensajes aquí. Llámenos al +15550100100."


async def test_start_and_help_from_a_patient_who_prefers_spanish_are_answered_in_spanish(
        stack: Stack, records: Records) -> None:
    """Before: after a STOP confirmed in Spanish, the START that undoes it (the word that
    confirmation asks for) was answered in English."""
    await records.set_patient_language(uuid.UUID(stack.patient), "es", actor="t", reason="t")
    assert "No recibirá más" in await answer(stack, "STOP")
    reply = await answer(stack, "START")
    assert "Recibirá de nuevo" in reply, reply
    assert "STOP" in reply  # the keywords the carriers read
    assert "HELP" in reply
    assert len(reply) <= 160
    reply = await answer(stack, "HELP")
    assert "Ayuda" in reply, reply
