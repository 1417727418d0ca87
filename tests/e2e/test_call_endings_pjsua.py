"""How calls end, end to end (issue 12, "Endings that are safe and truthful").

Real parts on 127.0.0.1: our gateway (SIP/RTP, STIR/SHAKEN signing), the embedded
Postgres, Whisper and Piper, and pjsua2 peers in their own processes: the patient's
phone, and the human at the front desk (reached over the trunk, as a number off our
network).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import re
import time
from pathlib import Path

import pytest

from agent.handler import AgentRuntime, VoiceCallHandler
from carrier.plugin import OutcomeKind
from carrier.records.store import Channel, Records
from carrier.settings import Settings
from carrier.stir_setup import StirRuntime
from tests.agent.conftest import GatewayAgent
from tests.e2e.harness import (
    answer_outbound,
    call_in,
    dial,
    gateway,
    reminder,
    speak_when_agent_pauses,
    stir,
    write_wav,
)
from tests.peers.client import PjsuaPeer, needs_pjsua2

__all__ = ["stir"]
pytestmark = [pytest.mark.pjsua2, needs_pjsua2, pytest.mark.postgres, pytest.mark.models,
              pytest.mark.slow, pytest.mark.timeout(300)]

HUMAN = "+15550100199"


def to_front_desk(runtime: AgentRuntime) -> VoiceCallHandler:
    """Every queue rings the front desk's number, off our network (over the trunk)."""
    queues = dict.fromkeys(("front_desk", "scheduling", "pharmacy"), f"tel:{HUMAN}")
    return VoiceCallHandler(dataclasses.replace(runtime, queues=queues))


def ppt_of(identity: str) -> str | None:
    head = identity.split(".", maxsplit=1)[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))).get("ppt")


async def test_dtmf_opt_out_then_instant_hangup_is_recorded(
        settings: Settings, runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
        demo_ids: dict[str, str], stir: StirRuntime, tmp_path: Path) -> None:
    """Fails before the fix: the key waited for a turn that never came (no revocation)."""
    number = "+15550100124"
    assert await records.has_consent(number, Channel.VOICE)
    handler = GatewayAgent(agent)
    async with (gateway(settings, 9, handler, records, stir) as gw,
                PjsuaPeer.start("udp", user=number, log_dir=tmp_path) as phone):
        handle = await call_in(phone, gw, stir, number)
        await phone.wait_audio(call=handle, frames=5, min_rms=300, timeout=30)  # the opening
        await phone.dtmf("9", call=handle)
        # Bounded wait on the outside phone: a finger on a key sends its first RFC 4733
        # packets within a few 20 ms ticks; we hang up 0.1 s in, before the key's end
        # packets (pjsua's digit lasts 160 ms), while the opening still plays.
        await asyncio.sleep(0.1)
        await phone.hangup(handle)
        result = await handler.next_outcome(wait_s=60)
    assert result.kind is OutcomeKind.OPTED_OUT, result
    assert not await records.has_consent(number, Channel.VOICE)
    assert (await records.dnc_status(number)).org
    assert await records.pool.fetchval(
        "SELECT outcome FROM call_records WHERE call_id = $1", result.call_id) == "opted_out"


