"""The voice e2e harness shared by every pjsua2 call test (English, Spanish, refill,
question before identity, call endings, outage, anonymous callers).

* ``write_wav``: a line of the synthetic patient, made with the packaged voice;
* ``speak_when_agent_pauses``: the patient answering each agent turn;
* ``stir`` (fixture): the STIR/SHAKEN runtime (dev STI-CA served over HTTPS);
* ``with_trunk`` / ``gateway``: our gateway on 127.0.0.1 with one trunk to the phone;
* ``dial`` / ``answer_outbound``: an outbound call the phone answers, run to its outcome;
* ``call_in``: the phone calls the clinic with a signed Identity.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.handler import AgentRuntime
from carrier.call import Call, Clearance, DialRequest
from carrier.gateway import Gateway
from carrier.plugin import CallHandler, CallOutcome
from carrier.records.store import Records
from carrier.settings import Settings, SipSettings, TrunkSettings
from carrier.sip.endpoint import EndpointConfig
from carrier.stir_setup import StirRuntime, build_stir
from tests.peers.client import PjsuaPeer

CLINIC = "+15550100100"
PATIENT = "+15550100123"


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


@asynccontextmanager
async def gateway(settings: Settings, port: int, handler: CallHandler | Any, records: Records,
                  stir: StirRuntime | None = None) -> AsyncIterator[Gateway]:
    """Our gateway on 127.0.0.1 (UDP only), its trunk ``demo`` to ``port``."""
    gw = Gateway(with_trunk(settings, port), handler=handler, audit=records.audit,
                 stir=stir.context if stir is not None else None,
                 endpoint_config=EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None))
    await gw.start()
    try:
        yield gw
    finally:
        await gw.close()


async def dial(gw: Gateway, phone: PjsuaPeer, *, to: str = PATIENT,
               **request: Any) -> tuple[Call, int]:
    """An outbound call over the trunk, allowed by the gate; the phone's handle of it."""
    call = await gw.dial(DialRequest(to=to, from_number=CLINIC, trunk="demo",
                                     origid=str(uuid.uuid4()),
                                     clearance=Clearance("allowed"), **request))
    assert isinstance(call, Call)
    return call, phone.events("incoming")[-1]["call"]


async def answer_outbound(phone: PjsuaPeer, gw: Gateway, call: Call, handle: int,
                          context: dict[str, Any], converse: Callable[[], Awaitable[None]],
                          *, within_s: float) -> CallOutcome:
    """Run the agent on ``call`` while the patient ``converse``s; its outcome."""
    running = asyncio.create_task(gw.run_outbound(call, context))
    await phone.wait_media_active(call=handle, timeout=10)
    await converse()
    result: CallOutcome = await asyncio.wait_for(running, timeout=within_s)
    return result


def reminder(patient_id: str, appointment_id: str = "appt-1") -> dict[str, Any]:
    return {"purpose": "appointment_reminder", "patient_id": patient_id,
            "appointment_id": appointment_id}


async def call_in(phone: PjsuaPeer, gw: Gateway, stir: StirRuntime, number: str) -> int:
    """The phone calls the clinic with a signed Identity; its handle once answered."""
    ident = stir.context.signer.sign(number, CLINIC, "A", str(uuid.uuid4()), time.time())
    handle = await phone.call(f"sip:{CLINIC}@127.0.0.1:{gw.endpoint.port('UDP')}",
                              headers={"Identity": ident.format()})
    await phone.wait_state("CONFIRMED", call=handle, timeout=10)
    return handle
