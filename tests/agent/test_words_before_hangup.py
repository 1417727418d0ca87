"""Words said just before a hang-up count: "Please stop calling me." and the receiver
goes down before the agent could hear a pause. Before, the turn being spoken died with
the line (the endpointer never saw the end of it) and the call ended as an ordinary
hang-up: the revocation, said in so many words, was never recorded.

Real parts as in ``test_voice_media``: the embedded Postgres, Whisper and Piper, two
``MediaSession``s over UDP on 127.0.0.1. The hang-up is what ``carrier.live_call`` does
on a BYE: the call is marked ended and its media leg closed at once."""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import pytest

from agent.handler import AgentRuntime, VoiceCallHandler
from carrier.call import Direction
from carrier.plugin import CallContext, OutcomeKind
from carrier.records.store import Channel, Records
from demo import ScriptedPatient
from media.framing import frames as cut_frames
from tests.agent.test_voice_media import Leg, leg, make_call

__all__ = ["leg"]
pytestmark = [pytest.mark.postgres, pytest.mark.models, pytest.mark.slow,
              pytest.mark.call_speech, pytest.mark.timeout(300)]


async def test_an_opt_out_said_just_before_hanging_up_is_recorded(
    runtime: AgentRuntime, agent: VoiceCallHandler, records: Records,
    demo_ids: dict[str, str], leg: Leg
) -> None:
    number = "+15550100124"
    assert await records.has_consent(number, Channel.VOICE)
    call = make_call(leg, Direction.INBOUND, number, "+15550100100")
    handling = asyncio.create_task(agent(call, CallContext(direction=Direction.INBOUND)))
    patient = ScriptedPatient(leg.patient, runtime.tts)
    listener = asyncio.create_task(patient._listen())
    try:
        await patient._wait_turn(60, None)  # the agent's greeting, to its end
        assert runtime.tts is not None
        pcm = await runtime.tts.synthesize("Please stop calling me.")
        await leg.patient.play(cut_frames(np.asarray(pcm), pad=False))
        for _ in range(6):  # the last words' packets reach the agent (a few ticks)
            await leg.patient._wait_tick()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    call.mark_ended("bye")  # the receiver goes down: no pause after the words
    await leg.agent.close()
    result = await asyncio.wait_for(handling, timeout=60)

    assert result.kind is OutcomeKind.OPTED_OUT, result
    assert not await records.has_consent(number, Channel.VOICE)
    rows = await records.call_transcript(call.call_id)
    # The caller's words are the last: the goodbye that followed was heard by nobody,
    # so it is not written as said either.
    assert rows[-1][0] == "caller", rows
