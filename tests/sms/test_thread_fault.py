"""One text conversation that fails ends no other.

Before: ``TextReminders`` ran every conversation in one ``TaskGroup`` and let a thread's
exception out of ``_run`` (a reply the SMSC refused; a pooled connection broken by a
database restart in the thread's bookkeeping): the group cancelled every other open
conversation and took no new one. Now the failing thread ends alone, logged by type."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import pytest

from carrier.records.store import Records
from tests.dialer.conftest import START
from tests.dialer.test_integration_records import add_appointment
from tests.sms.conftest import DOB, OURS, PHONE, Stack

pytestmark = pytest.mark.postgres
OTHER = "+12125550172"
ESME_RSYSERR = 0x08


async def texted(stack: Stack, sender: str, said: str) -> None:
    await stack.smsc.mo(sender, OURS, said)
    await stack.service.on_inbound(await asyncio.wait_for(stack.inbox.get(), 10))


async def test_a_thread_whose_reply_fails_ends_no_other(
        stack: Stack, records: Records, pool: asyncpg.Pool) -> None:
    other = await records.add_patient("Testa Patientson", OTHER, dob=DOB, actor="t",
                                      reason="t")
    await records.consent_grant(other, "sms", "tcpa_express", source="intake",
                                evidence_ref="form-2", actor="t")
    for appt, pid in (("f1", stack.patient), ("f2", str(other))):
        await add_appointment(pool, appt, pid, START + dt.timedelta(hours=30))
        await stack.reminders.send_reminder(pid, appt)
        await stack.smsc.wait("submit")
    await texted(stack, OTHER, "I want to cancel")  # the other thread asks which
    await stack.smsc.wait("submit", dest=OTHER)
    await stack.smsc.reject(ESME_RSYSERR, count=1)
    await texted(stack, PHONE, "I want to cancel")  # this thread's answer is refused
    await asyncio.wait_for(stack.reminders.settled(stack.patient), 20)
    # The other conversation goes on: its answer is taken and answered.
    await texted(stack, OTHER, "2")
    assert (await stack.smsc.wait("submit", dest=OTHER))["text"]
    assert str(other) in stack.reminders._threads or \
        stack.reminders.outcomes.get(str(other)) is not None
