"""What a text opt-out revokes, and that the one confirmation says exactly that; texts
from a number with no reminder open, or from no patient's number, are answered.

Before (``sms.stop_revokes: sms``): "STOP" revoked texts only but the reply said "you
will receive no more messages" while the calls went on; "stop calling me" by text, and
"STOP ALL", revoked texts only, so the calls the patient asked to stop went on. START
said "subscribed to appointment messages" when only texts were granted again (calls
stayed revoked), and START or STOP from a number that is no patient's was answered as
if recorded, with nothing recorded. A text after the conversation had ended (or from a
number that is no patient's) got no answer at all."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from carrier.dialer.records_adapter import RecordsFacts
from carrier.records.store import Records
from carrier.sms.settings import SmsSettings
from tests.dialer.conftest import START
from tests.dialer.test_integration_records import add_appointment
from tests.sms.conftest import OURS, Stack

pytestmark = pytest.mark.postgres
STRANGER = "+12125550188"


async def consent(records: Records, stack: Stack) -> tuple[str, str]:
    facts = await RecordsFacts(records).consent(stack.patient)
    return facts["sms"].value, facts["voice"].value


def texts_only(stack: Stack) -> None:
    stack.service.settings = SmsSettings(enabled=True, stop_revokes="sms")


async def reply_to(stack: Stack, text: str) -> str:
    await stack.text_from_phone(text)
    return str((await stack.smsc.wait("submit"))["text"])


async def test_stop_under_texts_only_says_calls_go_on(stack: Stack, records: Records) -> None:
    texts_only(stack)
    reply = await reply_to(stack, "STOP")
    assert await consent(records, stack) == ("revoked", "granted")
    assert "no more messages" not in reply
    assert "texts" in reply
    assert "STOP ALL" in reply  # how to stop the calls too
    assert len(reply) <= 160


@pytest.mark.parametrize("said", ["stop calling me", "STOP ALL", "Stop texting and calling me",
                                  "please stop calling me at work"])
async def test_an_opt_out_naming_calls_revokes_calls_too(
        stack: Stack, records: Records, said: str) -> None:
    texts_only(stack)
    reply = await reply_to(stack, said)
    assert await consent(records, stack) == ("revoked", "revoked")
    assert "calls" in reply
    assert "STOP ALL" not in reply


async def test_revoke_all_says_texts_and_calls_and_start_grants_texts_only(
        stack: Stack, records: Records) -> None:
    stop = await reply_to(stack, "Stop.")
    assert await consent(records, stack) == ("revoked", "revoked")
    assert "calls" in stop
    start = await reply_to(stack, "UNSTOP")
    assert await consent(records, stack) == ("granted", "revoked")
    assert "texts" in start
    assert "messages" not in start.split("Msg")[0]  # not "appointment messages": calls stay off


async def test_nine_in_the_conversation_under_texts_only(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    texts_only(stack)
    await add_appointment(pool, "s1", stack.patient, START + dt.timedelta(hours=30))
    await stack.reminders.send_reminder(stack.patient, "s1")
    await stack.smsc.wait("submit")
    await reply_to(stack, "I want to cancel")
    goodbye = await reply_to(stack, "9")
    assert await stack.reminders.settled(stack.patient) == "opted_out"
    assert await consent(records, stack) == ("revoked", "granted")
    assert "no more messages" not in goodbye
    assert "STOP ALL" in goodbye


async def test_stop_from_no_patients_number_is_kept_on_the_do_not_call_list(
        stack: Stack, records: Records) -> None:
    await stack.smsc.mo(STRANGER, OURS, "STOP")
    await stack.service.on_inbound(await stack.inbox.get())
    assert "unsubscribed" in (await stack.smsc.wait("submit"))["text"]
    assert (await records.dnc_status(STRANGER)).org


async def test_start_from_no_patients_number_does_not_claim_a_subscription(
        stack: Stack) -> None:
    await stack.smsc.mo(STRANGER, OURS, "START")
    await stack.service.on_inbound(await stack.inbox.get())
    reply = (await stack.smsc.wait("submit"))["text"]
    assert "subscribed" not in reply
    assert "+15550100100" in reply


async def test_a_text_after_the_conversation_ended_is_answered(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    await add_appointment(pool, "e1", stack.patient, START + dt.timedelta(hours=30))
    await stack.reminders.send_reminder(stack.patient, "e1")
    await stack.smsc.wait("submit")
    await reply_to(stack, "C")
    assert await stack.reminders.settled(stack.patient) == "confirmed"
    reply = await reply_to(stack, "what floor is the clinic on?")
    assert "+15550100100" in reply
    assert await consent(records, stack) == ("granted", "granted")
    reply = await reply_to(stack, "actually please don't text me anymore")
    assert "unsubscribed" in reply
    assert await consent(records, stack) == ("revoked", "revoked")


async def test_a_text_from_no_patients_number_is_answered_and_its_opt_out_kept(
        stack: Stack, records: Records) -> None:
    await stack.smsc.mo(STRANGER, OURS, "who is this? is this about my mom's appointment")
    await stack.service.on_inbound(await stack.inbox.get())
    assert "+15550100100" in (await stack.smsc.wait("submit"))["text"]
    await stack.smsc.mo(STRANGER, OURS, "please quit texting me at this number")
    await stack.service.on_inbound(await stack.inbox.get())
    assert "unsubscribed" in (await stack.smsc.wait("submit"))["text"]
    assert (await records.dnc_status(STRANGER)).org


async def test_a_spanish_opt_out_in_the_thread_is_recorded_not_a_confirmation(
        stack: Stack, pool: asyncpg.Pool, records: Records) -> None:
    """ "Ya no quiero mensajes" was read as a yes: the appointment confirmed, no opt-out.
    (It is now an opt-out phrase the carrier reads itself, as "no more messages" is: the
    thread ends with the STOP, as after any keyword, and opens no outcome of its own.)"""
    await add_appointment(pool, "y1", stack.patient, START + dt.timedelta(hours=30))
    await stack.reminders.send_reminder(stack.patient, "y1")
    await stack.smsc.wait("submit")
    reply = await reply_to(stack, "Ya no quiero mensajes")
    assert await stack.reminders.settled(stack.patient) in (None, "opted_out")
    assert "No recibirá más mensajes ni llamadas" in reply  # in Spanish, as it was asked
    assert await consent(records, stack) == ("revoked", "revoked")
    assert await pool.fetchval("SELECT status FROM sched_appointments WHERE id = 'y1'") \
        == "booked"


async def test_an_emergency_with_no_conversation_open_is_told_911_first(
        stack: Stack) -> None:
    reply = await reply_to(stack, "I have chest pain and can't breathe")
    assert reply.startswith("If this is a medical emergency, call 911 now.")
    assert "+15550100100" in reply
    stack.clock.advance(60)
    sent = stack.smsc.count("submit")
    await stack.text_from_phone("thanks")  # a thanks needs no answer
    assert stack.smsc.count("submit") == sent
