"""Whose preferred language wins: a person's choice (the verified patient on a call or in a
text, an operator in the console) over a later EHR value that has not changed since; an
EHR value that did change since is news and applies. Before: every HL7 ADT/SIU carrying
PID-15, every FHIR poll and every CSV import put the EHR's value back, so a patient who
asked for English on a call was called in Spanish again after the next ADT^A08."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from uuid import UUID

import pytest

from agent.language import preference_keeper
from carrier.feeds.bulk import apply_many
from carrier.feeds.store import FeedItem, FeedStore, PatientIn
from carrier.records.store import Records
from tests.feeds.conftest import Listening, ack_fields, mllp_send, now_utc
from tests.feeds.hl7_samples import adt, siu
from tests.feeds.test_patient_language_feeds import with_pid15

pytestmark = pytest.mark.postgres

NAME = "Testa Patientson"
PHONE = "+15555550131"


async def _stored(records: Records) -> tuple[str | None, str | None]:
    row = await records.pool.fetchrow(
        "SELECT p.language, p.language_source FROM patients p"
        " JOIN feed_patients f ON f.patient_id = p.id")
    assert row is not None
    return row["language"], row["language_source"]


async def _language_audit(records: Records) -> list[tuple[str, dict[str, str]]]:
    await records.drain_spool()
    rows = await records.pool.fetch(
        "SELECT actor, action, details FROM audit_log WHERE action LIKE 'patient.language%'"
        " ORDER BY seq")
    return [(r["actor"] + " " + r["action"],
             r["details"] if isinstance(r["details"], dict) else json.loads(r["details"]))
            for r in rows]


async def _pid(records: Records) -> UUID:
    pid = await records.pool.fetchval("SELECT patient_id FROM feed_patients")
    assert isinstance(pid, UUID)
    return pid


async def test_a_verified_patient_s_choice_outlives_an_unchanged_pid15(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc()
    start = (now + dt.timedelta(days=2)).replace(microsecond=0, second=0)
    acks = await mllp_send(hl7_server.port, [with_pid15(
        siu("S12", "P1", start=start, sent=now - dt.timedelta(hours=4)), "SPA^Spanish^HL70296")],
        tmp_path)
    assert ack_fields(acks[0])["MSA"][1] == "AA"
    assert await _stored(records) == ("es", "feed")
    # On a reminder call the verified patient asks for English (agent.language's keeper).
    await preference_keeper(records, str(await _pid(records)), "call c-1")("en")
    assert await _stored(records) == ("en", "patient")
    # The EHR still says Spanish in every later message: the patient's choice stays.
    acks = await mllp_send(hl7_server.port, [
        with_pid15(adt("A08", "P2", sent=now - dt.timedelta(hours=3)), "SPA^Spanish^HL70296"),
        with_pid15(siu("S14", "P3", start=start, sent=now - dt.timedelta(hours=2)), "SPA"),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AA"]
    assert await _stored(records) == ("en", "patient")
    # The registration desk changes the EHR (English, then Spanish again): news, applied.
    acks = await mllp_send(hl7_server.port, [
        with_pid15(adt("A08", "P4", sent=now - dt.timedelta(hours=1)), "ENG"),
        with_pid15(adt("A08", "P5", sent=now), "SPA"),
    ], tmp_path)
    assert [ack_fields(a)["MSA"][1] for a in acks] == ["AA", "AA"]
    assert await _stored(records) == ("es", "feed")
    audit = await _language_audit(records)
    assert [(who, d["language"], d.get("source"), d.get("kept")) for who, d in audit] == [
        ("agent patient.language", "en", "patient", None),
        ("feed patient.language.held", "es", "feed", "patient"),  # P2
        ("feed patient.language.held", "es", "feed", "patient"),  # P3
        ("feed patient.language", "en", "feed", None),  # P4: what the EHR says changed
        ("feed patient.language", "es", "feed", None),  # P5
    ]


async def test_an_operator_s_edit_outlives_an_unchanged_fhir_or_csv_value(
        records: Records) -> None:
    store = FeedStore(records, None)
    now = now_utc()

    def item(source: str, msg: str, language: str | None, at: dt.datetime) -> FeedItem:
        return FeedItem(source, msg, "Patient", PatientIn("CLINIC", "M7", NAME, PHONE, None,
                                                          None, language), None, sent_at=at)

    await store.apply(item("fhir", "f1", "en", now - dt.timedelta(hours=5)), now)
    pid = await _pid(records)
    assert await records.set_patient_language(pid, "es", actor="console:op-front",
                                              reason="console: asked at the desk",
                                              source="staff")
    await store.apply(item("fhir", "f2", "en", now - dt.timedelta(hours=4)), now)
    assert await _stored(records) == ("es", "staff")
    await apply_many(store, [item("csv", "c1", "en", now - dt.timedelta(hours=3))], now)
    assert await _stored(records) == ("es", "staff")
    await apply_many(store, [item("csv", "c2", None, now - dt.timedelta(hours=2))], now)
    assert await _stored(records) == ("es", "staff")
    # A feed's value that does change since is applied (and the source is the feed again).
    await store.apply(item("fhir", "f3", "es", now - dt.timedelta(hours=1)), now)
    await store.apply(item("fhir", "f4", "en", now), now)
    assert await _stored(records) == ("en", "feed")
    audit = await _language_audit(records)
    assert [(who, d["language"], d.get("kept")) for who, d in audit] == [
        ("console:op-front patient.language", "es", None),
        ("feed patient.language.held", "en", "staff"),
        ("feed patient.language.held", "en", "staff"),
        ("feed patient.language", "es", None),  # f3: the EHR's word changed (to staff's)
        ("feed patient.language", "en", None),
    ]
