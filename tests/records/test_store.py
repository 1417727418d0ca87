"""The Records API: encrypted patients, consent semantics, audit rules, DNC, key rotation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import asyncpg
import pytest

from carrier.errors import OperatorError
from carrier.records import keys as keysmod
from carrier.records.crypto import LocalKek
from carrier.records.store import Channel, ConsentKind, PhiInDetails, Records

pytestmark = pytest.mark.postgres

NAME = "Testa Patientson"
PHONE = "+15555550101"


async def test_patient_round_trip_and_every_access_audited(records: Records) -> None:
    pid = await records.add_patient(
        NAME,
        "(555) 555-0101",
        dob=date(1970, 1, 2),
        member_id="SYN-000101",
        actor="op:test",
        reason="intake",
    )
    [found] = await records.find_patients_by_phone(PHONE, actor="op:test", reason="callback")
    assert (found.id, found.name, found.phone, found.dob, found.member_id) == (
        pid,
        NAME,
        PHONE,
        date(1970, 1, 2),
        "SYN-000101",
    )
    assert NAME not in repr(found)
    again = await records.get_patient(pid, actor="op:test", reason="care")
    assert again == found
    assert await records.find_patients_by_phone("+15555550199", actor="op:test", reason="x") == []
    actions = [
        r["action"] for r in await records.pool.fetch("SELECT action FROM audit_log ORDER BY seq")
    ]
    assert actions == ["patient.create", "patient.lookup", "patient.read", "patient.lookup"]


async def test_has_consent_follows_the_latest_word(records: Records) -> None:
    pid = await records.add_patient(NAME, PHONE, actor="op:test", reason="intake")
    voice, sms = Channel.VOICE, Channel.SMS
    assert not await records.has_consent(PHONE, voice)
    await records.consent_grant(
        pid, voice, ConsentKind.TCPA_EXPRESS, source="verbal", evidence_ref="call-1", actor="agent"
    )
    assert await records.has_consent(PHONE, voice, ConsentKind.TCPA_EXPRESS)
    assert not await records.has_consent(PHONE, voice, ConsentKind.TCPA_EXPRESS_WRITTEN)
    await records.consent_grant(
        pid,
        voice,
        ConsentKind.TCPA_EXPRESS_WRITTEN,
        source="web_form",
        evidence_ref="form-1",
        actor="portal",
    )
    assert await records.has_consent(PHONE, voice)  # written satisfies both
    assert await records.has_consent(PHONE, voice, ConsentKind.TCPA_EXPRESS)
    assert not await records.has_consent(PHONE, sms)
    await records.consent_revoke(
        pid, voice, source="ivr_keypress", evidence_ref="call-2", actor="agent"
    )
    assert not await records.has_consent(PHONE, voice)
    assert not await records.has_consent(PHONE, voice, ConsentKind.TCPA_EXPRESS)
    await records.consent_grant(
        pid,
        voice,
        ConsentKind.TCPA_EXPRESS_WRITTEN,
        source="paper",
        evidence_ref="scan-3",
        actor="op:test",
    )
    assert await records.has_consent("555-555-0101", voice)
    status = await records.consent_status(pid)
    assert status == {("voice", "tcpa_express"): False, ("voice", "tcpa_express_written"): True}
    history = await records.consent_history(pid)
    assert [(e.event, e.kind) for e in history][-2:] == [
        ("revoke", "all"),
        ("grant", "tcpa_express_written"),
    ]


async def test_a_revocation_by_anyone_at_the_number_blocks(records: Records) -> None:
    a = await records.add_patient("Testa Patientson", PHONE, actor="t", reason="r")
    b = await records.add_patient("Proba Patientsdottir", PHONE, actor="t", reason="r")
    for pid in (a, b):
        await records.consent_grant(
            pid,
            Channel.VOICE,
            ConsentKind.TCPA_EXPRESS_WRITTEN,
            source="web_form",
            evidence_ref="f",
            actor="t",
        )
    assert await records.has_consent(PHONE, Channel.VOICE)
    await records.consent_revoke(b, Channel.VOICE, source="verbal", evidence_ref="c", actor="t")
    assert not await records.has_consent(PHONE, Channel.VOICE)


async def test_grant_of_all_is_refused(records: Records) -> None:
    with pytest.raises(ValueError, match="one consent kind"):
        await records.consent_grant(
            uuid4(), Channel.VOICE, ConsentKind.ALL, source="x", evidence_ref="y", actor="z"
        )


@pytest.mark.parametrize(
    "details",
    [
        {"patient_name": "x"},
        {"note": "call 555-555-0101"},
        {"n": 1.5},
        {"phone": "+1"},
        {"when": "1970-01-02"},
    ],
)
async def test_phi_in_audit_details_refused(records: Records, details: dict) -> None:
    with pytest.raises(PhiInDetails):
        await records.audit("op:test", "x", ("patient", 1), "r", details)


async def test_dial_decision_recorded_with_rule(records: Records) -> None:
    pid, oid = uuid4(), uuid4()
    await records.record_dial_decision(oid, pid, dial=False, rule="dnc.org")
    row = await records.pool.fetchrow("SELECT * FROM audit_log WHERE action = 'dial.decision'")
    assert (row["record_id"], row["reason"]) == (str(oid), "dnc.org")
    assert '"dial":false' in row["details"]


async def test_do_not_call_lists(records: Records) -> None:
    when = datetime(2026, 11, 1, tzinfo=UTC)
    assert not (await records.dnc_status(PHONE)).listed
    await records.dnc_add("555 555 0101", source="verbal", actor="agent", reason="opt-out")
    status = await records.dnc_status(PHONE)
    assert status.org
    assert not status.national
    count = await records.import_national_dnc(
        ["+15555550102", "555-555-0103", "+15555550102"],
        source="registry-2026-11",
        actor="op:test",
        at=when,
    )
    assert count == 2
    status = await records.dnc_status("+15555550103")
    assert status.national
    assert not status.org
    assert status.national_imported_at == when
    await records.import_national_dnc(["+15555550104"], source="registry-2026-12", actor="op:test")
    assert not (await records.dnc_status("+15555550103")).national  # replaced, not merged


async def test_rotation_reencrypt_and_kek_rewrap(
    records: Records, db_url: str, tmp_path, test_kek: LocalKek
) -> None:
    pid = await records.add_patient(NAME, PHONE, dob=date(1970, 1, 2), actor="t", reason="r")
    owner = await asyncpg.connect(db_url)  # data keys change on the owner's connection only
    try:
        assert await keysmod.rotate(owner, records.kek) == 2
    finally:
        await owner.close()
    # this process has not loaded v2 yet; reads still work, and new writes pick it up
    await records.reload_keys()
    assert records.keys.active_version == 2
    async with records.pool.acquire() as conn:
        assert await keysmod.reencrypt_patients(conn, records.keys) == 1
        assert await conn.fetchval("SELECT key_version FROM patients WHERE id = $1", pid) == 2
    new_kek = LocalKek(bytes(range(100, 132)))
    owner = await asyncpg.connect(db_url)
    try:
        assert await keysmod.rewrap(owner, records.kek, new_kek) == 3
    finally:
        await owner.close()
    reopened = await Records.open(db_url, new_kek, tmp_path / "spool2")
    try:
        [p] = await reopened.find_patients_by_phone(PHONE, actor="t", reason="r")
        assert p.name == NAME
    finally:
        await reopened.close()
    with pytest.raises(OperatorError, match="wrapped by"):
        await Records.open(db_url, test_kek, tmp_path / "spool3")


async def test_other_process_rotation_is_picked_up_on_read(
    records: Records, db_url: str, tmp_path, test_kek: LocalKek
) -> None:
    other = await Records.open(db_url, test_kek, tmp_path / "spool-other")
    try:
        owner = await asyncpg.connect(db_url)
        try:
            await keysmod.rotate(owner, other.kek)
        finally:
            await owner.close()
        await other.reload_keys()
        pid = await other.add_patient(NAME, PHONE, actor="t", reason="r")
    finally:
        await other.close()
    assert records.keys.active_version == 1
    patient = await records.get_patient(pid, actor="t", reason="r")
    assert patient is not None
    assert patient.name == NAME
    assert records.keys.active_version == 2
