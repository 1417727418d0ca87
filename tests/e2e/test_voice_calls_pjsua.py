"""End-to-end voice calls with pjsua2 as the patient's phone (issue: the voice agent).

Everything real on 127.0.0.1: our SIP gateway and RTP, STIR/SHAKEN signing with the
dev STI-CA served over HTTPS, the embedded Postgres, Whisper and Piper, and pjsua2 in
its own process speaking synthesised answers (WAV files made with the packaged
voice) whenever the agent stops talking.
"""

from __future__ import annotations

import datetime
import re
import time
import uuid
from pathlib import Path

import pytest

from agent.handler import AgentRuntime, VoiceCallHandler
from carrier.plugin import OutcomeKind
from carrier.records.store import Channel, Records
from carrier.settings import Settings
from carrier.stir_setup import StirRuntime
from stir_shaken.aio import verify_fetching
from tests.agent.conftest import GatewayAgent
from tests.e2e.harness import (
    CLINIC,
    PATIENT,
    answer_outbound,
    call_in,
    dial,
    gateway,
    reminder,
    speak_when_agent_pauses,
    stir,
    with_trunk,
    write_wav,
)
from tests.peers.client import PjsuaPeer, needs_pjsua2

# The STIR/SHAKEN fixture, and the helpers other test modules imported from here before
# they moved to tests/e2e/harness.py.
__all__ = ["speak_when_agent_pauses", "stir", "with_trunk", "write_wav"]
pytestmark = [pytest.mark.pjsua2, needs_pjsua2, pytest.mark.postgres, pytest.mark.models,
              pytest.mark.slow, pytest.mark.timeout(300)]


async def test_outbound_reminder_confirmed_by_voice_over_sip(
        settings: Settings, runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
        demo_ids: dict[str, str], stir: StirRuntime, tmp_path: Path) -> None:
    script = ["Hello?", "Yes, speaking.", "March fifth, nineteen eighty.",
              "Yes, I will come. Confirm."]
    wavs = [await write_wav(runtime, t, tmp_path / f"a{i}.wav") for i, t in enumerate(script)]
    async with (PjsuaPeer.start("udp", user="patient", auto_answer=200,
                                log_dir=tmp_path) as phone,
                gateway(settings, phone.ports["udp"], GatewayAgent(agent), records, stir) as gw):
        call, handle_ = await dial(gw, phone)
        identity = re.findall(r"^Identity:\s*(.+)$", phone.events("incoming")[-1]["msg"],
                              re.MULTILINE)
        # The patient's side verifies the Identity header as the INVITE arrives.
        verified = await verify_fetching(stir.context.verifier, stir.context.fetcher,
                                         [i.strip() for i in identity], CLINIC, PATIENT,
                                         now=time.time())
        # The agent may confirm and hang up while the last line is still playing.
        result = await answer_outbound(
            phone, gw, call, handle_, reminder(demo_ids["pat-1001"]),
            lambda: speak_when_agent_pauses(phone, handle_, wavs, first_immediately=True,
                                            until_hangup=True), within_s=120)

    assert verified.ok, verified
    assert verified.attest == "A"
    assert result.kind is OutcomeKind.CONFIRMED, result
    assert result.detail == "confirmed"
    assert await records.pool.fetchval(
        "SELECT status FROM sched_appointments WHERE id = 'appt-1'") == "confirmed"
    stored = " ".join(t for _, t in await records.call_transcript(call.call_id))
    assert "[NAME]" in stored
    assert "Testa" not in stored
    assert "nineteen eighty" not in stored.lower()
    # An audit row is durable once spooled (a slow write under load); replay it first.
    assert await records.drain_spool()
    actions = {r["action"] for r in await records.pool.fetch(
        "SELECT action FROM audit_log WHERE record_id = $1", call.call_id)}
    assert {"stir.sign", "workflow.enter", "call.transcript_stored"} <= actions
    consent = await records.consent_history(uuid.UUID(demo_ids["pat-1001"]))
    assert consent[-1].event == "grant"  # still consenting: nothing revoked
    assert await records.verify_chain("audit") == []


async def test_inbound_opt_out_by_voice_over_sip(
        settings: Settings, runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
        demo_ids: dict[str, str], stir: StirRuntime, tmp_path: Path) -> None:
    number = "+15550100124"
    assert await records.has_consent(number, Channel.VOICE)
    wav = await write_wav(runtime, "Stop calling me, please.", tmp_path / "stop.wav")
    again = await write_wav(runtime, "Stop calling me.", tmp_path / "again.wav")
    handler = GatewayAgent(agent)
    async with gateway(settings, 9, handler, records, stir) as gw:
        async with PjsuaPeer.start("udp", user=number, log_dir=tmp_path) as phone:
            handle_ = await call_in(phone, gw, stir, number)
            await speak_when_agent_pauses(phone, handle_, [wav, again], first_immediately=False,
                                          until_hangup=True)
            if not any(ev.get("state") == "DISCONNECTED"
                       for ev in phone.events("call_state")):
                await phone.wait_state("DISCONNECTED", call=handle_, timeout=120)
        await handler.next_outcome(wait_s=60)  # the agent has stored its records

    [result] = handler.outcomes  # what the handler returned for this one call
    assert result.kind is OutcomeKind.OPTED_OUT, result
    assert result.detail == "opted_out"
    assert not await records.has_consent(number, Channel.VOICE)
    assert (await records.dnc_status(number)).org
    row = await records.pool.fetchrow(
        "SELECT stir_status, verstat FROM call_records WHERE call_id = $1", result.call_id)
    assert row["verstat"] == "TN-Validation-Passed"
    # No further reminder is dialled: the compliance gate now refuses this patient, and
    # says which rule did.
    from carrier.dialer.wiring import gate_once  # noqa: PLC0415

    decision = await gate_once(records, demo_ids["pat-1002"], "appointment_reminder",
                               datetime.datetime(2026, 12, 1, 15, 0, tzinfo=datetime.UTC),
                               rules_dir=Path(settings.config_dir) / "calling_rules")
    assert not decision.allowed
    assert decision.rule in ("tcpa.consent.revoked", "dnc.organisation")
