"""What a call's ending writes down, in the real records store (embedded Postgres).

A wrong number puts the number on the organisation's do-not-call list (source
``voice_wrong_number``, audited); a reported death revokes the patient's consent on every
channel (source ``call_reported_deceased``), so no reminder call or text goes out until
the clinic re-grants it."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from agent.endings import add_dnc, revoke
from agent.workflow.effects import AddDoNotCall, RecordRevocation
from carrier.records.store import Channel, ConsentKind, Records

pytestmark = pytest.mark.postgres

PHONE = "+15555550177"
AT = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)


def call() -> SimpleNamespace:
    return SimpleNamespace(call_id="call-ending-1", caller=SimpleNamespace(number=PHONE))


async def test_a_wrong_number_is_not_called_again(records: Records) -> None:
    rt = SimpleNamespace(records=records)
    await add_dnc(rt, call(), AddDoNotCall(PHONE, None, "wrong number", AT))  # type: ignore[arg-type]
    await records.outbox.drain()
    assert (await records.dnc_status(PHONE)).org
    rows = await records.pool.fetch(
        "SELECT source FROM dnc_org WHERE phone_bidx = $1", records.keys.phone_index(PHONE))
    assert [r["source"] for r in rows] == ["voice_wrong_number"]


async def test_a_reported_death_revokes_every_channel(records: Records) -> None:
    pid = await records.add_patient("Testa Patientson", PHONE, actor="t", reason="r")
    for channel in (Channel.VOICE, Channel.SMS):
        await records.consent_grant(pid, channel, ConsentKind.TCPA_EXPRESS_WRITTEN,
                                    source="web_form", evidence_ref="f", actor="t")
    assert await records.has_consent(PHONE, Channel.SMS)
    rt = SimpleNamespace(records=records)
    effect = RecordRevocation(str(pid), PHONE, "voice", "reported_deceased", AT)
    await revoke(rt, call(), effect)  # type: ignore[arg-type]
    assert not await records.has_consent(PHONE, Channel.VOICE)
    assert not await records.has_consent(PHONE, Channel.SMS)
    history = await records.consent_history(pid)
    assert {e.source for e in history if e.event == "revoke"} == {"call_reported_deceased"}


async def test_an_opt_out_still_revokes_voice_only(records: Records) -> None:
    pid = await records.add_patient("Quinn Examplar", PHONE, actor="t", reason="r")
    for channel in (Channel.VOICE, Channel.SMS):
        await records.consent_grant(pid, channel, ConsentKind.TCPA_EXPRESS_WRITTEN,
                                    source="web_form", evidence_ref="f", actor="t")
    await revoke(SimpleNamespace(records=records), call(),  # type: ignore[arg-type]
                 RecordRevocation(str(pid), PHONE, "voice", "voice", AT))
    assert not await records.has_consent(PHONE, Channel.VOICE)
    assert await records.has_consent(PHONE, Channel.SMS)


async def test_a_refill_not_needed_is_an_open_task_of_its_own_kind(records: Records) -> None:
    from agent.scheduling.prescriptions import (  # noqa: PLC0415
        NOT_NEEDED_KIND,
        PostgresRefillDesk,
        Prescription,
    )

    desk = PostgresRefillDesk(records)
    rx = Prescription("rx-end-1", "pat-end-1", "testamycin 5 mg", "Elm Avenue Pharmacy", None)
    await desk.load([rx], AT)
    await desk.request(rx, call_id="call-ending-2", now=AT, kind=NOT_NEEDED_KIND)
    [task] = await desk.open_tasks("pharmacy")
    assert (task.kind, task.prescription_id, task.call_id) == (
        "refill_not_needed", "rx-end-1", "call-ending-2")
