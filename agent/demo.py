"""A scripted patient for demos and tests: answers the agent by voice over RTP.

It listens to what arrives on its media session, waits until the agent has
finished speaking (speech heard, then ``quiet_s`` of silence), and plays the next
synthesised answer. Synthetic lines only; nobody real.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.handler import patient_uuid

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
        self._task: asyncio.Task[None] | None = None

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
        waits = [asyncio.ensure_future(self._turn_end.wait())]
        if ended is not None:
            waits.append(asyncio.ensure_future(ended.wait()))
        try:
            done, _ = await asyncio.wait(waits, timeout=timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        if not done:
            raise TimeoutError("the agent did not finish its turn")
        return ended is not None and ended.is_set() and not self._turn_end.is_set()

    async def run(self, answers: Sequence[str], *, turn_timeout_s: float = 30.0,
                  ended: asyncio.Event | None = None) -> PatientLog:
        """Answer each agent turn in order. With ``ended`` (the call's end), lines left over
        when the agent hangs up are not spoken: a script may repeat a request the way a
        person repeats themselves when not understood."""
        self._task = asyncio.create_task(self._listen())
        try:
            for i, text in enumerate(answers):
                if not (i == 0 and self.answer_first):
                    self._turn_end.clear()
                    if await self._wait_turn(turn_timeout_s, ended):
                        return self.log
                pcm = await self.tts.synthesize(text)
                frames = [pcm[j:j + 320] for j in range(0, len(pcm) - 319, 320)]
                await self.media.play(frames)
                self._answer_done_at = self.now
                self.log.said.append(text)
            # Hear the agent's last words.
            self._turn_end.clear()
            await self._wait_turn(turn_timeout_s, ended)
        finally:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        return self.log


# ---- the README's demo call -----------------------------------------------------------

DEMO_SCRIPT = ("Hello?", "Yes, this is Testa.", "March fifth, nineteen eighty.",
               "Yes, I will be there. Confirm.")
CALL_IN_SCRIPT = ("Yes, this is Testa.", "March fifth, nineteen eighty.",
                  "Yes, I will be there. Confirm.")


class PatientPhone:
    """A phone on the demo trunk's address that answers and runs a scripted patient."""

    def __init__(self, tts: Any, host: str, port: int, script: Sequence[str]) -> None:
        from carrier.sip.endpoint import EndpointConfig, SipEndpoint  # noqa: PLC0415

        self.tts = tts
        self.script: Sequence[str] = script
        self.log: PatientLog | None = None
        self.invite_identity: list[str] = []
        self.verify: Any = None
        self.verification: Any = None
        self.done = asyncio.Event()
        self.endpoint = SipEndpoint(EndpointConfig(udp=(host, port), tcp=None, tls=None,
                                                   user="patient"), on_call=self._answer)

    async def call_in(self, target: str, identity: str | None) -> None:
        """The patient calls the clinic (inbound for the gateway) and speaks the script."""
        from carrier.sip.sdp import LocalMedia, accept_answer, build_offer, parse_sdp  # noqa: PLC0415
        from media.session import MediaSession  # noqa: PLC0415

        media = MediaSession(local_addr=("127.0.0.1", 0))
        await media.start()
        try:
            offer = build_offer(LocalMedia("127.0.0.1", media.local_addr[1], srtp="off"),
                                session_id=8, version=1)
            headers = (("Identity", identity),) if identity else ()
            sipcall = self.endpoint.invite(target, sdp=offer.serialize(),
                                           from_user="+15550100123", headers=headers)
            answered = await sipcall.wait_answer(timeout=15)
            neg = accept_answer(offer, parse_sdp(answered.response.body))
            media.update_remote((neg.remote_address, neg.remote_port))
            media.set_codec(neg.payload_type, neg.dtmf_payload_type)
            self.log = await ScriptedPatient(media, self.tts).run(self.script)
            sipcall.hangup()
        finally:
            await media.close()
            self.done.set()

    async def _answer(self, sipcall: Any) -> None:
        from carrier.sip.events import CallEnded  # noqa: PLC0415
        from carrier.sip.sdp import LocalMedia, build_answer, parse_sdp  # noqa: PLC0415
        from media.session import MediaSession  # noqa: PLC0415

        self.invite_identity = sipcall.request.get_all("Identity")
        if self.verify is not None:
            # Verified on arrival, as a terminating carrier would (iat is fresh now).
            self.verification = await self.verify(self.invite_identity)
        media = MediaSession(local_addr=("127.0.0.1", 0))
        await media.start()
        try:
            answer, neg = build_answer(parse_sdp(sipcall.remote_sdp or b""),
                                       LocalMedia("127.0.0.1", media.local_addr[1], srtp="off"),
                                       session_id=7, version=1)
            media.update_remote((neg.remote_address, neg.remote_port))
            media.set_codec(neg.payload_type, neg.dtmf_payload_type)
            sipcall.answer(answer.serialize())
            patient = ScriptedPatient(media, self.tts, answer_first=True)
            self.log = await patient.run(self.script)
            with contextlib.suppress(TimeoutError):
                await sipcall.wait_for(CallEnded, timeout=10)
        finally:
            await media.close()
            self.done.set()


async def demo_call(stack: Any) -> int:  # noqa: PLR0915 - a narrated script, read top down
    """Place the demo reminder through the dialer's compliance gate and print what happened."""
    from carrier.call import DialFailure, DialRequest  # noqa: PLC0415

    settings, records, gateway, rt = stack.settings, stack.records, stack.gateway, stack.runtime
    trunk = settings.trunk(settings.dialer.trunk)
    phone = PatientPhone(rt.tts, trunk.host, trunk.port, DEMO_SCRIPT)
    pid = str(patient_uuid("pat-1001"))
    out = print
    out("\n=== demo: appointment reminder to a synthetic patient (Testa, +1 555-010-0123) ===")
    stir = gateway.stir
    if stir is not None and stir.verifier is not None:
        from stir_shaken.aio import verify_fetching  # noqa: PLC0415

        async def verify(identities: list[str]) -> Any:
            return await verify_fetching(stir.verifier, stir.fetcher, identities,
                                         settings.dialer.caller_id, "+15550100123",
                                         now=time.time())

        phone.verify = verify
    for line in DEMO_SCRIPT:  # the patient's voice is ready before the phone rings
        await rt.tts.synthesize(line)
    async with phone.endpoint:
        decision = await _demo_gate(stack, "+15550100123", pid)
        out(f"compliance gate: {'dial' if decision[0] else 'refused'} ({decision[1]})")
        if decision[0]:
            req = DialRequest(to="+15550100123", from_number=settings.dialer.caller_id,
                              trunk=trunk.name, origid=str(uuid.uuid4()))
            call = await gateway.dial(req)
            if isinstance(call, DialFailure):
                out(f"dial failed: {call.outcome.value} {call.code or ''}")
                return 1
            result = await gateway.run_outbound(call, {
                "workflow": "appointment_reminder", "patient_id": pid,
                "appointment_id": "appt-1"})
            call_id = call.call_id
        else:
            out("Nothing was dialled. Instead, the patient calls the clinic's reminder line "
                "(inbound calls are not limited by calling hours).")
            phone.script = CALL_IN_SCRIPT
            for line in CALL_IN_SCRIPT:
                await rt.tts.synthesize(line)
            signer = stir.signer if stir is not None else None
            identity = signer.sign("+15550100123", "+15550100101", "C", str(uuid.uuid4()),
                                   time.time()).format() if signer is not None else None
            port = gateway.endpoint.port("UDP")
            before = len(rt.results)
            await phone.call_in(f"sip:+15550100101@{settings.sip.bind_host}:{port}", identity)
            for _ in range(300):  # the agent finishes writing its records
                if len(rt.results) > before and rt.results[-1].outcome:
                    break
                await asyncio.sleep(0.1)
            result = rt.results[-1] if len(rt.results) > before else None
            call_id = result.call_id if result else ""
            if result is not None:
                row = await records.pool.fetchrow(
                    "SELECT stir_status, verstat FROM call_records WHERE call_id = $1", call_id)
                if row is not None:
                    out(f"caller's STIR/SHAKEN result recorded: {row['verstat']}")
        await asyncio.wait_for(phone.done.wait(), timeout=30)
    v = phone.verification
    if v is not None and decision[0]:
        out(f"Identity header verified at the patient's phone on arrival: {v.status} "
            f"(attest {v.attest}, {v.verstat})")
    out("\n--- redacted transcript (as stored) ---")
    for speaker, text in await records.call_transcript(call_id):
        out(f"{speaker:>7}: {text}")
    status = await records.pool.fetchval(
        "SELECT status FROM sched_appointments WHERE id = 'appt-1'")
    audits = await records.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE record_id = $1", call_id)
    out("\n--- records written ---")
    path = " > ".join(result.path) if result else ""
    out(f"outcome: {result.outcome if result else 'none'}; path: {path}")
    out(f"appointment appt-1 status: {status}")
    out(f"audit entries for this call: {audits}; call record and transcript committed")
    problems = await records.verify_chain("audit")
    out(f"audit hash chain: {'intact' if not problems else f'{len(problems)} faults'}")
    return 0 if result is not None and result.outcome == "confirmed" else 1


async def _demo_gate(stack: Any, number: str, pid: str) -> tuple[bool, str]:
    """The dialer's compliance gate decides, exactly as for a campaign call (and records it)."""
    import datetime as dt  # noqa: PLC0415

    from carrier.dialer.wiring import gate_once  # noqa: PLC0415

    rules = Path(stack.settings.config_dir) / "calling_rules"
    decision = await gate_once(stack.records, pid, "appointment_reminder",
                               dt.datetime.now(dt.UTC), rules_dir=rules)
    why = decision.rule if not decision.allowed else "all rules passed: " + ", ".join(
        decision.passed)
    return decision.allowed, f"{why}; {decision.reason}" if not decision.allowed else why
