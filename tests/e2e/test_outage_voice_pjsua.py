"""Issue 11 item 4 with the real voice agent: the records database stops, a patient calls.

The agent cannot look the caller up, read the calendar or the conversation memory, so it
talks to them as an unknown caller (no PHI), and the call's record, redacted transcript and
audit entries are spooled; when Postgres comes back they land, and both chains verify.
Before: ``calendar.providers()`` raised out of the handler and the call was dropped with
no record.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from agent import MIGRATIONS as AGENT_MIGRATIONS
from agent.handler import AgentRuntime, VoiceCallHandler
from carrier.records.migrate import migrate, plan
from carrier.records.store import Records, verify_chain
from carrier.settings import Settings
from tests.agent.conftest import GatewayAgent
from tests.e2e.harness import gateway, speak_when_agent_pauses, write_wav
from tests.peers.client import PjsuaPeer, needs_pjsua2

pytestmark = [pytest.mark.pjsua2, needs_pjsua2, pytest.mark.postgres, pytest.mark.models,
              pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def own_cluster(make_cluster: Any) -> Any:
    """A cluster of this test's own: it is stopped mid-test (not the session's)."""
    return make_cluster()


@pytest.fixture
async def records(own_cluster: Any, tmp_path: Path, test_kek: Any) -> AsyncIterator[Records]:
    conn = await asyncpg.connect(own_cluster.uri())
    try:
        await migrate(conn, plan(AGENT_MIGRATIONS))  # the carrier's tables, then the agent's
    finally:
        await conn.close()
    rec = await Records.open(own_cluster.uri(), test_kek, tmp_path / "spool",
                             retry_interval=0.5)
    try:
        yield rec
    finally:
        await rec.close()


async def test_a_patient_call_during_a_database_outage_is_answered_and_recorded(
        settings: Settings, runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
        own_cluster: Any, tmp_path: Path) -> None:
    hello = await write_wav(runtime, "Hello, I am calling about my appointment.",
                            tmp_path / "hello.wav")
    handler = GatewayAgent(agent)
    async with gateway(settings, 9, handler, records) as gw:
        await asyncio.to_thread(own_cluster.stop)
        async with PjsuaPeer.start("udp", user="+15550100123", log_dir=tmp_path) as phone:
            handle = await phone.call(f"sip:+15550100100@127.0.0.1:{gw.endpoint.port('UDP')}")
            await phone.wait_state("CONFIRMED", call=handle, timeout=10)
            # The agent greets and asks; the caller answers once, then hangs up.
            await speak_when_agent_pauses(phone, handle, [hello], first_immediately=False,
                                          until_hangup=True)
            # Hear the agent's next turn (it goes on talking), then leave.
            await phone.wait_audio(call=handle, frames=5, min_rms=300, timeout=40)
            if not any(ev.get("state") == "DISCONNECTED"
                       for ev in phone.events("call_state")):
                await phone.hangup(handle)
        outcome = await handler.next_outcome(wait_s=60)
        await asyncio.to_thread(own_cluster.start)
    assert outcome.patient_id is None  # an unknown caller: nothing was looked up
    assert await records.drain_spool()
    stored = await records.call_record(outcome.call_id)
    assert stored is not None, "the call's record was lost"
    transcript = await records.call_transcript(outcome.call_id)
    assert any(who == "agent" for who, _ in transcript)
    text = " ".join(t for _, t in transcript)
    assert "Testa" not in text  # no PHI was spoken to an unverified caller
    su = await asyncpg.connect(own_cluster.uri())
    try:
        assert await verify_chain(su, "audit") == []
        assert await verify_chain(su, "consent") == []
        actions = {r["action"] for r in await su.fetch(
            "SELECT action FROM audit_log WHERE record_id = $1", outcome.call_id)}
        assert "patient.lookup_unavailable" in actions
        assert "call.transcript_stored" in actions
    finally:
        await su.close()
