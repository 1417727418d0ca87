"""End-to-end over SIP/RTP with real speech (issue 12): a question answered before
identity. pjsua2 is the patient's phone and speaks Piper-made answers; Whisper hears
them. The patient asks "Who is this?" before confirming: the agent names the clinic and
the purpose in general terms only (no doctor, time or surname before the date of birth
matches), asks its question again, and the call goes on to a confirmed appointment."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from agent.handler import AgentRuntime, VoiceCallHandler
from carrier.call import Call, Clearance, DialRequest
from carrier.gateway import Gateway
from carrier.plugin import OutcomeKind
from carrier.records.store import Records
from carrier.settings import Settings
from carrier.sip.endpoint import EndpointConfig
from carrier.stir_setup import StirRuntime
from tests.agent.conftest import GatewayAgent
from tests.e2e.test_voice_calls_pjsua import (
    speak_when_agent_pauses,
    stir,
    with_trunk,
    write_wav,
)
from tests.peers.client import PjsuaPeer, needs_pjsua2

pytestmark = [pytest.mark.pjsua2, needs_pjsua2, pytest.mark.postgres, pytest.mark.models,
              pytest.mark.slow, pytest.mark.timeout(300)]
__all__ = ["stir"]  # the STIR/SHAKEN runtime fixture, shared with the other voice calls

PHI = ("Testwell", "10:30", "Patientson", "November", "1980")


async def test_question_answered_before_identity_over_sip(
        settings: Settings, runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
        demo_ids: dict[str, str], stir: StirRuntime, tmp_path: Path) -> None:
    script = ["Hello?", "Who is this?", "Yes, speaking.", "March fifth, nineteen eighty.",
              "Yes, I will come. Confirm."]
    wavs = [await write_wav(runtime, t, tmp_path / f"q{i}.wav") for i, t in enumerate(script)]
    async with PjsuaPeer.start("udp", user="patient", auto_answer=200,
                               log_dir=tmp_path) as phone:
        s = with_trunk(settings, phone.ports["udp"])
        gw = Gateway(s, handler=GatewayAgent(agent), audit=records.audit,
                     stir=stir.context,
                     endpoint_config=EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None))
        await gw.start()
        try:
            call = await gw.dial(DialRequest(to="+15550100123", from_number="+15550100100",
                                             trunk="demo", origid=str(uuid.uuid4()),
                                             clearance=Clearance("allowed")))
            assert isinstance(call, Call)
            handle_ = phone.events("incoming")[-1]["call"]
            running = asyncio.create_task(gw.run_outbound(call, {
                "purpose": "appointment_reminder", "patient_id": demo_ids["pat-1001"],
                "appointment_id": "appt-1"}))
            await phone.wait_media_active(call=handle_, timeout=10)
            await speak_when_agent_pauses(phone, handle_, wavs, first_immediately=True,
                                          until_hangup=True)
            result = await asyncio.wait_for(running, timeout=150)
        finally:
            await gw.close()

    assert result.kind is OutcomeKind.CONFIRMED, result
    turns = await records.call_transcript(call.call_id)
    agent_lines = [t for speaker, t in turns if speaker == "agent"]
    answer = next(i for i, t in enumerate(agent_lines) if "automated assistant" in t)
    dob_asked = next(i for i, t in enumerate(agent_lines) if "date of birth" in t)
    assert answer < dob_asked  # answered before identity was verified
    assert "Maple Grove" in agent_lines[answer] or "[" in agent_lines[answer]
    for line in agent_lines[answer:answer + 3]:
        if "date of birth" in line:
            break
        for secret in PHI:
            assert secret not in line
    # The question was asked again after the answer ("Is this ...? Please say yes or no.")
    assert any("yes or no" in t for t in agent_lines[answer:dob_asked])
    assert await records.pool.fetchval(
        "SELECT status FROM sched_appointments WHERE id = 'appt-1'") == "confirmed"
