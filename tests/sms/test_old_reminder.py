"""A reply to a reminder the service no longer holds open: sent before a restart (the
open reminders are in memory), or answered after the reply window closed. Before: "C"
got no answer and confirmed nothing. Now a reminder letter (C, X, R) opens the reply
conversation on the patient's one upcoming appointment; with none, or with several (which
one?), the patient is told to call."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from tests.dialer.conftest import START
from tests.dialer.test_integration_records import add_appointment
from tests.sms.conftest import Stack

pytestmark = pytest.mark.postgres


async def test_c_after_a_restart_confirms_the_one_upcoming_appointment(
        stack: Stack, pool: asyncpg.Pool) -> None:
    await add_appointment(pool, "o1", stack.patient, START + dt.timedelta(hours=30))
    await add_appointment(pool, "o0", stack.patient, START - dt.timedelta(days=3))  # past
    stack.reminders._open.clear()  # what a restart leaves: no reminder held open
    await stack.text_from_phone("c")
    assert await stack.reminders.settled(stack.patient) == "confirmed"
    assert (await stack.smsc.wait("submit"))["text"].endswith("appointment is confirmed.")
    assert await pool.fetchval("SELECT status FROM sched_appointments WHERE id = 'o1'") \
        == "confirmed"


async def test_c_with_two_upcoming_appointments_asks_to_call(
        stack: Stack, pool: asyncpg.Pool) -> None:
    await add_appointment(pool, "o2", stack.patient, START + dt.timedelta(hours=30))
    await add_appointment(pool, "o3", stack.patient, START + dt.timedelta(hours=50))
    await stack.text_from_phone("C")
    assert "+15550100100" in (await stack.smsc.wait("submit"))["text"]
    assert await pool.fetchval(
        "SELECT count(*) FROM sched_appointments WHERE status = 'confirmed'") == 0
