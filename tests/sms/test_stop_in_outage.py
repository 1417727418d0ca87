"""A STOP texted while the database is down is recorded, confirmed, and stops contact.

Before: ``SmsService.on_inbound`` looked the sender's patients up first; with Postgres
down the lookup raised out of it, so the STOP was lost (nothing recorded, no
confirmation), and any other text raised the same way. Now the keyword is read before any
lookup; a STOP in an outage is fsync'd to the records spool (the number's blind index, no
PHI) and the confirmation goes out; until the database is back every consent decision is
"not known yet" (the gate refuses), and the first one after recovery applies the STOP to
each patient at the number (a number that is no patient's: the do-not-call list). Any
other text is answered with the clinic's number (nothing read, nothing lost silently).

A real embedded Postgres, stopped and started again, and the real SMPP path."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest

from carrier.dialer.records_adapter import RecordsFacts
from carrier.records.embedded import EmbeddedPostgres
from carrier.records.store import Records
from tests.dialer.conftest import START
from tests.dialer.test_integration_records import add_appointment
from tests.sms.conftest import OURS, PHONE, Stack
from tests.sms.test_opt_out_scope import STRANGER

pytestmark = pytest.mark.postgres


@pytest.fixture
def cluster(make_cluster: Callable[[], EmbeddedPostgres]) -> EmbeddedPostgres:
    return make_cluster()


@pytest.fixture
async def db_url(cluster: EmbeddedPostgres) -> str:
    """This module's own cluster (the shared one is never stopped), migrated."""
    from agent import MIGRATIONS as AGENT_MIGRATIONS  # noqa: PLC0415
    from carrier.records.migrate import migrate, plan  # noqa: PLC0415

    conn = await asyncpg.connect(cluster.uri())
    try:
        await migrate(conn, plan(AGENT_MIGRATIONS))
    finally:
        await conn.close()
    return cluster.uri()


@pytest.fixture
async def records(db_url: str, tmp_path: Path, test_kek) -> AsyncIterator[Records]:  # type: ignore[no-untyped-def]
    recs = await Records.open(db_url, test_kek, tmp_path / "spool", min_size=1,
                              retry_interval=3600)  # replayed only when asked
    try:
        yield recs
    finally:
        await recs.close()


async def text(stack: Stack, sender: str, said: str) -> str:
    await stack.smsc.mo(sender, OURS, said)
    await stack.service.on_inbound(await asyncio.wait_for(stack.inbox.get(), 10))
    return str((await stack.smsc.wait("submit", dest=sender))["text"])


@pytest.mark.parametrize("said", ["S T O P", "unsubscribe", "ALTO"])
async def test_a_stop_in_an_outage_is_kept_and_applied_when_the_database_returns(
        stack: Stack, records: Records, cluster: EmbeddedPostgres, tmp_path: Path,
        said: str) -> None:
    facts = RecordsFacts(records)
    assert (await facts.consent(stack.patient))["sms"].value == "granted"
    await asyncio.to_thread(cluster.stop)

    other = await text(stack, PHONE, "what time do you open tomorrow")
    assert "call us at +15550100100" in other  # answered: where to call, no PHI
    reply = await text(stack, PHONE, said)  # no exception out of on_inbound
    assert "unsubscribed" in reply or "No recibir" in reply
    stranger = await text(stack, STRANGER, "STOP")
    assert "unsubscribed" in stranger
    # After the STOP nothing more goes to the number, not even "please call us".
    await stack.smsc.mo(STRANGER, OURS, "hello?")
    await stack.service.on_inbound(await asyncio.wait_for(stack.inbox.get(), 10))
    # Durable now, with no PHI in the spool: the number's blind index only.
    assert records.optouts_waiting() == 2
    assert stack.smsc.count("submit") == 3
    spooled = (tmp_path / "spool" / "optouts.jsonl").read_text()
    assert "5550171" not in spooled
    assert "5550188" not in spooled
    # The gate knows it does not know: no consent, no do-not-call answer, until replayed.
    assert not await records.consent_settled()
    assert not await records.dnc_settled()

    await asyncio.to_thread(cluster.start)
    consent = await facts.consent(stack.patient)  # the first decision after recovery
    assert consent["sms"].value == "revoked"
    assert consent["voice"].value == "revoked"  # sms.stop_revokes: all (the default)
    assert (await records.dnc_status(STRANGER)).org
    assert records.optouts_waiting() == 0
    history = await records.consent_history(UUID(stack.patient))
    assert [e.evidence_ref for e in history if e.event == "revoke"] == ["keyword:STOP"] * 2


async def test_a_text_in_an_outage_raises_nothing_out_of_the_service(
        stack: Stack, records: Records, cluster: EmbeddedPostgres) -> None:
    await asyncio.to_thread(cluster.stop)
    for said in ("HELP", "START", "C", "please stop texting me at work"):
        await stack.smsc.mo(PHONE, OURS, said)
        await stack.service.on_inbound(await asyncio.wait_for(stack.inbox.get(), 10))
    # Each was answered (HELP, "send START later", "please call us", the opt-out's
    # confirmation), and the opt-out in words went the same durable way.
    replies = [str((await stack.smsc.wait("submit", dest=PHONE))["text"]) for _ in range(4)]
    assert "START" in replies[1]
    assert "unsubscribed" in replies[3]
    assert records.optouts_waiting() == 1
    await asyncio.to_thread(cluster.start)
    assert (await RecordsFacts(records).consent(stack.patient))["sms"].value == "revoked"


async def test_a_stop_in_an_outage_ends_the_open_conversation(
        stack: Stack, records: Records, cluster: EmbeddedPostgres, pool: asyncpg.Pool) -> None:
    """Before: the STOP reached no open thread (its patient could not be looked up), so
    the patient's next text after the outage went on in the conversation: a text after
    the STOP's confirmation. Now the thread at that number ends as the database returns."""
    await add_appointment(pool, "o1", stack.patient, START + dt.timedelta(hours=30))
    await stack.reminders.send_reminder(stack.patient, "o1")
    await stack.smsc.wait("submit")
    await text(stack, PHONE, "I want to cancel")  # the thread asks which
    await asyncio.to_thread(cluster.stop)
    assert "unsubscribed" in await text(stack, PHONE, "STOP")
    sent = stack.smsc.count("submit")
    await asyncio.to_thread(cluster.start)
    await stack.smsc.mo(PHONE, OURS, "2")
    await stack.service.on_inbound(await asyncio.wait_for(stack.inbox.get(), 10))
    # The thread ends (bounded wait; before, it went on with the "2").
    assert await asyncio.wait_for(stack.reminders.settled(stack.patient), 20) != "cancelled"
    assert stack.smsc.count("submit") == sent  # nothing after the confirmation
    assert (await RecordsFacts(records).consent(stack.patient))["sms"].value == "revoked"
