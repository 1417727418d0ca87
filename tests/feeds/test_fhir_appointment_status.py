"""FHIR Appointment status over its versions, polled from tests/feeds/fhir_r4_server.py on
127.0.0.1 into the embedded Postgres: booked -> cancelled -> booked again (a clinic undoes
a cancellation), each polled; the calendar follows each change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.scheduling.outreach import CalendarAppointments
from carrier.dialer.campaign import CampaignPolicy
from carrier.dialer.store import OutreachStore
from carrier.dialer.sync import sync_campaigns
from carrier.feeds.fhir_client import client_from_settings
from carrier.feeds.fhir_poll import FhirPoller
from carrier.feeds.store import FeedStore
from carrier.records.store import Records
from tests.feeds.conftest import TZ
from tests.feeds.fhir_r4_server import FhirR4Server
from tests.feeds.test_fhir_feed import settings_for

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path_factory.mktemp("fhir") / "client.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return pem, key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture
def server(keys: tuple[Path, bytes]) -> Iterator[FhirR4Server]:
    srv = FhirR4Server("carrier-test", keys[1]).start()
    yield srv
    srv.close()


def _appointment(status: str, start: dt.datetime) -> dict[str, Any]:
    return {"resourceType": "Appointment", "id": "fa1", "status": status,
            "start": start.isoformat(),
            "end": (start + dt.timedelta(minutes=30)).isoformat(),
            "participant": [{"actor": {"reference": "Patient/fp1"}, "status": "accepted"}]}


async def _status(records: Records) -> str | None:
    return await records.pool.fetchval(
        "SELECT a.status FROM sched_appointments a JOIN feed_appointments f"
        " ON f.app_id = a.id WHERE f.ref = 'fa1'")


async def test_booked_cancelled_booked_again(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now + dt.timedelta(days=4)
    server.clock = (now - dt.timedelta(minutes=30)).isoformat
    server.put({"resourceType": "Patient", "id": "fp1", "name": [{"family": "Testa",
                "given": ["Fay"]}], "telecom": [{"system": "phone",
                                                 "value": "(555)555-0193"}]})
    poller = FhirPoller(client_from_settings(settings_for(server, keys[0])), feed_store,
                        tz=TZ)
    seen = []
    for minutes, status in ((20, "booked"), (10, "cancelled"), (5, "booked")):
        server.clock = lambda m=minutes: (now - dt.timedelta(minutes=m)).isoformat()
        server.put(_appointment(status, start))
        await poller.poll_once(now)
        seen.append(await _status(records))
    assert seen == ["booked", "cancelled", "booked"]


async def test_a_booking_moved_to_the_waitlist_is_no_longer_booked(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    """FHIR R4 ``waitlist``: "to be scheduled/confirmed in the future when a slot is
    available". Before: the version was skipped as unmappable and the appointment stayed
    booked, so the patient got reminder calls for a visit they no longer had. Now it ends
    the booking (as a cancellation does: no reminder); booked again, it is booked."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now + dt.timedelta(days=4)
    server.clock = (now - dt.timedelta(minutes=30)).isoformat
    server.put({"resourceType": "Patient", "id": "fp1", "name": [{"family": "Testa",
                "given": ["Fay"]}], "telecom": [{"system": "phone",
                                                 "value": "(555)555-0194"}]})
    poller = FhirPoller(client_from_settings(settings_for(server, keys[0])), feed_store,
                        tz=TZ)
    seen = []
    for minutes, status in ((20, "booked"), (10, "waitlist"), (5, "booked")):
        server.clock = (now - dt.timedelta(minutes=minutes)).isoformat
        server.put(_appointment(status, start))
        await poller.poll_once(now)
        seen.append(await _status(records))
    assert seen == ["booked", "cancelled", "booked"]


