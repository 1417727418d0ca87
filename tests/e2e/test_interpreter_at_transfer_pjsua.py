"""A patient whose EHR names a language the clinic does not call in ("vi"): the person
taking a transfer of their call is told an interpreter may be needed, before they speak
(as for a caller with little English). Before: the context said only why the caller was
transferred, and the one answering learnt the language by talking.

pjsua2 is the patient's phone and the front desk (off-net, over the trunk), over SIP/RTP
on 127.0.0.1, with the embedded Postgres and the speech models."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from agent.handler import AgentRuntime
from carrier.records.store import Records
from carrier.settings import Settings
from carrier.stir_setup import StirRuntime
from tests.agent.conftest import GatewayAgent
from tests.e2e.harness import call_in, gateway, speak_when_agent_pauses, stir, write_wav
from tests.e2e.test_call_endings_pjsua import to_front_desk
from tests.peers.client import PjsuaPeer, needs_pjsua2

__all__ = ["stir"]
pytestmark = [pytest.mark.pjsua2, needs_pjsua2, pytest.mark.postgres, pytest.mark.models,
              pytest.mark.slow, pytest.mark.timeout(300)]


async def test_the_transfer_context_says_an_interpreter_may_be_needed(
        settings: Settings, runtime: AgentRuntime, records: Records,
        demo_ids: dict[str, str], stir: StirRuntime, tmp_path: Path) -> None:
    # As a feed leaves it: the EHR said Vietnamese, the calls are in English.
    await records.pool.execute(
        "UPDATE patients SET language_feed = 'vi', language_source = 'feed' WHERE id = $1",
        uuid.UUID(demo_ids["pat-1002"]))
    ask = await write_wav(runtime, "Can I talk to a person, please?", tmp_path / "ask.wav")
    handler = GatewayAgent(to_front_desk(runtime))
    async with (PjsuaPeer.start("udp", user="desk", auto_answer=200, log_dir=tmp_path,
                                name="desk") as desk,
                gateway(settings, desk.ports["udp"], handler, records, stir) as gw,
                PjsuaPeer.start("udp", user="+15550100124", log_dir=tmp_path) as phone):
        handle = await call_in(phone, gw, stir, "+15550100124")
        await speak_when_agent_pauses(phone, handle, [ask], first_immediately=False)
        incoming = await desk.wait_incoming(timeout=40)
        human = incoming["call"]
        await desk.wait_media_active(call=human, timeout=10)
        context_at = await desk.wait_audio(call=human, frames=10, min_rms=300, timeout=30)
        await desk.wait_silence(call=human, frames=50, min_rms=300, since_t=context_at,
                                timeout=60)
        await desk.hangup(human)
        await phone.wait_state("DISCONNECTED", call=handle, timeout=30)
        await handler.next_outcome(wait_s=60)
    context = re.search(r"^X-Transfer-Context:\s*(.+)$", incoming["msg"], re.MULTILINE)
    assert context is not None
    assert "interpreter" in context.group(1), context.group(1)
    assert "vi" in context.group(1)
