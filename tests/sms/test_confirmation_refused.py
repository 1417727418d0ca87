"""A STOP whose confirmation the SMSC refuses ends no later text.

Before: the keyword's confirmation went out unguarded; an SMSC refusal (SmsRefused)
left ``SmsService.on_inbound``, which ended the consumer (``carrier.sms.wiring``): no
later text was read, not even the next STOP. Now the refusal is logged by type and
audited; the STOP was recorded before, and the next text is handled."""

from __future__ import annotations

import pytest

from carrier.records.store import Records
from carrier.sms.smpp import InboundText
from tests.sms.conftest import OURS, PHONE, Stack
from tests.sms.test_opt_out_scope import STRANGER, consent

pytestmark = pytest.mark.postgres


async def test_a_refused_confirmation_raises_nothing(stack: Stack, records: Records) -> None:
    await stack.smsc.reject(0x08, count=1)
    await stack.service.on_inbound(InboundText(PHONE, OURS, "STOP"))  # no exception
    assert await consent(records, stack) == ("revoked", "revoked")
    await stack.service.on_inbound(InboundText(STRANGER, OURS, "STOP"))
    assert "unsubscribed" in (await stack.smsc.wait("submit", dest=STRANGER))["text"]
    assert (await records.dnc_status(STRANGER)).org
