"""Replies as an operator's stack takes them: a text from the phone through the SMSC
(SMPP), the carrier's keywords and consent ledger on Postgres, the reminder conversation.

Before: "Stop please" with no reminder open revoked nothing and got no answer; "CANCEL"
opted out but said nothing of the appointment; a STOP while a reschedule was under way
left the conversation answering; "9" at "appointment or messages?" was a text the
conversation could not read, and an opt-out it did hear was never recorded; a "C" above
the quoted reminder was an opt-out; a thumbs-up and "1" were asked again."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from carrier.dialer.records_adapter import RecordsFacts
from carrier.records.store import Records
from tests.dialer.conftest import START
from tests.dialer.test_integration_records import add_appointment
from tests.sms.conftest import Stack

# One part: the SMSC peer sends a phone's text unsegmented.
QUOTED = ("C\n\nOn Mon, Dec 7, Demo Clinic wrote:\n> Reply C to confirm, R to reschedule, "
          "X to cancel. STOP to opt out")

pytestmark = pytest.mark.postgres


async def consent(records: Records, stack: Stack) -> tuple[str, str]:
    facts = await RecordsFacts(records).consent(stack.patient)
    return facts["sms"].value, facts["voice"].value


async def reminded(stack: Stack, pool: asyncpg.Pool, appointment: str) -> None:
    await add_appointment(pool, appointment, stack.patient, START + dt.timedelta(hours=30))
    await stack.reminders.send_reminder(stack.patient, appointment)
    await stack.smsc.wait("submit")


async def test_stop_please_with_no_reminder_open_is_an_opt_out(
        stack: Stack, records: Records) -> None:
    await stack.text_from_phone("Stop please")
    assert "unsubscribed" in (await stack.smsc.wait("submit"))["text"]
    assert await consent(records, stack) == ("revoked", "revoked")
    history = await records.consent_history(uuid.UUID(stack.patient))
    assert {e.evidence_ref for e in history if e.event == "revoke"} == {"keyword:STOP"}


async def test_words_the_keywords_miss_are_still_an_opt_out(
        stack: Stack, records: Records) -> None:
    await stack.text_from_phone("please stop calling me at work")
    assert "unsubscribed" in (await stack.smsc.wait("submit"))["text"]
    assert await consent(records, stack) == ("revoked", "revoked")


async def test_c_above_the_quoted_reminder_confirms_and_opts_out_of_nothing(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    await reminded(stack, pool, "q1")
    await stack.text_from_phone(QUOTED)
    assert await stack.reminders.settled(stack.patient) == "confirmed"
    assert (await stack.smsc.wait("submit"))["text"].endswith("appointment is confirmed.")
    assert await consent(records, stack) == ("granted", "granted")


@pytest.mark.parametrize("reply", ["\U0001f44d", "1"])
async def test_a_thumbs_up_or_the_digit_confirms(
        stack: Stack, pool: asyncpg.Pool, reply: str) -> None:
    await reminded(stack, pool, "t1")
    await stack.text_from_phone(reply)
    assert await stack.reminders.settled(stack.patient) == "confirmed"
    assert await pool.fetchval("SELECT status FROM sched_appointments WHERE id = 't1'") \
        == "confirmed"


async def test_bare_cancel_opts_out_and_says_the_appointment_is_unchanged(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    await reminded(stack, pool, "c1")
    await stack.text_from_phone("CANCEL")
    reply = (await stack.smsc.wait("submit"))["text"]
    assert "unsubscribed" in reply
    assert "appointment is unchanged" in reply
    assert "+15550100100" in reply
    assert len(reply) <= 160
    assert await consent(records, stack) == ("revoked", "revoked")
    assert await pool.fetchval("SELECT status FROM sched_appointments WHERE id = 'c1'") \
        == "booked"
    sent = stack.smsc.count("submit")
    await stack.text_from_phone("X")  # the reminder's thread was closed by the STOP
    assert stack.smsc.count("submit") == sent


async def test_stop_during_a_reschedule_ends_the_conversation(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    await reminded(stack, pool, "r1")
    await stack.text_from_phone("R")
    assert "date of birth" in (await stack.smsc.wait("submit"))["text"]
    await stack.text_from_phone("STOP\nSent from my iPhone")
    assert "unsubscribed" in (await stack.smsc.wait("submit"))["text"]
    await stack.reminders.settled(stack.patient)
    sent = stack.smsc.count("submit")
    await stack.text_from_phone("03/05/1980")
    assert stack.smsc.count("submit") == sent  # nothing more after the STOP confirmation
    assert await consent(records, stack) == ("revoked", "revoked")


async def test_nine_at_appointment_or_messages_is_recorded_as_an_opt_out(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    await reminded(stack, pool, "d1")
    await stack.text_from_phone("I want to cancel")
    assert "reply 1 to cancel your appointment, or 9" in (
        await stack.smsc.wait("submit"))["text"]
    await stack.text_from_phone("9")
    assert await stack.reminders.settled(stack.patient) == "opted_out"
    goodbye = (await stack.smsc.wait("submit"))["text"]
    assert "no more texts or calls" in goodbye  # what `stop_revokes: all` revoked
    assert await consent(records, stack) == ("revoked", "revoked")
    history = await records.consent_history(uuid.UUID(stack.patient))
    assert {e.evidence_ref for e in history if e.event == "revoke"} == {"conversation:key"}
    assert await pool.fetchval("SELECT status FROM sched_appointments WHERE id = 'd1'") \
        == "booked"
