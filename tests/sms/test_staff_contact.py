"""An emergency (or a crisis) texted in a reminder thread is answered with 911 (988) and
"Our staff will contact you": a text thread cannot be transferred, so the contact is a
call-back staff task for the workflow's queue, with the number encrypted, listed by
``carrier tasks``. Before, the transfer simply failed and nothing was recorded: the
promise reached nobody."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from agent.staff_tasks import list_tasks
from carrier.records.store import Records
from tests.dialer.conftest import START
from tests.dialer.test_integration_records import add_appointment
from tests.sms.conftest import PHONE, Stack

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize(("text", "words"), [
    ("I have chest pain and cannot breathe", "call 911 now"),
    ("I want to kill myself", "988"),
])
async def test_an_emergency_text_leaves_a_call_back_task(
        stack: Stack, pool: asyncpg.Pool, records: Records, text: str, words: str) -> None:
    await add_appointment(pool, "a9", stack.patient, START + dt.timedelta(hours=30))
    await stack.reminders.send_reminder(stack.patient, "a9")
    await stack.smsc.wait("submit")
    await stack.text_from_phone(text)
    await stack.reminders.settled(stack.patient)
    reply = await stack.smsc.wait("submit")
    assert words in reply["text"]
    assert "Our staff will contact you" in reply["text"]
    tasks = await list_tasks(records)
    assert [(t.kind, t.patient_id) for t in tasks] == [("callback", stack.patient)]
    row = await records.pool.fetchrow("SELECT details_ct FROM staff_tasks WHERE id = $1",
                                      tasks[0].id)
    assert records.keys.decrypt_str(bytes(row["details_ct"]), "staff_tasks", "details",
                                    str(tasks[0].id)) == PHONE
