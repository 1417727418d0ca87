"""Issue 12: a withheld or non-numeric caller ID (anonymous, ``sip:name@host``) gets the
normal conversation as an unknown caller, and the call is recorded. Before, the call was
answered and dropped within 50 ms with no record.

pjsua2 calls our gateway over SIP/RTP on 127.0.0.1 with an anonymous From, waits for the
agent's greeting, says a line (Piper speech), and hangs up after the agent's reply."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.handler import AgentRuntime, VoiceCallHandler
from carrier.records.store import Records
from carrier.settings import Settings
from tests.agent.conftest import GatewayAgent
from tests.e2e.harness import gateway, speak_when_agent_pauses, write_wav
from tests.peers.client import PjsuaPeer, needs_pjsua2

pytestmark = [pytest.mark.pjsua2, needs_pjsua2, pytest.mark.postgres, pytest.mark.models,
              pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.mark.parametrize("id_uri", ['"Anonymous" <sip:anonymous@anonymous.invalid>',
                                    "<sip:frontdesk@example.invalid>"],
                         ids=["anonymous", "sip-name"])
async def test_withheld_caller_id_gets_the_conversation_and_a_record(
        settings: Settings, runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
        tmp_path: Path, id_uri: str) -> None:
    wav = await write_wav(runtime, "Hello, who is this?", tmp_path / "who.wav")
    handler = GatewayAgent(agent)
    async with gateway(settings, 9, handler, records) as gw:
        async with PjsuaPeer.start("udp", id_uri=id_uri, log_dir=tmp_path) as phone:
            handle = await phone.call(f"sip:+15550100100@127.0.0.1:{gw.endpoint.port('UDP')}")
            await phone.wait_state("CONFIRMED", call=handle, timeout=10)
            await speak_when_agent_pauses(phone, handle, [wav], first_immediately=False)
            # the agent answers the line; then the caller hangs up
            started = await phone.wait_audio(call=handle, frames=5, min_rms=300, timeout=40)
            await phone.wait_silence(call=handle, frames=45, min_rms=300, since_t=started,
                                     timeout=60)
            await phone.hangup(call=handle)
            await phone.wait_state("DISCONNECTED", call=handle, timeout=20)
        await handler.next_outcome(wait_s=60)  # the agent has stored its records

    [result] = handler.outcomes
    assert result.patient_id is None  # an unknown caller
    row = await records.pool.fetchrow(
        "SELECT outcome, started_at, ended_at FROM call_records WHERE call_id = $1",
        result.call_id)
    assert row is not None
    assert (row["ended_at"] - row["started_at"]).total_seconds() > 2  # a conversation ran
    stored = [t for _, t in await records.call_transcript(result.call_id)]
    assert len(stored) >= 2  # the agent's greeting and the caller's line at least
    assert any("who" in t.lower() for t in stored)
