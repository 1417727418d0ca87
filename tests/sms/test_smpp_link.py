"""The SMPP link against the npm-registry SMSC (tests/peers/smsc): bind as transceiver,
segmented submits reassembled by the SMSC's own UDH decoding, delivery receipts,
mobile-originated texts, enquire_link, throttling, and a refused bind."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from carrier.sms.settings import SmsSettings
from carrier.sms.smpp import InboundText, Receipt, SmppLink, SmsRefused
from tests.peers.smsc_peer import Smsc

OURS = "+15550100100"
PHONE = "+12125550171"


def link_for(smsc: Smsc, *, rate_per_s: float = 100.0, enquire_link_s: float = 30.0,
             **kw: Any) -> SmppLink:
    """The link from the ``sms`` settings, as ``carrier sms`` and the service build it."""
    sms = SmsSettings(smsc_port=smsc.port, system_id=smsc.system_id, from_number=OURS,
                      rate_per_s=rate_per_s, enquire_link_s=enquire_link_s)
    return SmppLink.from_settings(sms, smsc.password, **kw)


async def test_send_segmented_receipts_and_inbound(smsc: Smsc) -> None:
    texts: asyncio.Queue[InboundText] = asyncio.Queue()
    receipts: asyncio.Queue[Receipt] = asyncio.Queue()

    async def on_text(t: InboundText) -> None:
        await texts.put(t)

    async def on_receipt(r: Receipt) -> None:
        await receipts.put(r)

    async with link_for(smsc, on_text=on_text, on_receipt=on_receipt) as link:
        await smsc.wait("bound", mode="transceiver")
        long_gsm = "Reminder {x} " * 20  # 260 septets with the braces escaped -> 2 parts
        ids = await link.send(PHONE, long_gsm.strip())
        assert len(ids) == 2
        whole = await smsc.wait("submit", parts=2)
        assert whole["text"] == long_gsm.strip()  # reassembled by the SMSC's own decoder
        assert whole["data_coding"] == 0
        uni = "Cita confirmada ✅ " * 5  # UCS-2: 90 units -> 2 parts of at most 67
        await link.send(PHONE, uni.strip())
        got = await smsc.wait("submit", parts=2, data_coding=8)
        assert got["text"] == uni.strip()
        first = await asyncio.wait_for(receipts.get(), 10)  # bounded wait on the SMSC process
        assert first.status == "DELIVRD"
        await smsc.mo(PHONE, OURS, "C")
        inbound = await asyncio.wait_for(texts.get(), 10)  # bounded wait on the SMSC process
        assert (inbound.sender, inbound.to, inbound.text) == (PHONE, OURS, "C")


async def test_enquire_link_on_an_idle_bind(smsc: Smsc) -> None:
    """`sms.enquire_link_s` acts: the library keeps an idle bind alive at that interval."""
    async with link_for(smsc, enquire_link_s=0.2):
        await smsc.wait("enquire_link", timeout=10)  # the link's own keepalive, not ours


async def test_rate_limit_paces_parts(smsc: Smsc) -> None:
    """`sms.rate_per_s` acts: at 2 parts/s, six parts take the bucket's waits (real time:
    the pacing is what is measured; the bucket itself is the carrier's tested one)."""
    async with link_for(smsc, rate_per_s=2.0) as link:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.gather(*(link.send(PHONE, f"part {i}") for i in range(6)))
        elapsed = loop.time() - t0
    assert link.limiter.waits >= 4
    assert elapsed >= 1.9  # 2 burst tokens, then 4 more at 2/s


async def test_wrong_password_is_refused(smsc: Smsc) -> None:
    link = SmppLink("127.0.0.1", smsc.port, smsc.system_id, "wrong", source=OURS,
                    rate_per_s=10.0)
    with pytest.raises(SmsRefused):
        async with link:
            pass
    await smsc.wait("bind_refused")
