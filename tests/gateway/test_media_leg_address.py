"""The SDP connection address against the signalling peer's (issue: a trunk on another
host whose SDP names 127.0.0.1 made us send the call's RTP to our own loopback, and
strict latching then refused the trunk's real audio: a silent call, and a way to aim
our RTP at any UDP port of this host).

Every test socket is on 127.0.0.1, so the "remote" signalling source is set on the leg
(``MediaLeg.peer``, what the gateway takes from the INVITE's source address) rather than
coming from a socket; the loopback-to-loopback call goes through the real gateway."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from carrier.call import Call, Clearance, DialRequest
from carrier.media_address import media_target
from carrier.media_leg import MediaLeg
from carrier.plugin import CallContext
from carrier.sip.sdp import LocalMedia, SdpError, build_offer
from tests.gateway.notes import Notes
from tests.gateway.phone import loop_settings, phone, running_gateway

TRUNK = "192.0.2.7"  # TEST-NET-1: a trunk on another host


def offer_from(address: str, port: int = 4000) -> bytes:
    return build_offer(LocalMedia(address, port, srtp="off"), session_id=1, version=1).serialize()


@contextlib.asynccontextmanager
async def leg(peer: str | None) -> AsyncIterator[MediaLeg]:
    opened = await MediaLeg.open("127.0.0.1", srtp="off")
    opened.peer = peer
    try:
        yield opened
    finally:
        await opened.close()


# (SDP connection address, signalling peer) -> where our RTP goes
VECTORS = [
    ("127.0.0.1", TRUNK, TRUNK),  # loopback from another host: the signalling source
    ("127.1.2.3", TRUNK, TRUNK),  # all of 127/8 is this host
    ("0.1.2.3", TRUNK, TRUNK),  # "this network" (0/8): only ever a source address
    ("127.0.0.1", "127.0.0.1", "127.0.0.1"),  # both on this host: as signalled
    ("127.0.0.1", None, "127.0.0.1"),  # no signalling peer known: as signalled
    ("198.51.100.20", TRUNK, "198.51.100.20"),  # a media server apart from the SBC
    ("10.1.2.3", TRUNK, "10.1.2.3"),  # private: may be right (same network), kept
]


@pytest.mark.parametrize(("address", "peer", "target"), VECTORS)
async def test_the_media_address_is_checked_against_the_signalling_peer(
        address: str, peer: str | None, target: str) -> None:
    async with leg(peer) as ours:
        ours.answer(offer_from(address))
        assert ours.negotiated is not None
        assert ours.negotiated.remote_address == target
        assert ours.media.stream.remote_addr == (target, 4000)


async def test_unspecified_is_still_hold_from_any_peer() -> None:
    """c=0.0.0.0 is RFC 3264 8.4 hold: nothing is sent, it is not replaced."""
    async with leg(TRUNK) as ours:
        body = ours.answer(offer_from("0.0.0.0"))
        assert ours.negotiated is not None
        assert ours.negotiated.on_hold
        assert ours.media.stream.remote_addr is None
        assert b"a=recvonly" in body


async def test_a_reinvite_to_loopback_and_an_answer_from_loopback_are_checked_too() -> None:
    async with leg(TRUNK) as ours:
        ours.answer(offer_from("198.51.100.20"))
        _body, neg = ours.reoffer(offer_from("127.0.0.1", 4002))
        assert (neg.remote_address, neg.remote_port) == (TRUNK, 4002)
        assert ours.media.stream.remote_addr == (TRUNK, 4002)
    async with leg(TRUNK) as ours, leg(None) as them:  # we offer, the trunk answers
        ours.accept(them.answer(ours.offer()))  # their answer names 127.0.0.1
        assert ours.media.stream.remote_addr == (TRUNK, them.media.local_addr[1])


async def test_a_loopback_address_from_a_peer_we_cannot_send_to_is_refused() -> None:
    """A signalling peer known only by name cannot stand in: 488, nothing changed."""
    async with leg("sbc.example.invalid") as ours:
        with pytest.raises(SdpError) as err:
            ours.answer(offer_from("127.0.0.1"))
        assert err.value.status_code == 488
        assert ours.media.stream.remote_addr is None


async def test_the_gateway_gives_each_leg_its_signalling_peer_and_loopback_calls_work() -> None:
    notes = Notes()

    async def handler(call: Call, ctx: CallContext) -> None:
        notes["call"] = call.call_id
        await call.ended.wait()

    async with phone() as ph, running_gateway(loop_settings(peer_port=ph.port), handler) as gw:
        sipcall = await ph.call_in(gw)  # inbound: the INVITE's source
        inbound = gw._calls[await notes.wait("call", timeout=10)].leg
        assert inbound.peer == "127.0.0.1"
        assert inbound.media.stream.remote_addr == ph.rtp.addr
        sipcall.hangup()
        placed = await gw.dial(DialRequest(to="+15550100123", from_number="+15550100100",
                                           trunk="t1", origid=str(uuid.uuid4()),
                                           clearance=Clearance("allowed")))
        assert isinstance(placed, Call)  # outbound: the trunk's host
        outbound = gw._calls[placed.call_id].leg
        assert outbound.peer == "127.0.0.1"
        assert outbound.media.stream.remote_addr == ph.rtp.addr
        await placed.hangup()


@pytest.mark.parametrize(("address", "peer", "local", "target"), [
    ("203.0.113.5", TRUNK, "203.0.113.5", TRUNK),  # our own media address, from elsewhere
    ("203.0.113.5", "203.0.113.5", "203.0.113.5", "203.0.113.5"),  # a peer on this host
    ("::1", "2001:db8::7", "2001:db8::1", "2001:db8::7"),
    ("::ffff:127.0.0.1", TRUNK, "127.0.0.1", TRUNK),  # loopback, IPv4-mapped
    ("::", "2001:db8::7", "2001:db8::1", "::"),  # IPv6 hold
    ("127.0.0.1", "localhost", "127.0.0.1", "127.0.0.1"),
    ("0.0.0.0", TRUNK, "0.0.0.0", "0.0.0.0"),  # hold, with media bound to any address
])
def test_media_target_vectors(address: str, peer: str, local: str, target: str) -> None:
    assert media_target(address, peer, local) == target


@pytest.mark.parametrize("peer", ["2001:db8::7", "sbc.example.invalid"])
def test_media_target_refuses_what_the_peer_cannot_stand_in_for(peer: str) -> None:
    with pytest.raises(SdpError):
        media_target("127.0.0.1", peer, "127.0.0.1")
