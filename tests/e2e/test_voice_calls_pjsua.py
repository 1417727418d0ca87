"""End-to-end voice calls with pjsua2 as the patient's phone (issue: the voice agent).

Everything real on 127.0.0.1: our SIP gateway and RTP, STIR/SHAKEN signing with the
dev STI-CA served over HTTPS, the embedded Postgres, Whisper and Piper, and pjsua2 in
its own process speaking synthesised answers (WAV files made with the packaged
voice) whenever the agent stops talking.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import re
import time
import uuid
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from agent.handler import AgentRuntime, VoiceCallHandler
from carrier.call import Call, Clearance, DialRequest
from carrier.gateway import Gateway
from carrier.plugin import OutcomeKind
from carrier.records.store import Channel, Records
from carrier.settings import Settings, SipSettings, TrunkSettings
from carrier.sip.endpoint import EndpointConfig
from carrier.stir_setup import StirRuntime, build_stir
from stir_shaken.aio import verify_fetching
from tests.agent.conftest import GatewayAgent
from tests.peers.client import PjsuaPeer, needs_pjsua2

pytestmark = [pytest.mark.pjsua2, needs_pjsua2, pytest.mark.postgres, pytest.mark.models,
              pytest.mark.slow, pytest.mark.timeout(300)]


async def write_wav(rt: AgentRuntime, text: str, path: Path) -> Path:
    assert rt.tts is not None
    pcm = await rt.tts.synthesize(text)
    pcm = np.concatenate([pcm, np.zeros(1600, dtype=np.int16)])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.astype("<i2").tobytes())
    return path


async def speak_when_agent_pauses(phone: PjsuaPeer, handle: int, wavs: list[Path], *,
                                  first_immediately: bool, until_hangup: bool = False) -> None:
    """Answer each agent turn: wait for its speech, then 0.9 s of silence, then play.
    With ``until_hangup``, lines left when the agent hangs up are not spoken (a person
    repeats a request only when it was not understood)."""
    for i, wav in enumerate(wavs):
        if not (i == 0 and first_immediately):
            audio = asyncio.ensure_future(
                phone.wait_audio(call=handle, frames=5, min_rms=300, timeout=40))
            if until_hangup and i > 0:
                gone = asyncio.ensure_future(
                    phone.wait_state("DISCONNECTED", call=handle, timeout=40))
                done, _ = await asyncio.wait({audio, gone}, return_when=asyncio.FIRST_COMPLETED)
                if gone in done and not audio.done():
                    audio.cancel()
                    await asyncio.gather(audio, return_exceptions=True)
                    return
                gone.cancel()
                await asyncio.gather(gone, return_exceptions=True)
            started = await audio
            await phone.wait_silence(call=handle, frames=45, min_rms=300, since_t=started,
                                     timeout=60)
        play = await phone.play_wav(str(wav), call=handle)
        done = asyncio.ensure_future(phone.wait_event(
            "play_done", lambda e, p=play: e.get("play_id") == p, call=handle, timeout=30))
        if until_hangup:  # the agent may hang up while we are still talking
            gone = asyncio.ensure_future(
                phone.wait_state("DISCONNECTED", call=handle, timeout=30))
            await asyncio.wait({done, gone}, return_when=asyncio.FIRST_COMPLETED)
            for task in (done, gone):
                task.cancel()
            await asyncio.gather(done, gone, return_exceptions=True)
            if phone.events("call_state") and any(
                    e.get("state") == "DISCONNECTED" for e in phone.events("call_state")):
                return
        else:
            await done


@pytest.fixture
async def stir(settings: Settings) -> AsyncIterator[StirRuntime]:
    runtime = await build_stir(settings)
    assert runtime is not None
    try:
        yield runtime
    finally:
        await runtime.close()


def with_trunk(settings: Settings, port: int) -> Settings:
    trunk = TrunkSettings(name="demo", host="127.0.0.1", port=port, region="local",
                          acl=("127.0.0.0/8",))
    return dataclasses.replace(settings, trunks=(trunk,),
                               sip=SipSettings(bind_host="127.0.0.1", udp_port=0, tcp_port=0))


async def test_outbound_reminder_confirmed_by_voice_over_sip(
        settings: Settings, runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
        demo_ids: dict[str, str], stir: StirRuntime, tmp_path: Path) -> None:
    script = ["Hello?", "Yes, speaking.", "March fifth, nineteen eighty.",
              "Yes, I will come. Confirm."]
    wavs = [await write_wav(runtime, t, tmp_path / f"a{i}.wav") for i, t in enumerate(script)]
    async with PjsuaPeer.start("udp", user="patient", auto_answer=200,
                               log_dir=tmp_path) as phone:
        s = with_trunk(settings, phone.ports["udp"])
        gw = Gateway(s, handler=GatewayAgent(agent), audit=records.audit,
                     stir=stir.context,
                     endpoint_config=EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None))
        await gw.start()
        try:
            origid = str(uuid.uuid4())
            call = await gw.dial(DialRequest(to="+15550100123", from_number="+15550100100",
                                             trunk="demo", origid=origid,
                                             clearance=Clearance("allowed")))
            assert isinstance(call, Call)
            incoming = phone.events("incoming")[-1]
            handle_ = incoming["call"]
            identity = re.findall(r"^Identity:\s*(.+)$", incoming["msg"], re.MULTILINE)
            # The patient's side verifies the Identity header as the INVITE arrives.
            verified = await verify_fetching(stir.context.verifier, stir.context.fetcher,
                                             [i.strip() for i in identity], "+15550100100",
                                             "+15550100123", now=time.time())
            running = asyncio.create_task(gw.run_outbound(call, {
                "purpose": "appointment_reminder", "patient_id": demo_ids["pat-1001"],
                "appointment_id": "appt-1"}))
            await phone.wait_media_active(call=handle_, timeout=10)
            # The agent may confirm and hang up while the last line is still playing.
            await speak_when_agent_pauses(phone, handle_, wavs, first_immediately=True,
                                          until_hangup=True)
            result = await asyncio.wait_for(running, timeout=120)
        finally:
            await gw.close()

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
    s = with_trunk(settings, 9)
    handler = GatewayAgent(agent)
    gw = Gateway(s, handler=handler, audit=records.audit,
                 stir=stir.context,
                 endpoint_config=EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None))
    await gw.start()
    try:
        ident = stir.context.signer.sign(number, "+15550100100", "A", str(uuid.uuid4()),
                                         time.time())
        async with PjsuaPeer.start("udp", user=number, log_dir=tmp_path) as phone:
            handle_ = await phone.call(
                f"sip:+15550100100@127.0.0.1:{gw.endpoint.port('UDP')}",
                headers={"Identity": ident.format()})
            await phone.wait_state("CONFIRMED", call=handle_, timeout=10)
            await speak_when_agent_pauses(phone, handle_, [wav, again], first_immediately=False,
                                          until_hangup=True)
            if not any(ev.get("state") == "DISCONNECTED"
                       for ev in phone.events("call_state")):
                await phone.wait_state("DISCONNECTED", call=handle_, timeout=120)
        await handler.next_outcome(wait_s=60)  # the agent has stored its records
    finally:
        await gw.close()

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
