"""Issue 17, one memory: a call's turns go to the conversation memory (channel ``voice``)
when its transcript is stored, redacted as the transcript is, so the next text thread
opens knowing what was said on the phone."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import asyncpg
import pytest

from agent.handler import CallResult
from agent.scheduling.postgres import PostgresCalendar
from agent.transcript_text import known_identifiers, store_call
from agent.voice import VoiceTranscript
from carrier.call import Direction
from carrier.records.store import Records
from tests.dialer.conftest import START
from tests.dialer.test_integration_records import add_appointment
from tests.sms.conftest import CLINIC, NY, Stack, facts_reader

pytestmark = pytest.mark.postgres
SAID = [("agent", "Hello, this is Demo Clinic. Am I speaking with Test Patient?"),
        ("caller", "Yes, my birthday is March 5 1980, text me the address please."),
        ("agent", "Of course, I will text you the address.")]


async def test_voice_turns_reach_the_next_text_thread(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    await add_appointment(pool, "a1", stack.patient, START + dt.timedelta(hours=30))
    patient = await facts_reader(records)(stack.patient)
    rt = SimpleNamespace(calendar=PostgresCalendar(pool, tz=NY), records=records,
                         clinic=CLINIC, memory=stack.memory, workflows={}, overlays=None)
    io = SimpleNamespace(transcript=VoiceTranscript(list(SAID)), timings=[], recording=[])
    call = SimpleNamespace(call_id="voice-mem-1", direction=Direction.OUTBOUND,
                           caller=SimpleNamespace(stir_status=None, verstat=None))
    result = CallResult("voice-mem-1", "appointment_reminder", stack.patient,
                        outcome="confirmed")
    await store_call(rt, call, io, result, known_identifiers(patient),
                     START - dt.timedelta(hours=1))  # type: ignore[arg-type]

    # What the text thread loads when the patient's reply opens it (TextReminders).
    await stack.reminders.send_reminder(stack.patient, "a1")
    await stack.smsc.wait("submit")
    view = await stack.memory.load(stack.patient)
    voice = [t for t in view.turns if t.channel == "voice"]
    assert [t.speaker for t in voice] == ["agent", "patient", "agent"]
    assert "text me the address" in voice[1].text
    said = " ".join(t.text for t in voice)
    assert "1980" not in said  # redacted as the transcript is
    assert "Test Patient" not in said
    assert view.as_scope()["channels"] == ["voice"]
    await stack.text_from_phone("C")
    assert await stack.reminders.settled(stack.patient) == "confirmed"
    view = await stack.memory.load(stack.patient)
    assert [t.channel for t in view.turns][:3] == ["voice"] * 3  # the call, then the texts
    assert {t.channel for t in view.turns} == {"voice", "sms"}
    stored = await pool.fetchval("SELECT count(*) FROM conversation_memory"
                                 " WHERE channel = 'voice' AND kind = 'turn'")
    assert stored == 3
