"""A scripted patient for demos and tests: a phone that answers the agent by voice.

``ScriptedPatient`` listens to what arrives on its media session, waits until the agent
has finished speaking (speech heard, then ``quiet_s`` of silence), and plays the next
synthesised answer. ``PatientPhone`` is a SIP phone on a loopback address that answers
(or places) one call and runs a ``ScriptedPatient`` on it. Synthetic lines only; nobody
real. Not imported by the agent's runtime: demos and tests only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.tasks import race
from carrier.media_leg import MediaLeg
from carrier.sip.endpoint import EndpointConfig, SipCall, SipEndpoint
from carrier.sip.events import CallEnded
from media.framing import frames as cut_frames

FRAME_S = 0.02
SPEECH_RMS = 300.0


@dataclass
class PatientLog:
    heard_turns: int = 0
    said: list[str] = field(default_factory=list)
    # (media time the answer's last frame was sent, media time the agent's reply began)
    reply_gaps: list[float] = field(default_factory=list)


class ScriptedPatient:
    """Drive one side of a call: ``await patient.run(answers)``."""

    def __init__(self, media: Any, tts: Any, *, quiet_s: float = 0.9,
                 answer_first: bool = False) -> None:
        self.media = media
        self.tts = tts
        self.quiet_s = quiet_s
        self.answer_first = answer_first
        self.log = PatientLog()
        self._frames = 0
        self._speaking = False
        self._last_voice = 0.0
        self._heard_any = False
        self._answer_done_at: float | None = None
        self._turn_end = asyncio.Event()

    @property
    def now(self) -> float:
        return self._frames * FRAME_S

    async def _listen(self) -> None:
        async for frame in self.media.inbound():
            self._frames += 1
            rms = float(np.sqrt(np.mean(frame.astype(np.float32) ** 2)))
            if rms > SPEECH_RMS:
                if not self._speaking and self._answer_done_at is not None:
                    self.log.reply_gaps.append(self.now - self._answer_done_at)
                    self._answer_done_at = None
                self._speaking = True
                self._heard_any = True
                self._last_voice = self.now
            elif self._speaking and self.now - self._last_voice >= self.quiet_s:
                self._speaking = False
                self.log.heard_turns += 1
                self._turn_end.set()

    async def _wait_turn(self, timeout_s: float, ended: asyncio.Event | None) -> bool:
        """Wait for the agent to finish a turn; True when the call ended instead."""
        contestants = {"turn": self._turn_end.wait()}
        if ended is not None:
            contestants["ended"] = ended.wait()
        if await race(contestants, wait_s=timeout_s) is None:
            raise TimeoutError("the agent did not finish its turn")
        return ended is not None and ended.is_set() and not self._turn_end.is_set()

    async def run(self, answers: Sequence[str], *, turn_timeout_s: float = 30.0,
                  ended: asyncio.Event | None = None) -> PatientLog:
        """Answer each agent turn in order. With ``ended`` (the call's end), lines left over
        when the agent hangs up are not spoken: a script may repeat a request the way a
        person repeats themselves when not understood."""
        # The listener is this run's own task, cancelled and awaited before it returns; an
        # error in it is raised here (not a TaskGroup: its ExceptionGroup would hide the
        # TimeoutError callers catch).
        listener = asyncio.get_running_loop().create_task(self._listen(), name="patient-listen")
        try:
            await self._converse(answers, turn_timeout_s, ended)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        return self.log

    async def _converse(self, answers: Sequence[str], turn_timeout_s: float,
                        ended: asyncio.Event | None) -> None:
        for i, text in enumerate(answers):
            if not (i == 0 and self.answer_first):
                self._turn_end.clear()
                if await self._wait_turn(turn_timeout_s, ended):
                    return
            pcm = await self.tts.synthesize(text)
            frames = cut_frames(pcm, pad=False)
            await self.media.play(frames)
            self._answer_done_at = self.now
            self.log.said.append(text)
        # Hear the agent's last words.
        self._turn_end.clear()
        await self._wait_turn(turn_timeout_s, ended)


class PatientPhone:
    """A phone on the demo trunk's address that answers and runs a scripted patient."""

    def __init__(self, tts: Any, host: str, port: int, script: Sequence[str]) -> None:
        self.tts = tts
        self.script: Sequence[str] = script
        self.log: PatientLog | None = None
        self.invite_identity: list[str] = []
        self.verify: Any = None
        self.verification: Any = None
        self.done = asyncio.Event()
        self.call_id = ""  # of the last call, placed or answered
        self.endpoint = SipEndpoint(EndpointConfig(udp=(host, port), tcp=None, tls=None,
                                                   user="patient"), on_call=self._answer)

    async def call_in(self, target: str, identity: str | None) -> None:
        """The patient calls the clinic (inbound for the gateway) and speaks the script."""
        leg = await MediaLeg.open("127.0.0.1")
        try:
            headers = (("Identity", identity),) if identity else ()
            sipcall = self.endpoint.invite(target, sdp=leg.offer(),
                                           from_user="+15550100123", headers=headers)
            self.call_id = sipcall.call_id
            answered = await sipcall.wait_answer(timeout=15)
            leg.accept(answered.response.body)
            patient = ScriptedPatient(leg.media, self.tts)
            self.log = patient.log  # kept however the call ends
            await patient.run(self.script)
            sipcall.hangup()
        finally:
            await leg.close()
            self.done.set()

    async def _answer(self, sipcall: SipCall) -> None:
        self.call_id = sipcall.call_id
        self.invite_identity = sipcall.request.get_all("Identity")
        if self.verify is not None:
            # Verified on arrival, as a terminating carrier would (iat is fresh now).
            self.verification = await self.verify(self.invite_identity)
        leg = await MediaLeg.open("127.0.0.1")
        try:
            sipcall.answer(leg.answer(sipcall.remote_sdp))
            patient = ScriptedPatient(leg.media, self.tts, answer_first=True)
            self.log = patient.log  # kept however the call ends (cut at a limit, a timeout)
            # The agent may hang up before the script is through (the appointment was
            # already confirmed, a limit): lines left over are then not spoken.
            ended = asyncio.Event()
            watcher = asyncio.get_running_loop().create_task(_watch_end(sipcall, ended))
            try:
                await patient.run(self.script, ended=ended)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), timeout=10)
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
        finally:
            await leg.close()
            self.done.set()


async def _watch_end(sipcall: SipCall, ended: asyncio.Event) -> None:
    """Set ``ended`` when the call ends, whichever side hangs up (cancelled otherwise)."""
    with contextlib.suppress(TimeoutError):
        await sipcall.wait_for(CallEnded, timeout=24 * 3600)
    ended.set()
