"""Offers whose payload types the media layer cannot play as named: a dynamic payload
type for PCMU/PCMA (``m=audio 4000 RTP/AVP 96`` + ``a=rtpmap:96 PCMU/8000``) or a static
one renamed (``a=rtpmap:0 PCMA/8000``). The media layer knows G.711 by its static payload
types only (0 PCMU, 8 PCMA), so such a stream must be refused (488) or another format of
the offer taken; never agreed on.

Before: the dynamic one passed the SDP layer and the media layer raised ValueError
("payload type 96 is not G.711") from inside ``MediaLeg.answer`` - the INVITE got 500
(after the remote address had been changed) - and the renamed one was agreed and played
as the other G.711 law: loud noise both ways. ``TUNED`` are the cases the fix was made
on; ``HELDOUT`` was written before the fix and never tuned to."""

from __future__ import annotations

import pytest

from carrier.media_leg import MediaLeg
from carrier.sip.events import CallAnswered, CallFailed
from carrier.sip.sdp import SdpError
from media.reframe import make_codec
from tests.gateway.phone import loop_settings, phone, running_gateway


def offer(formats: str, *rtpmaps: str) -> bytes:
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
             f"m=audio 4000 RTP/AVP {formats}", *(f"a=rtpmap:{r}" for r in rtpmaps)]
    return ("\r\n".join(lines) + "\r\n").encode()


TUNED = {
    "dynamic_pcmu": offer("96", "96 PCMU/8000"),
    "pcmu_pt_named_pcma": offer("0", "0 PCMA/8000"),
}
HELDOUT = {  # written before the fix, never tuned to
    "dynamic_pcma_then_telephone_event": offer("97 101", "97 PCMA/8000",
                                               "101 telephone-event/8000"),
    "swapped_static_names": offer("8 0", "8 PCMU/8000", "0 PCMA/8000"),
    "dynamic_first_then_static": offer("96 0", "96 PCMU/8000"),
    "lowercase_static_name": offer("8", "8 pcma/8000"),
    "renamed_then_right": offer("0 8", "0 PCMA/8000"),
    "dynamic_pcmu_16k": offer("98", "98 PCMU/16000"),
}


async def outcome(body: bytes) -> str:
    """``488``, or the agreed stream when the media layer plays it as agreed; else what
    went wrong."""
    leg = await MediaLeg.open("127.0.0.1", srtp="off")
    try:
        neg = leg.reoffer(body)[1]
    except SdpError as err:
        return str(err.status_code)
    except ValueError as err:
        return f"crash: {err}"
    finally:
        await leg.close()
    played = "PCMU" if make_codec(neg.payload_type).payload_type == 0 else "PCMA"
    return f"{neg.payload_type} {neg.codec}" if played == neg.codec else f"plays {played}"


@pytest.mark.parametrize("name", TUNED)
async def test_a_payload_type_the_media_layer_cannot_play_as_named_is_refused(name: str) -> None:
    assert await outcome(TUNED[name]) == "488"


async def test_heldout_offers() -> None:
    got = {name: await outcome(body) for name, body in HELDOUT.items()}
    # before the fix: 2 of 6 right (lowercase_static_name, dynamic_pcmu_16k)
    assert got == {
        "dynamic_pcma_then_telephone_event": "488",
        "swapped_static_names": "488",
        "dynamic_first_then_static": "0 PCMU",
        "lowercase_static_name": "8 PCMA",
        "renamed_then_right": "8 PCMA",
        "dynamic_pcmu_16k": "488",
    }


async def test_the_gateway_answers_a_dynamic_g711_offer_488_not_500() -> None:
    async with running_gateway(loop_settings(), None) as gw, phone() as ph:
        target = f"sip:+15550100200@127.0.0.1:{gw.endpoint.port('UDP')}"
        body = TUNED["dynamic_pcmu"].replace(b"4000", str(ph.rtp.addr[1]).encode())
        sipcall = ph.endpoint.invite(target, sdp=body, from_user="+15550100123")
        failed = await sipcall.wait_for((CallAnswered, CallFailed), timeout=10)
        assert isinstance(failed, CallFailed)
        assert failed.status == 488
        assert gw._calls == {}
