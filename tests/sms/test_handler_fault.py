"""One text the application cannot handle does not stop the texts of everyone else.

Before: an exception from the application's text handler (a text of 5000 digits made the
agent's Spanish number reader raise ValueError) went out of ``SmsService.on_inbound`` into
the consumer, ending it and the SMS session: from then on no text was read, not even a
STOP. Now the fault is the edge's: logged by type only (no number, no text), audited,
and the next text is handled as before."""

from __future__ import annotations

import logging

import pytest

from carrier.records.store import Records
from carrier.sms.service import PatientText
from carrier.sms.smpp import InboundText
from tests.sms.conftest import OURS, PHONE, Stack
from tests.sms.test_opt_out_scope import consent

pytestmark = pytest.mark.postgres


class Broken:
    async def __call__(self, message: PatientText) -> None:
        raise RuntimeError(f"handler fault on {message.sender}: {message.text}")

    async def opted_out(self, patient_id: str) -> None:
        return None


@pytest.mark.parametrize("handler", ["broken", "agent"])
async def test_a_text_the_application_fails_on_stops_no_other_text(
        stack: Stack, records: Records, caplog: pytest.LogCaptureFixture, handler: str) -> None:
    if handler == "broken":
        stack.service.handler = Broken()
    with caplog.at_level(logging.DEBUG):
        await stack.service.on_inbound(InboundText(PHONE, OURS, "1" * 5000))
        await stack.service.on_inbound(InboundText(PHONE, OURS, "STOP"))
    assert await consent(records, stack) == ("revoked", "revoked")
    assert "5550" not in caplog.text
    assert "1111111111" not in caplog.text
