"""The demo's scripted patient owns its listener and its turn waits: nothing outlives a run,
and a failing listener is raised, not swallowed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import numpy as np
import pytest

from carrier.media_leg import MediaLeg
from carrier.sip.endpoint import EndpointConfig, SipEndpoint
from demo.phone import PatientPhone, ScriptedPatient


class _Tts:
    async def synthesize(self, text: str) -> Any:
        return np.zeros(320, dtype=np.int16)


class _Media:
    """A call whose agent speaks one turn (loud then quiet) and then hangs, or breaks."""

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.played = 0

    async def inbound(self) -> AsyncIterator[Any]:
        if self.broken:
            raise RuntimeError("media gone")
        loud, quiet = np.full(320, 8000, np.int16), np.zeros(320, np.int16)
        for frame in [loud] * 5 + [quiet] * 60:
            yield frame
        await asyncio.Event().wait()  # the agent says nothing more

    async def play(self, frames: Iterable[Any]) -> bool:
        self.played += 1
        return True


async def test_run_leaves_no_task_behind() -> None:
    ended = asyncio.Event()
    ended.set()  # the agent hung up after its last turn
    patient = ScriptedPatient(_Media(), _Tts(), answer_first=True)
    log = await patient.run(["hello"], turn_timeout_s=5.0, ended=ended)
    assert log.said == ["hello"]
    # The listener and both turn waits are finished, not merely cancelled.
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_listener_error_is_raised() -> None:
    patient = ScriptedPatient(_Media(broken=True), _Tts(), answer_first=True)
    # Before: gather(return_exceptions=True) swallowed it and the run timed out instead.
    with pytest.raises(RuntimeError, match="media gone"):
        await patient.run(["hello"], turn_timeout_s=0.2)  # bound: no turn ever comes


async def test_the_phone_stops_when_the_agent_hangs_up_early() -> None:
    """The agent ends the call before the script is through (the appointment was already
    confirmed): the phone says no more lines and is done at once. Before, it waited a
    whole turn timeout (30 s) for a turn that never came, and the demo crashed on it."""
    phone = PatientPhone(_Tts(), "127.0.0.1", 0, ["Hello?", "Yes, it's me.", "Confirm."])
    agent = SipEndpoint(EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None,
                                       user="agent"))
    async with phone.endpoint, agent:
        leg = await MediaLeg.open("127.0.0.1")
        try:
            target = f"sip:patient@127.0.0.1:{phone.endpoint.port('UDP')}"
            call = agent.invite(target, sdp=leg.offer(), from_user="+15550100101")
            answered = await call.wait_answer(timeout=5)
            leg.accept(answered.response.body)
            loud = np.full(320, 8000, np.int16)
            # the agent's one turn (200 ms of paced frames, while the phone says its
            # first line), then it hangs up
            await leg.media.play([loud] * 10)
            call.hangup()
            await asyncio.wait_for(phone.done.wait(), timeout=5)  # bound: was 30 s
        finally:
            await leg.close()
    assert phone.log is not None
    assert phone.log.said == ["Hello?"]
