"""Texts from senders that are no phone number: an SMSC delivers deliver_sm from
alphanumeric senders (a carrier's own notices, "ACME"), short codes ("22395") and empty
source addresses, and a SIP MESSAGE's From may name anything.

Before: the inbound path looked the sender up by its number's blind index, which parses
the number first; a sender that did not parse raised InvalidPhoneNumber out of
``SmsService.on_inbound``, which ended the inbound consumer and ``run_sms`` with it (it
retries on link errors only), and so ``carrier serve`` (calls too). Every text after it,
a patient's STOP among them, was never handled. Now such a text is recorded as received
from no patient (audited, logged without the sender) and answered with nothing: there is
no number to answer, and no patient's consent to change. The texts after it are handled.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest

from carrier.records.store import Records
from carrier.sms.smpp import InboundText
from carrier.sms.wiring import _consume
from tests.sms.conftest import OURS, PHONE, Stack

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("sender", ["ACME", "22395", ""], ids=["alphanumeric", "short code",
                                                                "empty"])
async def test_a_text_from_no_number_is_dropped_and_the_next_stop_is_taken(
        stack: Stack, records: Records, sender: str) -> None:
    stop = asyncio.Event()
    consumer = asyncio.create_task(_consume(stack.service, stack.inbox, stop))
    try:
        await stack.smsc.mo(sender, OURS, "STOP")
        await stack.smsc.mo(PHONE, OURS, "STOP")
        submit = await stack.smsc.wait("submit")  # the one confirmation, to the patient
        assert submit["dest"] == PHONE
        assert not consumer.done()
        status = await records.consent_status(UUID(stack.patient))
        assert status[("sms", "tcpa_express")] is False
    finally:
        stop.set()
        await asyncio.wait_for(consumer, 10)


async def test_the_service_takes_a_sip_sender_that_is_no_number(stack: Stack) -> None:
    """The SIP MESSAGE path hands the From's user part on as it came."""
    await stack.service.on_inbound(InboundText("anonymous", OURS, "HELP"))
    await stack.service.on_inbound(InboundText(PHONE, OURS, "HELP"))
    assert (await stack.smsc.wait("submit"))["dest"] == PHONE


async def test_a_sender_in_national_form_is_answered_and_opted_out_in_e164(
        stack: Stack, records: Records) -> None:
    """An SMSC that delivers the source address in national form (TON national): the
    STOP is the patient's, and its confirmation goes to the number in E.164 (before, to
    the digits as delivered)."""
    await stack.service.on_inbound(InboundText(PHONE.removeprefix("+1"), OURS, "STOP"))
    assert (await stack.smsc.wait("submit"))["dest"] == PHONE
    status = await records.consent_status(UUID(stack.patient))
    assert status[("sms", "tcpa_express")] is False
