"""The call-back offer after a failed transfer (issue 12, endings): a yes (said or key 1)
is a staff task for the queue that was tried, with the number encrypted and an audit
entry; anything else is the number to call, and no task. The live call is in
tests/e2e/test_call_endings_pjsua.py."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.callback import CALLBACK_KIND, offer_callback, wants_callback
from agent.workflow.effects import Dtmf, Expectation, Input, NoInput, Utterance
from carrier.records.store import Records

pytestmark = pytest.mark.postgres

NOW = dt.datetime(2026, 12, 5, 15, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("heard", "yes"), [
    (Utterance("Yes, please call me back."), True), (Utterance("sure"), True),
    (Dtmf("1"), True), (Utterance("No thanks."), False), (Dtmf("2"), False),
    (NoInput(), False), (Utterance("stop calling me"), False),
    (Utterance("call me back"), True), (Utterance("No, don't call me back."), False),
])
def test_what_counts_as_a_yes(heard: Input, yes: bool) -> None:
    assert wants_callback(heard) is yes


async def run_offer(records: Records, heard: Input, *, spanish: bool = False
                    ) -> tuple[int | None, list[str]]:
    said: list[str] = []

    async def say(text: str) -> None:
        said.append(text)

    async def listen(_expected: Expectation) -> Input:
        return heard

    task = await offer_callback(say, listen, records, queue="front_desk", patient_id=None,
                                call_id="call-cb-1", caller_number="+15550100124",
                                clinic_number="555-010-0100", spanish=spanish, now=NOW)
    return task, said


async def test_a_yes_is_a_staff_task_with_the_number_encrypted(records: Records) -> None:
    task, said = await run_offer(records, Utterance("Yes, please."))
    assert task is not None
    row = await records.pool.fetchrow("SELECT * FROM staff_tasks WHERE id = $1", task)
    assert (row["kind"], row["queue"], row["call_id"], row["status"]) == (
        CALLBACK_KIND, "front_desk", "call-cb-1", "open")
    assert b"0124" not in bytes(row["details_ct"])
    assert records.keys.decrypt_str(bytes(row["details_ct"]), "staff_tasks", "details",
                                    str(task)) == "+15550100124"
    assert "call you back" in said[0]
    assert "will call you back" in said[-1]
    assert await records.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'staff_task.created'"
        " AND record_id = $1", str(task)) == 1


async def test_a_no_gets_the_number_and_no_task(records: Records) -> None:
    task, said = await run_offer(records, Utterance("no"), spanish=True)
    assert task is None
    assert await records.pool.fetchval("SELECT count(*) FROM staff_tasks") == 0
    assert "llámenos al 555-010-0100" in said[-1]  # in the caller's language


@pytest.mark.parametrize(("heard", "spanish", "says"), [
    (Utterance("I have chest pain"), False, "call nine one one now"),
    (Utterance("I can't breathe"), False, "call nine one one now"),
    (Utterance("I want to kill myself"), False, "nine eight eight"),
    (Utterance("this is an emergency"), True, "llame al nueve uno uno"),
])
async def test_an_emergency_at_the_offer_is_answered_with_911(
        records: Records, heard: Input, spanish: bool, says: str) -> None:
    """Nobody took the call, and the caller says "I have chest pain": before, they heard
    "All right. Please call us at ..." and nothing about 911 (the emergency notice said
    "I am connecting you with our staff", and that had just failed)."""
    task, said = await run_offer(records, heard, spanish=spanish)
    assert task is None
    assert says in said[-1]
    assert "connecting you" not in said[-1]
    assert "555-010-0100" not in said[-1]


@pytest.mark.parametrize(("heard", "method"), [
    (Utterance("stop calling me"), "voice"), (Utterance("take me off your list"), "voice"),
    (Dtmf("9"), "dtmf")])
async def test_an_opt_out_at_the_offer_is_recorded(records: Records, heard: Input,
                                                   method: str) -> None:
    """"Stop calling me" (or key 9) at the offer: before, "All right. Please call us at
    ..." and the opt-out was lost (the conversation had ended with the transfer)."""
    recorded: list[str] = []

    async def opted_out(how: str) -> None:
        recorded.append(how)

    async def say(text: str) -> None:
        said.append(text)

    async def listen(_expected: Expectation) -> Input:
        return heard

    said: list[str] = []
    task = await offer_callback(say, listen, records, queue="front_desk", patient_id=None,
                                call_id="call-cb-2", caller_number="+15550100124",
                                clinic_number="555-010-0100", spanish=False, now=NOW,
                                opted_out=opted_out)
    assert task is None
    assert recorded == [method]
    assert "not call you again" in said[-1]


async def test_a_task_from_a_call_with_a_numeric_call_id_is_created_and_audited(
        records: Records) -> None:
    # A carrier's Call-ID of digits (or a web chat's hex id that happens to be digits):
    # no PHI, but the audit's guard read it as a phone number and refused the entry.
    from agent.callback import create_callback_task  # noqa: PLC0415 - this test only

    task = await create_callback_task(records, queue="front_desk", patient_id=None,
                                      call_id="web-1234567890123456", number="+15550100123",
                                      now=dt.datetime(2026, 3, 2, 14, 5, tzinfo=dt.UTC))
    assert await records.pool.fetchval(
        "SELECT call_id FROM staff_tasks WHERE id = $1", task) == "web-1234567890123456"
    assert await records.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'staff_task.created'"
        " AND record_id = $1", str(task)) == 1
