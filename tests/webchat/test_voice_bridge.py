"""The WebRTC leg as a call handler sees it, with aiortc as the browser (127.0.0.1): 20 ms
frames of 320 samples at 16 kHz in, ``play`` out, and ``webchat.max_call_s`` ending the
call as the length limit does on a SIP call (the handler's context carries it), with the
same ``call.length_limit`` audit entry."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from carrier.call import LENGTH_LIMIT_REASON, Call
from carrier.plugin import CallContext, CallOutcome, OutcomeKind
from carrier.webchat.app import WebchatServer, serve_webchat
from carrier.webchat.settings import WebchatSettings

pytestmark = pytest.mark.timeout(60)


class ListeningHandler:
    """Plays 10 frames, takes inbound frames until the call ends; keeps what it saw."""

    def __init__(self) -> None:
        self.shapes: set[tuple[int, ...]] = set()
        self.played: bool | None = None
        self.context: CallContext | None = None

    async def __call__(self, call: Call, context: CallContext) -> CallOutcome:
        self.context = context
        self.played = await call.media.play([np.zeros(320, dtype=np.int16)] * 10)
        async for frame in call.media.inbound():
            self.shapes.add(frame.shape)
            assert frame.dtype == np.int16
        await call.ended.wait()
        return CallOutcome(call.call_id, OutcomeKind.ABANDONED, detail=call.end_reason or "")


async def test_browser_leg_frames_and_length_limit() -> None:
    handler = ListeningHandler()
    web = dataclasses.replace(WebchatSettings(enabled=True, port=0), max_call_s=1.5)
    audits: list[tuple[object, ...]] = []

    async def audit(*entry: object) -> None:
        audits.append(entry)

    server = WebchatServer(web, handler=lambda: handler, chat_handler=lambda: None,
                           audit=audit)
    browser = RTCPeerConnection()
    browser.addTrack(AudioStreamTrack())  # aiortc's silence, as a microphone would send
    try:
        async with serve_webchat(server, "127.0.0.1", 0) as port, \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            r = await client.post("/api/session", json={"mode": "voice"})
            session, token = r.json()["session"], r.json()["token"]
            await browser.setLocalDescription(await browser.createOffer())
            r = await client.post(f"/api/session/{session}/voice", headers={
                "X-Webchat-Token": token}, json={"type": "offer",
                                                 "sdp": browser.localDescription.sdp})
            assert r.status_code == 200, r.text
            await browser.setRemoteDescription(RTCSessionDescription(**r.json()))
            r = await client.post(f"/api/session/{session}/voice", headers={
                "X-Webchat-Token": token}, json={"type": "offer", "sdp": "v=0"})
            assert r.status_code == 409  # one voice per session
            async with asyncio.timeout(20):  # the limit (1.5 s) ends it, with ICE set-up
                await server.wait_outcomes(1)
    finally:
        await browser.close()
    [outcome] = server.outcomes
    assert outcome.detail == LENGTH_LIMIT_REASON
    assert handler.context is not None
    assert handler.context.max_duration_s == 1.5
    assert handler.played is True
    assert handler.shapes == {(320,)}
    # audited as a SIP call's limit is (carrier.live_call), with the carrier's reason
    assert [a[:4] for a in audits] == [("webchat", "call.length_limit",
                                        ("call", outcome.call_id), "call length limit")]
    assert audits[0][4] == {"seconds": 1, "channel": "webchat"}
