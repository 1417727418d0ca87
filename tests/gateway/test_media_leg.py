"""``MediaLeg``: two legs negotiate over SDP and carry audio on real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import numpy as np
import pytest

from carrier.media_leg import MediaLeg
from carrier.sip.endpoint import CallFailedError
from carrier.sip.sdp import LocalMedia, SdpError, build_offer, parse_sdp
from media.framing import FRAME_SAMPLES, RATE, frames
from media.rtp import pack_rtp
from media.srtp import SrtpContext, SrtpKey
from tests.gateway.phone import loop_settings, phone, running_gateway
from tests.gateway.rtp_probe import dominant_hz


def tone(freq: float, count: int) -> list[np.ndarray]:
    t = np.arange(count * FRAME_SAMPLES) / RATE
    return frames(np.round(8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16))


@contextlib.asynccontextmanager
async def legs(a_mode: str, b_mode: str) -> AsyncIterator[tuple[MediaLeg, MediaLeg]]:
    a = await MediaLeg.open("127.0.0.1", srtp=a_mode)
    b = await MediaLeg.open("127.0.0.1", srtp=b_mode)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def heard(leg: MediaLeg, count: int) -> list[np.ndarray]:
    got: list[np.ndarray] = []
    async for frame in leg.media.inbound():
        if np.abs(frame).max() > 2000:
            got.append(frame)
            if len(got) == count:
                break
    return got


@pytest.mark.parametrize(("a_mode", "b_mode", "secure"), [
    ("off", "optional", False), ("required", "optional", True), ("optional", "required", True)])
async def test_offer_answer_carries_audio(a_mode: str, b_mode: str, secure: bool) -> None:
    async with legs(a_mode, b_mode) as (a, b):
        answer = b.answer(a.offer())
        neg = a.accept(answer)
        assert (neg.local_crypto is not None) is secure
        assert (b"RTP/SAVP" in answer) is secure
        listen = asyncio.ensure_future(heard(b, 25))
        await a.media.play(tone(700, 60))
        frames = await asyncio.wait_for(listen, timeout=5)
        assert abs(dominant_hz(frames) - 700) < 15


async def test_reoffer_applies_hold_and_a_new_address() -> None:
    async with legs("off", "off") as (a, b):
        b.answer(a.offer())
        hold = a.offer(direction="sendonly")
        body, neg = b.reoffer(hold)
        assert neg.on_hold
        assert b"a=recvonly" in body
        assert b.media.stream.direction.value == "recvonly"
        body2, neg2 = b.reoffer(a.offer())
        assert not neg2.on_hold
        assert b.media.stream.direction.value == "sendrecv"
        versions = [int(x.split(b"o=- ")[1].split()[1]) for x in (body, body2)]
        assert versions[1] == versions[0] + 1  # one session, version counts up


@pytest.mark.parametrize("address", ["rtp.example.invalid", "::1"])
async def test_an_unusable_connection_address_is_refused_before_anything_changes(
        address: str) -> None:
    async with legs("off", "off") as (_a, b):
        offer = build_offer(LocalMedia(address, 4000, srtp="off"), session_id=1, version=1)
        with pytest.raises(SdpError) as err:
            b.answer(offer.serialize())
        assert err.value.status_code == 488
        assert b.negotiated is None
        assert b.media.stream.remote_addr is None


async def test_gateway_refuses_an_invite_whose_media_address_cannot_be_used() -> None:
    """Issue 11 item 10: the INVITE got 200 and the call then failed with tracebacks."""
    async with running_gateway(loop_settings(), None) as gw, phone() as ph:
        ph._local = lambda: LocalMedia("media.example.invalid", 4000, srtp="off")  # type: ignore[method-assign]
        with pytest.raises(CallFailedError) as err:
            await ph.call_in(gw)
        assert err.value.status == 488
        assert gw._calls == {}


async def test_an_srtp_reoffer_with_the_same_keys_keeps_the_rollover_counter() -> None:
    """A re-INVITE (a session refresh, hold/resume) whose crypto is unchanged. Before:
    every re-offer built new SRTP sessions (and a new key of ours), so the rollover counter
    started again at 0: once the peer's sequence had wrapped (about 22 minutes of audio),
    none of its packets authenticated any more and the patient went unheard for the rest
    of the call. Now unchanged keys keep their sessions, and our answer keeps our key."""
    async with legs("optional", "optional") as (peer, ours):
        offer = peer.offer()
        answer = ours.answer(offer)
        peer.accept(answer)
        assert ours.negotiated is not None
        assert ours.negotiated.local_crypto is not None
        assert ours.negotiated.remote_crypto is not None
        theirs = SrtpContext(  # the peer's sender: its key, as it offered it
            SrtpKey(ours.negotiated.remote_crypto.suite, ours.negotiated.remote_crypto.key),
            SrtpKey(ours.negotiated.local_crypto.suite, ours.negotiated.local_crypto.key))
        rx = ours.media.stream.srtp
        assert rx is not None
        for seq in [*range(65530, 65536), *range(0, 4)]:  # the peer's sequence wraps
            rx.unprotect(theirs.protect(pack_rtp(0, seq, seq * 160 & 0xFFFFFFFF, 7, b"\xff" * 160)))
        again = ours.reoffer(offer)[0]  # the same offer again: a session refresh
        assert ours.negotiated.local_crypto.key in (
            c.key for m in parse_sdp(again).media for c in m.cryptos)
        srtp = ours.media.stream.srtp
        assert srtp is not None
        srtp.unprotect(theirs.protect(pack_rtp(0, 4, 640, 7, b"\xff" * 160)))  # still heard