async def test_failed_transfer_apologises_offers_a_call_back_and_a_yes_is_a_staff_task(
        settings: Settings, runtime: AgentRuntime, records: Records,
        demo_ids: dict[str, str], stir: StirRuntime, tmp_path: Path) -> None:
    """Fails before the call-back offer: the agent said the number and hung up, and the
    patient's yes reached nobody (no staff task)."""
    ask = await write_wav(runtime, "Can I talk to a person, please?", tmp_path / "ask.wav")
    yes = await write_wav(runtime, "Yes, please call me back.", tmp_path / "yes.wav")
    handler = GatewayAgent(to_front_desk(runtime))
    async with (PjsuaPeer.start("udp", user="desk", auto_answer=486, log_dir=tmp_path,
                                name="desk") as desk,
                gateway(settings, desk.ports["udp"], handler, records, stir) as gw,
                PjsuaPeer.start("udp", user="+15550100124", log_dir=tmp_path) as phone):
        handle = await call_in(phone, gw, stir, "+15550100124")
        await speak_when_agent_pauses(phone, handle, [ask], first_immediately=False)
        await desk.wait_incoming(timeout=40)  # the front desk was rung, and was busy
        await speak_when_agent_pauses(phone, handle, [yes], first_immediately=False,
                                      until_hangup=True)  # the apology and the offer
        await phone.wait_state("DISCONNECTED", call=handle, timeout=60)  # our BYE, after it
        result = await handler.next_outcome(wait_s=60)
    assert result.kind is OutcomeKind.TRANSFER_FAILED, result
    assert await records.pool.fetchval(
        "SELECT outcome FROM call_records WHERE call_id = $1", result.call_id) \
        == "transfer_failed"
    turns = await records.call_transcript(result.call_id)
    said = [t for who, t in turns if who == "agent"]
    assert "could not reach" in said[-2]
    assert "call you back" in said[-2]  # the offer
    assert "call us at" in said[-1]  # and the number, for sooner
    task = await records.pool.fetchrow(
        "SELECT id, kind, queue, status, details_ct FROM staff_tasks WHERE call_id = $1",
        result.call_id)
    assert task is not None, turns
    # the queue the transfer tried (the intake workflow hands over to scheduling)
    assert (task["kind"], task["queue"], task["status"]) == ("callback", "scheduling", "open")
    assert records.keys.decrypt_str(task["details_ct"], "staff_tasks", "details",
                                    str(task["id"])) == "+15550100124"
    assert await records.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'staff_task.created'"
        " AND record_id = $1", str(task["id"])) == 1


async def test_key_nine_stops_the_prompt_at_once_and_opts_out(
        settings: Settings, runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
        demo_ids: dict[str, str], stir: StirRuntime, tmp_path: Path) -> None:
    """Fails before the fix: the 9 waited until the opening (and the language offer) had
    played to their end; now the opening stops, the opt-out is recorded, then goodbye."""
    number = "+15550100124"
    assert await records.has_consent(number, Channel.VOICE)
    handler = GatewayAgent(agent)
    loop = asyncio.get_running_loop()
    async with (gateway(settings, 9, handler, records, stir) as gw,
                PjsuaPeer.start("udp", user=number, log_dir=tmp_path) as phone):
        handle = await call_in(phone, gw, stir, number)
        started = await phone.wait_audio(call=handle, frames=5, min_rms=300,
                                         timeout=30)  # the opening (peer's monotonic clock)
        await phone.dtmf("9", call=handle)
        pressed = loop.time()
        into_opening = time.monotonic() - started
        await phone.wait_state("DISCONNECTED", call=handle, timeout=60)  # our BYE
        after_key = loop.time() - pressed
        result = await handler.next_outcome(wait_s=60)
    assert result.kind is OutcomeKind.OPTED_OUT, result
    assert not await records.has_consent(number, Channel.VOICE)
    assert (await records.dnc_status(number)).org
    said = [t for who, t in await records.call_transcript(result.call_id) if who == "agent"]
    opening, goodbye = said[0], said[-1]
    assert "will not receive any more calls" in goodbye, goodbye
    assert "Para español" not in said  # the offer after the opening never started
    # Our BYE came before the rest of the opening and the goodbye could have played one
    # after the other (as they did before: the key waited for the opening's end).
    opening_s = len(await runtime.tts.synthesize(opening, persist=False)) / 16000
    goodbye_s = len(await runtime.tts.synthesize(goodbye, persist=False)) / 16000
    rest_of_opening = opening_s - into_opening
    assert rest_of_opening > 4.0  # enough left that the check below tells the two apart
    assert after_key < rest_of_opening + goodbye_s - 1.0, (after_key, rest_of_opening,
                                                          goodbye_s)


async def test_warm_transfer_gives_the_human_context_then_the_patient_with_div(
        settings: Settings, runtime: AgentRuntime, records: Records,
        demo_ids: dict[str, str], stir: StirRuntime, tmp_path: Path) -> None:
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
        await phone.play_tone(1000, 2.0, call=handle)  # the patient, now with the human
        patient = await desk.measure(call=human, frames=25, min_rms=300, timeout=20)
        await desk.hangup(human)
        await phone.wait_state("DISCONNECTED", call=handle, timeout=30)
        result = await handler.next_outcome(wait_s=60)
    msg = incoming["msg"]
    context = re.search(r"^X-Transfer-Context:\s*(.+)$", msg, re.MULTILINE)
    assert context is not None
    assert "verified" in context.group(1)  # who / verified or not / why, redacted
    assert "+15550100124" not in context.group(1)
    identities = re.findall(r"^Identity:\s*(\S+)", msg, re.MULTILINE)
    assert "div" in [ppt_of(i) for i in identities]  # off-net: RFC 8946 div PASSporT
    assert abs(patient["freq"] - 1000) < 50
    assert result.kind is OutcomeKind.TRANSFERRED, result