@pytest.mark.parametrize("status", ["proposed", "pending"])
async def test_an_unconfirmed_appointment_gets_no_reminder(
        status: str, server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    """FHIR R4 ``proposed`` (not yet finalised) and ``pending`` (some participants have not
    accepted): no confirmed visit. Before: both read as booked, so the patient got reminder
    calls for a visit the clinic never confirmed. Now neither books (no reminder is
    planned); a booking moved back to one ends its reminders; ``booked`` books."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now + dt.timedelta(days=4)
    server.clock = (now - dt.timedelta(minutes=30)).isoformat
    server.put({"resourceType": "Patient", "id": "fp1", "name": [{"family": "Testa",
                "given": ["Fay"]}], "telecom": [{"system": "phone",
                                                 "value": "(555)555-0195"}]})
    poller = FhirPoller(client_from_settings(settings_for(server, keys[0])), feed_store,
                        tz=TZ)
    seen = []
    for minutes, state in ((25, status), (20, "booked"), (10, status)):
        server.clock = (now - dt.timedelta(minutes=minutes)).isoformat
        server.put(_appointment(state, start))
        await poller.poll_once(now)
        await sync_campaigns(OutreachStore(records.pool), CalendarAppointments(records.pool),
                             CampaignPolicy(), now)
        seen.append((await _status(records), await _reminders(records)))
    assert [booked == "booked" for booked, _ in seen] == [False, True, False]
    assert [n > 0 for _, n in seen] == [False, True, False]


async def _reminders(records: Records) -> int:
    return int(await records.pool.fetchval(
        "SELECT count(*) FROM dialer_outreach o JOIN feed_appointments f"
        " ON o.appointment_id = f.app_id WHERE f.ref = 'fa1'"
        " AND o.campaign_id = 'reminders' AND o.state = 'pending'"))


async def test_a_rebooking_in_the_same_second_as_a_cancellation_is_applied(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    """A clinic undoes a cancellation at once: the server stamps both versions with the
    same ``meta.lastUpdated`` (second precision). Before: the re-booking was dropped as
    stale (at a tie a cancellation won), the visit stayed cancelled and no reminder went
    out. Now, when both carry ``meta.versionId``, the higher version is the later."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now + dt.timedelta(days=4)
    server.clock = (now - dt.timedelta(minutes=30)).isoformat
    server.put({"resourceType": "Patient", "id": "fp1", "name": [{"family": "Testa",
                "given": ["Fay"]}], "telecom": [{"system": "phone",
                                                 "value": "(555)555-0196"}]})
    poller = FhirPoller(client_from_settings(settings_for(server, keys[0])), feed_store,
                        tz=TZ)
    seen = []
    for minutes, status in ((20, "booked"), (10, "cancelled"), (10, "booked")):
        server.clock = (now - dt.timedelta(minutes=minutes)).isoformat
        server.put(_appointment(status, start))
        await poller.poll_once(now)
        seen.append(await _status(records))
    assert seen == ["booked", "cancelled", "booked"]


async def test_a_patient_version_without_a_phone_or_birth_date_clears_them(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    """A FHIR update replaces the whole resource: a Patient version with no phone in
    ``telecom`` and no ``birthDate`` says the EHR removed them. Before: the number on file
    was kept and called. Now both are cleared (audited ``patient.clear``, field names
    only); a version with an unreadable phone still keeps the number on file."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    poller = FhirPoller(client_from_settings(settings_for(server, keys[0])), feed_store,
                        tz=TZ)
    base = {"resourceType": "Patient", "id": "fp9",
            "name": [{"family": "Testa", "given": ["Gus"]}]}
    seen = []
    for minutes, extra in (
            (30, {"telecom": [{"system": "phone", "value": "(555)555-0197"}],
                  "birthDate": "1970-02-03"}),
            (20, {"telecom": [{"system": "phone", "value": "not a number"}]}),
            (10, {"telecom": [{"system": "email", "value": "x@example.org"}]})):
        server.clock = (now - dt.timedelta(minutes=minutes)).isoformat
        server.put({**base, **extra})
        await poller.poll_once(now)
        pid = await records.pool.fetchval("SELECT patient_id FROM feed_patients")
        p = await records.get_patient(pid, actor="t", reason="t")
        assert p is not None
        seen.append((p.phone, p.dob))
    assert seen == [("+15555550197", dt.date(1970, 2, 3)), ("+15555550197", None),
                    ("", None)]
    details = await records.pool.fetch(
        "SELECT details FROM audit_log WHERE action = 'patient.clear' ORDER BY seq")
    assert [("phone" in d["details"], "dob" in d["details"]) for d in details] == [
        (False, True), (True, False)]
