"""Trunks configured by host name (``host: sbc.carrier.example``).

Before: the name went down to the transport (``socket.sendto`` looked it up in the event
loop for every datagram) and to the media leg as the signalling peer, which cannot
stand a name in for a loopback SDP address: a trunk whose SBC answers with its loopback
media address (the case ``carrier.media_address`` repairs for trunks given by IP) had
every answered call refused 488 and hung up. Now ``carrier.trunk_address`` resolves the
name at start, off the loop, caches it, and the call goes to the address with the name
kept in the Request-URI; the leg's peer is that address.
"""

from __future__ import annotations

import dataclasses
import socket
import uuid

import pytest

from carrier.call import Call, Clearance, DialRequest
from carrier.gateway import Gateway
from carrier.sip.endpoint import EndpointConfig
from carrier.sip.uri import parse_uri
from carrier.trunk_address import TrunkAddresses, uri_host
from carrier.trunk_links import trunk_uri
from tests.gateway.phone import loop_settings, phone


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_names_are_resolved_once_per_ttl_and_a_failed_lookup_keeps_the_last() -> None:
    answers: list[str | None] = ["192.0.2.10", None, "192.0.2.11"]
    asked: list[str] = []

    async def resolve(host: str) -> str:
        asked.append(host)
        found = answers.pop(0)
        if found is None:
            raise socket.gaierror("temporary failure")
        return found

    clock = Clock()
    addresses = TrunkAddresses(resolve, ttl_s=60, clock=clock)
    assert await addresses.address("sbc.example") == "192.0.2.10"
    assert await addresses.address("sbc.example") == "192.0.2.10"
    assert asked == ["sbc.example"]  # cached: no lookup per call
    clock.now = 61
    assert await addresses.address("sbc.example") == "192.0.2.10"  # lookup failed: kept
    clock.now = 62
    assert await addresses.address("sbc.example") == "192.0.2.11"
    assert await addresses.address("192.0.2.99") == "192.0.2.99"  # an IP is its own
    assert await addresses.address("[2001:db8::5]") == "2001:db8::5"
    assert len(asked) == 3
    assert uri_host("2001:db8::5") == "[2001:db8::5]"


async def test_a_name_that_never_resolved_gives_none() -> None:
    async def resolve(host: str) -> str:
        raise socket.gaierror("no such name")

    assert await TrunkAddresses(resolve).address("nowhere.invalid") is None


async def dial_through(host: str, resolver: TrunkAddresses | None = None) -> None:
    async with phone() as ph:
        base = loop_settings(peer_port=ph.port)
        trunk = dataclasses.replace(base.trunks[0], host=host, acl=())  # outbound only
        settings = dataclasses.replace(base, trunks=(trunk,))
        gw = Gateway(settings, endpoint_config=EndpointConfig(udp=("127.0.0.1", 0), tcp=None,
                                                              tls=None))  # fmt: skip
        if resolver is not None:
            gw.trunk_addresses = resolver
        await gw.start()
        try:
            placed = await gw.dial(DialRequest(to="+15550100123", from_number="+15550100100",
                                               trunk="t1", origid=str(uuid.uuid4()),
                                               clearance=Clearance("allowed")))
            assert isinstance(placed, Call), placed
            leg = gw._calls[placed.call_id].leg
            assert leg.peer == "127.0.0.1"  # the trunk's address, not its name
            assert leg.media.stream.remote_addr == ph.rtp.addr
            sent = gw._calls[placed.call_id].call
            assert sent.call_id == placed.call_id
            await placed.hangup()
        finally:
            await gw.close()


async def test_a_trunk_given_by_a_name_is_dialled_at_its_address() -> None:
    async def resolve(host: str) -> str:
        assert host == "sbc.trunk.test"
        return "127.0.0.1"

    await dial_through("sbc.trunk.test", TrunkAddresses(resolve))


def _loopback_name() -> str | None:
    name = socket.gethostname()
    try:
        found = {a[4][0] for a in socket.getaddrinfo(name, None, family=socket.AF_INET)}
    except OSError:
        return None
    return name if found and all(a.startswith("127.") for a in found) else None


@pytest.mark.skipif(_loopback_name() is None, reason="this host's name is not on loopback")
async def test_a_trunk_named_by_this_hosts_name_works_through_the_system_resolver() -> None:
    # The case of the report: a name the system resolves to 127.0.0.1 (here the host's
    # own name, from /etc/hosts). Before: 488 "bad answer" and a BYE after the 200.
    name = _loopback_name()
    assert name is not None
    await dial_through(name)


async def test_a_trunk_given_by_an_ipv6_address_is_dialled_with_a_bracketed_uri() -> None:
    """Before: the Request-URI was written ``sip:+1...@2001:db8::5:5060``, which our own
    parser refuses (bad host): ``dial`` raised SipParseError to the dialer instead of
    returning a DialFailure. Now the address is bracketed (RFC 3261 25.1 IPv6reference);
    an IPv4-only gateway cannot reach it, so the call ends as unanswered."""
    base = loop_settings()
    trunk = dataclasses.replace(base.trunks[0], host="2001:db8::5", acl=())
    settings = dataclasses.replace(base, trunks=(trunk,))
    gw = Gateway(settings, endpoint_config=EndpointConfig(udp=("127.0.0.1", 0), tcp=None,
                                                          tls=None))  # fmt: skip
    await gw.start()
    try:
        placed = await gw.dial(DialRequest(to="+15550100123", from_number="+15550100100",
                                           trunk="t1", origid=str(uuid.uuid4()),
                                           clearance=Clearance("allowed"), ring_timeout_s=0.5))
        assert not isinstance(placed, Call)
        assert placed.reason == "ring timeout"
    finally:
        await gw.close()


def test_trunk_uris_bracket_an_ipv6_host() -> None:
    base = loop_settings()
    trunk = dataclasses.replace(base.trunks[0], host="2001:db8::5")
    assert parse_uri(trunk_uri(trunk)).host == "[2001:db8::5]"