async def test_length_budget_reached_mid_conversation_closes_and_records(
        settings: Settings, runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
        demo_ids: dict[str, str], stir: StirRuntime, tmp_path: Path) -> None:
    script = ["Hello?", "Yes, this is her, speaking.",
              "Hold on, let me find it, I think it was March fifth, nineteen eighty.",
              "Sorry, what was that again? Can you say that one more time?"] * 2
    wavs = [await write_wav(runtime, t, tmp_path / f"l{i}.wav") for i, t in enumerate(script)]
    handler = GatewayAgent(agent)
    limit = 60.0  # the rule's figure (healthcare_exemption.max_call_seconds)
    async with PjsuaPeer.start("udp", user="patient", auto_answer=200,  # noqa: SIM117
                               log_dir=tmp_path) as phone:
        async with gateway(settings, phone.ports["udp"], handler, records, stir) as gw:
            call, handle = await dial(gw, phone, max_duration_s=limit)
            started = time.monotonic()
            result = await answer_outbound(
                phone, gw, call, handle, reminder(demo_ids["pat-1001"]),
                lambda: speak_when_agent_pauses(phone, handle, wavs, first_immediately=True,
                                                until_hangup=True), within_s=120)
            ended = time.monotonic() - started
    assert result is not None
    assert result.kind is OutcomeKind.LENGTH_LIMIT, result
    assert ended < limit + 1
    row = await records.pool.fetchrow(
        "SELECT outcome FROM call_records WHERE call_id = $1", call.call_id)
    assert row["outcome"] == "length_limit"
    turns = await records.call_transcript(call.call_id)
    assert any(who == "caller" for who, _ in turns)
    assert turns[-1][0] == "agent"
    assert "reached the time" in turns[-1][1]  # a closing, not a cut
    # An audit row is durable once spooled (a slow write under load); replay it first.
    assert await records.drain_spool()
    actions = {r["action"] for r in await records.pool.fetch(
        "SELECT action FROM audit_log WHERE record_id = $1", call.call_id)}
    assert "call.length_budget" in actions
    assert "call.length_limit" not in actions  # the carrier's hard cut never came


async def test_a_reported_death_ends_kindly_and_stops_the_calls(
        settings: Settings, runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
        demo_ids: dict[str, str], stir: StirRuntime, tmp_path: Path) -> None:
    """A relative answers the reminder: "She passed away last month." Before, the agent
    asked "Is this Testa? Please say yes or no." and the reminders went on; now it says it
    is sorry, revokes the patient's consent (so the dialer's gate refuses the next
    reminder) and ends the call. The household's number is not put on the DNC list."""
    number = "+15550100123"  # the demo patient pat-1001's phone
    assert await records.has_consent(number, Channel.VOICE)
    wav = await write_wav(runtime, "She passed away last month.", tmp_path / "died.wav")
    async with (PjsuaPeer.start("udp", user="patient", auto_answer=200,
                                log_dir=tmp_path) as phone,
                gateway(settings, phone.ports["udp"], GatewayAgent(agent), records, stir) as gw):
        call, handle_ = await dial(gw, phone)
        result = await answer_outbound(
            phone, gw, call, handle_, reminder(demo_ids["pat-1001"]),
            lambda: speak_when_agent_pauses(phone, handle_, [wav], first_immediately=False,
                                            until_hangup=True),
            within_s=120)
    turns = await records.call_transcript(call.call_id)
    agent_lines = [t for speaker, t in turns if speaker == "agent"]
    assert any("sorry for your loss" in t for t in agent_lines), agent_lines
    assert not any("yes or no" in t for t in agent_lines), agent_lines
    assert not await records.has_consent(number, Channel.VOICE)
    assert not (await records.dnc_status(number)).org
    assert result.kind is OutcomeKind.COMPLETED, result
