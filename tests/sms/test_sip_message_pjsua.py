"""Texts by SIP MESSAGE (RFC 3428) between our endpoint and pjsua2 (the independent peer):
both ways, the trunk check (403 from elsewhere), the 1300-byte limit, and the sender the
SMS service uses."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import pytest

from carrier.sip.endpoint import EndpointConfig, SipEndpoint
from carrier.sip.events import MessageReceived
from carrier.sip.policy import InboundPolicy, TrunkRule
from carrier.sms.sip_message import SipMessageSender, inbound_text
from carrier.sms.smpp import SmsRefused
from tests.peers.client import PjsuaPeer, needs_pjsua2

pytestmark = [pytest.mark.pjsua2, needs_pjsua2]
OURS = "+15550100100"
PHONE = "+12125550171"


def trunk_policy(network: str) -> InboundPolicy:
    return InboundPolicy(trunks=(TrunkRule("demo", (ipaddress.ip_network(network),)),))


async def test_message_both_ways_with_pjsua(tmp_path: Path) -> None:
    got: asyncio.Queue[MessageReceived] = asyncio.Queue()
    config = EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None)
    async with (SipEndpoint(config, policy=trunk_policy("127.0.0.0/8"),
                            on_message=got.put_nowait) as ep,
                PjsuaPeer.start("udp", user=PHONE, log_dir=tmp_path) as phone):
        # The phone (behind the trunk) texts our number.
        await phone.send_im(f"sip:{OURS}@127.0.0.1:{ep.port('UDP')}", "C")
        event = await asyncio.wait_for(got.get(), 10)  # bounded wait on the pjsua process
        assert (event.trunk, event.sender, event.to, event.text) == ("demo", PHONE, OURS, "C")
        text = inbound_text(event)
        assert (text.sender, text.to, text.text) == (PHONE, OURS, "C")
        status = await phone.wait_event("im_status", timeout=10)
        assert status["code"] == 200
        # We text the phone through the trunk (the SMS service's sender).
        host, port = "127.0.0.1", phone.ports["udp"]
        sender = SipMessageSender(ep, host=host, port=port, transport="udp", sender=OURS,
                                  timeout=10)
        ids = await sender.send(PHONE, "Demo Clinic: reminder ✅ Reply C to confirm")
        assert ids == ["sip-200"]
        im = await phone.wait_event("instant_message", timeout=10)
        assert im["body"] == "Demo Clinic: reminder ✅ Reply C to confirm"
        assert im["content_type"].startswith("text/plain")
        assert f"sip:{OURS}@" in im["from_uri"]
        with pytest.raises(ValueError, match="1300"):
            await sender.send(PHONE, "x" * 1301)


async def test_message_from_outside_the_trunks_is_refused(tmp_path: Path) -> None:
    got: list[MessageReceived] = []
    config = EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None)
    async with (SipEndpoint(config, policy=trunk_policy("192.0.2.0/24"),
                            on_message=got.append) as ep,
                PjsuaPeer.start("udp", user=PHONE, log_dir=tmp_path) as phone):
        await phone.send_im(f"sip:{OURS}@127.0.0.1:{ep.port('UDP')}", "STOP")
        status = await phone.wait_event("im_status", timeout=10)
        assert status["code"] == 403
        assert got == []


async def test_no_final_answer_is_a_refusal() -> None:
    """A MESSAGE nobody answers (the endpoint's timeout: None) is refused as 408."""
    config = EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None)
    async with SipEndpoint(config) as ep:
        sender = SipMessageSender(ep, host="127.0.0.1", port=9, transport="udp", sender=OURS,
                                  timeout=0.5)  # the discard port: nothing answers
        with pytest.raises(SmsRefused) as refused:
            await sender.send(PHONE, "hi")
    assert refused.value.status == 408


async def test_no_taker_means_405_not_a_lost_200(tmp_path: Path) -> None:
    """An endpoint nobody gave `on_message` (the gateway until texts are wired) must not
    answer 200 and drop the text: the sender hears 405."""
    config = EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None)
    async with (SipEndpoint(config, policy=trunk_policy("127.0.0.0/8")) as ep,
                PjsuaPeer.start("udp", user=PHONE, log_dir=tmp_path) as phone):
        await phone.send_im(f"sip:{OURS}@127.0.0.1:{ep.port('UDP')}", "C")
        status = await phone.wait_event("im_status", timeout=10)
        assert status["code"] == 405
