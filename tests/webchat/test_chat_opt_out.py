"""An opt-out typed in the web chat, over real HTTP (127.0.0.1).

The number a chat is opened with is typed, not vouched for: anyone on the web can type
someone else's. Before, "stop calling me" from an unverified chat put that number on the
organisation's do-not-call list and revoked the patient's voice consent at once: a
stranger could block another person's reminders. Now (a compliance officer's reading of
64.1200(a)(10), "any reasonable means", which is the called party's means):

* unverified, the request is never lost but does not silently block the number: a staff
  task ``opt_out_request`` (the number encrypted) and an audit entry; staff confirm with
  the number's owner (a STOP by text or a key press on a call acts at once);
* once the chat has verified the patient (date of birth and full name), it acts at once,
  as on a call.
"""

from __future__ import annotations

import pytest

from agent.handler import AgentRuntime
from carrier.dialer.records_adapter import RecordsFacts
from carrier.plugin import OutcomeKind
from carrier.records.store import Records
from tests.webchat.test_spanish_chat import chat  # one chat driver for both files

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]





async def state(records: Records) -> tuple[bool, str, list[str]]:
    """(on the org do-not-call list, the patient's voice consent, open staff task kinds)."""
    [patient] = await records.find_patients_by_phone("+15550100123", actor="t", reason="t")
    voice = (await RecordsFacts(records).consent(str(patient.id)))["voice"].value
    kinds = [r["kind"] for r in await records.pool.fetch(
        "SELECT kind FROM staff_tasks WHERE status = 'open'")]
    return (await records.dnc_status("+15550100123")).org, voice, kinds


async def test_an_unverified_chat_opt_out_acts_at_once_without_a_dnc_entry_and_asks_staff(
        text_runtime: AgentRuntime, records: Records) -> None:
    _, before, _ = await state(records)
    replies, kind = await chat(text_runtime, ["stop calling me"])
    assert kind is OutcomeKind.OPTED_OUT  # the chat's own ending: never lost
    on_list, voice, kinds = await state(records)
    assert before == "granted"
    assert voice == "revoked"  # honoured at once (any reasonable means), undoable
    assert not on_list  # but no do-not-call entry, which nothing removes
    assert kinds == ["opt_out_request"]  # staff confirm with the number's owner
    row = await records.pool.fetchrow("SELECT * FROM staff_tasks WHERE kind = 'opt_out_request'")
    number = records.keys.decrypt_str(bytes(row["details_ct"]), "staff_tasks", "details",
                                      str(row["id"]))
    assert number == "+15550100123"
    assert await records.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'consent.revoke_requested'") == 1
    said = " ".join(replies[-1])
    assert "no more automated calls" in said
    assert "staff" in said
    assert "5550100123" not in said


async def test_a_verified_chat_opt_out_acts_at_once(
        text_runtime: AgentRuntime, records: Records) -> None:
    _, kind = await chat(text_runtime, ["yes", "March 5th 1980", "Testa Patientson",
                                        "stop calling me"])
    assert kind is OutcomeKind.OPTED_OUT
    on_list, voice, kinds = await state(records)
    assert on_list
    assert voice == "revoked"
    assert kinds == []


LONG = ("I got your message about the appointment and I want to explain a few things. " * 8)


async def test_an_opt_out_in_a_message_over_the_limit_is_kept(
        text_runtime: AgentRuntime, records: Records) -> None:
    """Before: a message over ``max_message_chars`` (500) was refused 400, and an opt-out
    in it was lost."""
    assert len(LONG) > 500
    _, kind = await chat(text_runtime, [LONG + "Please stop calling me."])
    assert kind is OutcomeKind.OPTED_OUT
    assert (await state(records))[2] == ["opt_out_request"]


async def test_a_message_over_the_limit_is_asked_shorter(text_runtime: AgentRuntime) -> None:
    replies, kind = await chat(text_runtime, [LONG, "stop"])
    assert "500" in " ".join(replies[1])  # the limit, and to send it shorter
    assert "shorter" in " ".join(replies[1])
    assert kind is OutcomeKind.OPTED_OUT  # the chat went on
