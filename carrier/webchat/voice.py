"""One browser voice session: the SDP answer, then the call handler on the WebRTC leg.

``answer_offer`` takes the browser's offer (its microphone track), attaches the agent's
voice track (:class:`carrier.webchat.rtc.AgentVoice`) and returns the answer together with
a ``carrier.call.Call`` whose media is :class:`carrier.webchat.rtc.RtcMedia`. ``run_call``
waits for the peer connection, runs the same ``CallHandler`` as a SIP call to its end,
and closes the connection; the browser closing (or failing) ends the call as a BYE does.
No ICE servers: host candidates only (the page is served to patients through the
operator's own network edge; TURN would be configured here if it were needed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription

from carrier.call import LENGTH_LIMIT_REASON, Call, CallerInfo, Direction
from carrier.plugin import CallContext, CallHandler, CallOutcome
from carrier.webchat.rtc import RtcMedia

LimitAudit = Callable[[str, str, str, Mapping[str, Any]], Awaitable[object]]
"""``audit(action, call_id, reason, details)``, as ``carrier.live_call.CallAudit``."""


async def answer_offer(offer: str, *, call_id: str, caller: CallerInfo, called: str,
                       context: CallContext) -> tuple[RTCPeerConnection, Call, str]:
    pc = RTCPeerConnection()
    media = RtcMedia()

    async def hangup(reason: str) -> None:
        media.close()
        await pc.close()

    async def no_transfer(target: str, ctx: Any) -> bool:
        return False  # nobody to hand a browser call to; the workflow's failure path runs

    call = Call(call_id=call_id, direction=Direction.INBOUND, caller=caller, called=called,
                media=media, transfer=no_transfer, hangup=hangup, context=context)

    @pc.on("connectionstatechange")
    def _state() -> None:
        if pc.connectionState == "connected":
            media.connected.set()
        elif pc.connectionState in ("failed", "closed", "disconnected"):
            media.close()
            call.mark_ended("hangup")

    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        media.incoming = _audio_track(pc)
        pc.addTrack(media.outgoing)
        await pc.setLocalDescription(await pc.createAnswer())
    except BaseException:
        media.close()
        await pc.close()
        raise
    return pc, call, pc.localDescription.sdp


async def run_call(pc: RTCPeerConnection, call: Call, handler: CallHandler, *,
                   connect_s: float, grace_s: float = 5.0,
                   audit: LimitAudit | None = None) -> CallOutcome | None:
    """The handler's outcome; None when the browser never connected (or the handler was
    cancelled ``grace_s`` after the call's ``max_duration_s`` ended it). ``audit`` gets the
    ``call.length_limit`` entry a SIP call's limit writes (``carrier.live_call``)."""
    media = call.media
    assert isinstance(media, RtcMedia)
    try:
        async with asyncio.timeout(connect_s):
            await media.connected.wait()
    except TimeoutError:
        pass
    if pc.connectionState != "connected" or call.ended.is_set():
        media.close()
        await pc.close()
        return None
    try:
        return await _within_limit(call, handler, grace_s, audit)
    finally:
        media.close()
        call.mark_ended("normal")
        await pc.close()


async def _within_limit(call: Call, handler: CallHandler, grace_s: float,
                        audit: LimitAudit | None) -> CallOutcome | None:
    """The handler, ended at the call's length limit as ``carrier.live_call`` ends a SIP
    call: the call is over (media closed, ``call.ended``), the handler gets ``grace_s`` to
    write its records, then it is cancelled once."""
    limit = call.context.max_duration_s
    async with asyncio.TaskGroup() as tasks:
        running = tasks.create_task(handler(call, call.context))
        done, _ = await asyncio.wait([running], timeout=limit)
        if not done:
            media = call.media
            assert isinstance(media, RtcMedia)
            media.close()
            call.mark_ended(LENGTH_LIMIT_REASON)
            if audit is not None:
                await audit("call.length_limit", call.call_id, "call length limit",
                            {"seconds": int(limit or 0), "channel": "webchat"})
            done, _ = await asyncio.wait([running], timeout=grace_s)
            if not done:
                running.cancel()
                await asyncio.wait([running])
    return None if running.cancelled() else running.result()


def _audio_track(pc: RTCPeerConnection) -> Any:
    audio = [t for t in pc.getTransceivers() if t.kind == "audio"]
    if not audio:
        raise ValueError("the offer carries no audio")
    return audio[0].receiver.track
