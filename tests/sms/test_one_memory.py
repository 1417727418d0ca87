"""Issue 17, one memory: the same store, keyed by patient, across voice and text; turns
redacted and encrypted at rest; promises kept; retention; context only after identity.

The voice side runs the shipped ``appointment_reminder`` workflow through the simulator's
channel (the same engine and grammars a call runs; text lines stand in for speech) and
records itself as channel ``voice``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from agent.memory import PostgresMemoryStore, retained_tables
from agent.runtime import VoiceAgent
from agent.scheduling.calendar import Calendar
from agent.scheduling.postgres import PostgresCalendar
from agent.sms import AddressTexter
from agent.workflow.loader import load_workflow
from agent.workflow.records import ClinicInfo
from agent.workflow.simulator import SimulationResult, simulate
from carrier.plugin import RetainsText
from carrier.records.store import Records
from carrier.settings import RetentionSettings, Settings
from carrier.upkeep import retention_pass
from tests.dialer.conftest import START
from tests.dialer.test_integration_records import add_appointment
from tests.sms.conftest import CLINIC, NY, PHONE, WORKFLOWS, Stack, facts_reader

pytestmark = pytest.mark.postgres
VOICE = load_workflow(WORKFLOWS / "appointment_reminder.yaml")
ADDRESS = "12 Test Street, Springfield"


class Source:
    """The records as the simulator's RecordSource (the patient's own record)."""

    def __init__(self, facts: dict[str, Any], pool: asyncpg.Pool) -> None:
        self.facts = facts
        self.pool = pool

    def clinic(self) -> ClinicInfo:
        return CLINIC

    def patient(self, patient_id: str) -> dict[str, Any] | None:
        return self.facts if patient_id == self.facts["id"] else None

    def prescription(self, patient_id: str) -> None:
        return None

    def calendar(self, now: dt.datetime) -> Calendar:
        return PostgresCalendar(self.pool, tz=NY)


async def voice_call(stack: Stack, records: Records, pool: asyncpg.Pool, lines: list[str],
                     **kw: Any) -> tuple[SimulationResult, list[str]]:
    heard: list[str] = []
    feed: Iterator[str] = iter(lines)
    facts = await facts_reader(records)(stack.patient)
    assert facts is not None
    result = await simulate(VOICE, Source(facts, pool), stack.patient, now=stack.clock.now(),
                            read_line=lambda: next(feed, None), write=heard.append,
                            memory_store=stack.memory, channel="voice", **kw)
    return result, [h.removeprefix("AGENT: ") for h in heard if h.startswith("AGENT: ")]


async def test_text_me_the_address_on_the_phone(
        stack: Stack, records: Records, pool: asyncpg.Pool) -> None:
    await add_appointment(pool, "a5", stack.patient, START + dt.timedelta(hours=30))
    texter = AddressTexter(stack.memory, stack.service.send_requested, clinic="Demo Clinic",
                           address=ADDRESS, channel="voice", workflow=VOICE.id)
    result, said = await voice_call(stack, records, pool, [
        "yes", "March 5th 1980", "can you text me the address", "confirm"], texter=texter)
    got = await stack.smsc.wait("submit")
    assert got["dest"] == PHONE
    assert got["text"] == f"Demo Clinic: our address is {ADDRESS}."
    assert "I have texted you our address." in said
    assert result.outcome == "confirmed"
    view = await stack.memory.load(stack.patient)
    [promise] = view.promises
    assert (promise.what, promise.channel) == ("send_address", "voice")
    assert promise.kept_at is not None
    assert view.open_promises == ()
    assert (view.last.channel, view.last.outcome) == ("voice", "confirmed")  # type: ignore[union-attr]


async def test_a_call_after_a_text_thread_has_its_context_only_after_identity(
        stack: Stack, records: Records, pool: asyncpg.Pool) -> None:
    await add_appointment(pool, "a6", stack.patient, START + dt.timedelta(hours=30))
    stack.reminders.reply_window_s = 0.5  # the thread ends unanswered (a bounded real wait)
    await stack.reminders.send_reminder(stack.patient, "a6")
    await stack.smsc.wait("submit")
    await stack.text_from_phone("R")  # asks to move it, then never sends the date of birth
    assert "date of birth" in (await stack.smsc.wait("submit"))["text"]
    assert await stack.reminders.settled(stack.patient) == "asked_to_reschedule"

    _, said = await voice_call(stack, records, pool, ["yes", "June 1st 1990", "July 2nd 1991"])
    assert not any("Last time" in s or "change" in s for s in said)  # never verified: nothing

    _, said = await voice_call(stack, records, pool, ["yes", "March 5th 1980"])
    privacy = next(i for i, s in enumerate(said) if "date of birth" in s)
    context = next(i for i, s in enumerate(said) if "Last time you asked to change" in s)
    assert privacy < context  # identity first, then the text thread's context

    view = await stack.memory.load(stack.patient)
    assert [(i.channel, i.outcome) for i in view.interactions][:2] == [
        ("sms", "asked_to_reschedule"), ("voice", "not_verified")]
    assert {(t.channel, t.speaker) for t in view.turns} == {("sms", "patient"), ("sms", "agent")}
    assert [t.text for t in view.turns if t.speaker == "patient"] == ["R"]


async def test_turns_are_redacted_and_encrypted_at_rest(
        stack: Stack, records: Records, pool: asyncpg.Pool) -> None:
    await add_appointment(pool, "a7", stack.patient, START + dt.timedelta(hours=30))
    stack.reminders.reply_window_s = 0.5
    await stack.reminders.send_reminder(stack.patient, "a7")
    await stack.smsc.wait("submit")
    await stack.text_from_phone("R")
    await stack.smsc.wait("submit")
    await stack.text_from_phone("my birthday is 01/01/1990, call me at 212-555-0171")
    await stack.smsc.wait("submit")
    await stack.reminders.settled(stack.patient)
    view = await stack.memory.load(stack.patient)
    said = [t.text for t in view.turns if t.speaker == "patient"]
    assert len(said) == 2
    assert "1990" not in said[1]
    assert "555" not in said[1]
    rows = await pool.fetch("SELECT text_enc FROM conversation_memory WHERE kind = 'turn'")
    assert rows
    for row in rows:
        assert b"birthday" not in row["text_enc"]
        assert b"date of birth" not in row["text_enc"]
    with pytest.raises(RuntimeError, match="keys"):  # no key ring: no turns kept at all
        await PostgresMemoryStore(pool).note(view.turns[0])


async def test_memory_is_covered_by_retention(stack: Stack, records: Records,
                                              pool: asyncpg.Pool) -> None:
    now = dt.datetime.now(dt.UTC)
    await pool.execute(
        "INSERT INTO conversation_memory (patient_id, channel, workflow, outcome, at)"
        " VALUES ($1, 'sms', 'w', 'confirmed', $2), ($1, 'voice', 'w', 'confirmed', $3)",
        stack.patient, now - dt.timedelta(days=400), now - dt.timedelta(days=2))
    app = VoiceAgent()
    assert isinstance(app, RetainsText)
    assert set(retained_tables) <= set(app.retained_tables)
    short = Settings(retention=RetentionSettings(transcript_days=30))
    results = await retention_pass(records, short, now, text_tables=app.retained_tables)
    assert {r.table: r.rows for r in results}["conversation_memory"] == 1
    left = await pool.fetch("SELECT channel FROM conversation_memory")
    assert [r["channel"] for r in left] == ["voice"]
