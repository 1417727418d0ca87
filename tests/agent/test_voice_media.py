"""The voice agent on a real RTP leg: a scripted patient speaks synthesised answers.

Real parts: the embedded Postgres (records, calendar, consent), the Whisper and
Piper models, two ``MediaSession``s exchanging G.711 over UDP on 127.0.0.1. The
SIP signalling is exercised by the gateway tests; here the call is joined at the
media layer so the agent's behaviour is checked on its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import agent as agent_package
from agent.handler import AgentRuntime, VoiceCallHandler
from carrier.call import LENGTH_LIMIT_REASON, Call, CallerInfo, Direction
from carrier.plugin import AmdResult, CallContext, OutcomeKind
from carrier.records.store import Channel, Records
from demo import ScriptedPatient
from media.session import MediaSession
from tests.agent.conftest import TraceKeeper

pytestmark = [pytest.mark.postgres, pytest.mark.models, pytest.mark.slow,
              pytest.mark.call_speech, pytest.mark.timeout(300)]


class Leg:
    """Two media sessions wired to each other on loopback."""

    def __init__(self) -> None:
        self.agent = MediaSession(local_addr=("127.0.0.1", 0))
        self.patient = MediaSession(local_addr=("127.0.0.1", 0))

    async def __aenter__(self) -> Leg:
        await self.agent.start()
        await self.patient.start()
        self.agent.update_remote(self.patient.local_addr)
        self.patient.update_remote(self.agent.local_addr)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.agent.close()
        await self.patient.close()


def make_call(leg: Leg, direction: Direction, number: str, called: str) -> Call:
    async def transfer(target: str, context: Mapping[str, Any]) -> bool:
        call.push_event_transfer = (target, dict(context))  # type: ignore[attr-defined]
        return True

    async def hangup(reason: str) -> None:
        return None  # Call.hangup marks the call ended; the patient hears no more

    call = Call(call_id=f"test-{uuid.uuid4().hex[:8]}", direction=direction,
                caller=CallerInfo(number=number, stir_status="passed",
                                  verstat="TN-Validation-Passed"),
                called=called, media=leg.agent, transfer=transfer, hangup=hangup)
    return call


@pytest.fixture
async def leg() -> AsyncIterator[Leg]:
    async with Leg() as pair:
        yield pair


def reminder(pid: str) -> CallContext:
    return CallContext(direction=Direction.OUTBOUND, purpose="appointment_reminder",
                       patient_id=pid)


INBOUND = CallContext(direction=Direction.INBOUND)


async def test_outbound_reminder_confirmed_by_voice(
    runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
    demo_ids: dict[str, str], leg: Leg
) -> None:
    pid = demo_ids["pat-1001"]
    call = make_call(leg, Direction.OUTBOUND, "+15550100123", "+15550100123")
    patient = ScriptedPatient(leg.patient, runtime.tts, answer_first=True)
    script = ["Hello?", "Yes, speaking.", "March fifth, nineteen eighty.", "Confirm."]
    agent_task = asyncio.create_task(agent(call, reminder(pid)))
    await asyncio.wait_for(patient.run(script), timeout=240)
    result = await asyncio.wait_for(agent_task, timeout=30)

    assert result.amd is AmdResult.HUMAN
    assert result.kind is OutcomeKind.CONFIRMED, result
    assert result.detail == "confirmed"
    assert result.workflow == "appointment_reminder"
    assert result.patient_id == pid
    status = await records.pool.fetchval(
        "SELECT status FROM sched_appointments WHERE id = 'appt-1'")
    assert status == "confirmed"
    rows = await records.call_transcript(call.call_id)
    text = " ".join(t for _, t in rows)
    assert rows
    assert "Testa" not in text
    assert "1980" not in text
    assert "[NAME]" in text
    # An audit row is durable once spooled (a slow write under load); replay it first.
    assert await records.drain_spool()
    actions = {r["action"] for r in await records.pool.fetch(
        "SELECT action FROM audit_log WHERE record_id = $1", call.call_id)}
    assert {"workflow.enter", "call.transcript_stored"} <= actions


async def test_inbound_opt_out_by_voice(
    runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
    demo_ids: dict[str, str], leg: Leg
) -> None:
    number = "+15550100124"
    assert await records.has_consent(number, Channel.VOICE)
    runtime.record_audio = True  # configuration: keep (encrypted) call audio
    call = make_call(leg, Direction.INBOUND, number, "+15550100100")
    patient = ScriptedPatient(leg.patient, runtime.tts)
    agent_task = asyncio.create_task(agent(call, INBOUND))
    # A second "stop" is spoken only if the first was not understood (as a person would).
    await asyncio.wait_for(patient.run(["Please stop calling me.", "Stop calling me."],
                                       ended=call.ended), timeout=240)
    result = await asyncio.wait_for(agent_task, timeout=30)

    assert result.kind is OutcomeKind.OPTED_OUT, result
    assert not await records.has_consent(number, Channel.VOICE)
    assert (await records.dnc_status(number)).org
    history = await records.consent_history(uuid.UUID(demo_ids["pat-1002"]))
    assert history[-1].event == "revoke"

    row = await records.pool.fetchrow(
        "SELECT audio_ct, sample_rate FROM call_recordings WHERE call_id = $1", call.call_id)
    assert row is not None
    assert row["sample_rate"] == 16000
    kept = await records.call_recording(call.call_id)
    assert kept is not None
    audio, rate = kept
    assert rate == 16000
    assert len(audio) > 16000  # more than half a second of the caller's voice
    assert audio[:4096] not in row["audio_ct"]  # stored encrypted, not as PCM


async def test_audio_not_recorded_by_default(
    runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
    demo_ids: dict[str, str], leg: Leg
) -> None:
    assert runtime.record_audio is False
    call = make_call(leg, Direction.INBOUND, "+15550100125", "+15550100100")
    patient = ScriptedPatient(leg.patient, runtime.tts)
    agent_task = asyncio.create_task(agent(call, INBOUND))
    await asyncio.wait_for(patient.run(["Stop calling me.", "Stop calling me."],
                                       ended=call.ended), timeout=240)
    await asyncio.wait_for(agent_task, timeout=30)
    assert await records.pool.fetchval("SELECT count(*) FROM call_recordings") == 0


async def test_prompts_with_phi_never_reach_the_disk_cache(
    runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
    demo_ids: dict[str, str], leg: Leg, settings: Any,
) -> None:
    """Synthesised audio of a prompt naming the patient or the appointment is PHI: it is
    cached in memory only; the disk cache holds only prompts without record fields."""
    call = make_call(leg, Direction.OUTBOUND, "+15550100123", "+15550100123")
    patient = ScriptedPatient(leg.patient, runtime.tts, answer_first=True)
    observer = TraceKeeper()  # this call's raw turns, for this test only
    agent_task = asyncio.create_task(agent(call, reminder(demo_ids["pat-1001"]),
                                           observer=observer))
    await asyncio.wait_for(patient.run(["Hello?", "Stop calling me.", "Stop calling me."],
                                       ended=call.ended), timeout=240)
    result = await asyncio.wait_for(agent_task, timeout=30)
    assert result.kind is OutcomeKind.OPTED_OUT, (result, observer.traces[0].turns,
                                                  patient.log)
    cache = runtime.tts.cache
    stored = await records.call_transcript(call.call_id)  # as stored: redacted
    opening = next(text for who, text in stored if who == "agent")
    assert "[NAME]" in opening  # the opening names the patient ...
    [trace] = observer.traces
    spoken = [text for who, text in trace.turns if who == "agent"]
    on_disk = {p.name for p in cache.dir.glob("*.pcm")} if cache.dir else set()
    assert on_disk, "PHI-free prompts are cached on disk"
    for text in spoken:
        if "Testa" in text:
            assert f"{cache.key(text)}.pcm" not in on_disk  # ... so it stays off the disk
            assert cache.get(text) is not None  # but is served from memory



async def test_a_call_at_its_length_limit_ends_with_its_record_and_leaves_no_task(
    runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
    demo_ids: dict[str, str], leg: Leg
) -> None:
    """The carrier ends a call at its length limit (``carrier.live_call``); the handler then
    stops, stores the call's record as cut at the limit, reports LENGTH_LIMIT, and its
    TaskGroup leaves no task of the call behind."""
    call = make_call(leg, Direction.INBOUND, "+15550100125", "+15550100100")
    before = asyncio.all_tasks()
    # The carrier's length-limit timer, as LiveCall runs it (2 s into the opening prompt).
    limit = asyncio.get_running_loop().call_later(2.0, call.mark_ended, LENGTH_LIMIT_REASON)
    try:
        result = await asyncio.wait_for(
            agent(call, CallContext(direction=Direction.INBOUND, max_duration_s=2.0)),
            timeout=60)
    finally:
        limit.cancel()
    assert result.kind is OutcomeKind.LENGTH_LIMIT, result
    # Only the agent's own tasks are looked at: the records writers run for the process.
    left = [t for t in asyncio.all_tasks() - before if _agent_code(t)]
    assert left == []
    stored = await records.call_record(call.call_id)
    assert stored is not None
    assert stored.outcome == "length_limit"


AGENT_DIR = Path(agent_package.__file__).resolve().parent


def _agent_code(task: asyncio.Task[Any]) -> bool:
    """The task runs code of the ``agent`` package (a pump, a transcription, a race...)."""
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and Path(code.co_filename).resolve().is_relative_to(AGENT_DIR)
