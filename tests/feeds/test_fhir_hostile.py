"""The FHIR poller against servers that misbehave (tests/feeds/fhir_r4_server.py with its
bugs switched on): 503/429 with ``Retry-After`` in seconds or as a date, a ``next`` link
that loops back to its own page or points at another host, Bundle entries without a
resource, resources a mapping cannot read, an Appointment whose patient is a contained
resource. Each poll ends; what can be read is applied; what cannot is skipped and counted
(never a poll that fails for ever on one resource); the token goes to the server only."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.scheduling.feed_apply import FeedCalendar
from carrier.feeds.fhir_client import FhirClient, client_from_settings
from carrier.feeds.fhir_poll import FhirPoller
from carrier.feeds.store import FeedStore
from carrier.plugin import ScheduleChange, ScheduleChangeKind
from carrier.records.store import Records
from tests.feeds.fhir_r4_server import FhirR4Server
from tests.feeds.test_fhir_feed import seed, settings_for

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


def _client(srv: FhirR4Server, pem: Path) -> tuple[FhirClient, list[float]]:
    client = client_from_settings(settings_for(srv, pem))
    paused: list[float] = []

    async def sleep(seconds: float) -> None:  # the client's back-off, under test control
        paused.append(seconds)

    client._sleep = sleep
    return client, paused


async def _poll(poller: FhirPoller) -> dict[str, int]:
    async with asyncio.timeout(60):  # a poll that pages for ever fails here
        return dict(await poller.poll_once(dt.datetime.now(dt.UTC)))


async def _booked(records: Records) -> set[str]:
    rows = await records.pool.fetch("SELECT ref FROM feed_appointments")
    return {r["ref"] for r in rows}


async def test_retry_after_in_seconds_and_as_a_date(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore) -> None:
    seed(server, dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
    client, paused = _client(server, keys[0])
    server.limit_status, server.retry_after, server.rate_limit = 503, "7", 1
    await client.request("GET", "Patient")
    server.retry_after = email.utils.format_datetime(  # a day away: capped at max_wait
        dt.datetime.now(dt.UTC) + dt.timedelta(days=1), usegmt=True)
    server.rate_limit = 1
    await client.request("GET", "Patient")
    server.retry_after = "Mon, 01 Jan 2001 00:00:00 GMT"  # already past: at once
    server.rate_limit = 1
    await client.request("GET", "Patient")
    assert paused == [7.0, client.max_wait, 0.0]


async def test_a_next_link_back_to_its_own_page_ends_the_search(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    seed(server, dt.datetime.now(dt.UTC) + dt.timedelta(days=3))

    def loop(kind: str, bundle: dict[str, Any]) -> dict[str, Any]:
        if kind == "Patient":  # every page says the next one is the first again
            bundle["link"] = [{"relation": "next",
                               "url": f"{server.base}/Patient?_count=1&_offset=0"}]
        return bundle

    server.bundles = loop
    client, _ = _client(server, keys[0])
    counts = await _poll(FhirPoller(client, feed_store, page=1))
    assert counts.get("Appointment:applied") == 1  # the types after it were polled
    assert await _booked(records) == {"a1"}


async def test_a_next_link_to_another_host_gets_no_token(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore) -> None:
    other = FhirR4Server("carrier-test", keys[1]).start()
    try:
        seed(server, dt.datetime.now(dt.UTC) + dt.timedelta(days=3))

        def away(kind: str, bundle: dict[str, Any]) -> dict[str, Any]:
            bundle["link"] = [{"relation": "next", "url": f"{other.base}/{kind}?_offset=1"}]
            return bundle

        server.bundles = away
        client, _ = _client(server, keys[0])
        await _poll(FhirPoller(client, feed_store, page=1))
        assert other.authorizations == []
    finally:
        other.close()


async def test_unreadable_entries_are_skipped_and_the_rest_applied(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    seed(server, start)
    # A server's bugs, each before the good resources in the _lastUpdated order.
    server.put({"resourceType": "Patient", "id": "bad-dob", "birthDate": "1980-13-45",
                "name": [{"family": "Testa", "given": ["Bad"]}],
                "telecom": [{"system": "phone", "value": "+15555550109"}]})
    server.put({"resourceType": "Patient", "id": "bad-name", "name": "Testa Patientson",
                "telecom": [{"system": "phone", "value": "+15555550108"}]})
    server.put({"resourceType": "Appointment", "id": "bad-start", "status": "booked",
                "start": "next Tuesday",
                "participant": [{"actor": {"reference": "Patient/p1"}}]})
    server.put({"resourceType": "Appointment", "id": "bad-minutes", "status": "booked",
                "start": start.isoformat(), "minutesDuration": "half an hour",
                "participant": [{"actor": {"reference": "Patient/p1"}}]})
    server.put({"resourceType": "Patient", "id": "bad-text",  # a lone surrogate (\ud800)
                "name": [{"family": "Testa", "given": ["Lo\ud800ne"]}],
                "telecom": [{"system": "phone", "value": "+15555550106"}]})
    for rid in ("bad-dob", "bad-name", "bad-text", "bad-start", "bad-minutes"):  # first
        kind = "Patient" if rid in ("bad-dob", "bad-name", "bad-text") else "Appointment"
        server.resources[kind][rid]["meta"]["lastUpdated"] = "2001-01-01T00:00:00+00:00"

    def holes(kind: str, bundle: dict[str, Any]) -> dict[str, Any]:
        bundle["entry"] = [{"fullUrl": f"{server.base}/{kind}/gone"}, None,
                           {"resource": {"resourceType": kind}}, *bundle["entry"]]
        return bundle

    server.bundles = holes
    client, _ = _client(server, keys[0])
    poller = FhirPoller(client, feed_store)
    counts = await _poll(poller)
    assert counts["Patient:applied"] == 2
    assert counts.get("Appointment:applied") == 1
    assert counts["Patient:skipped"] >= 3
    assert counts["Appointment:skipped"] >= 2
    assert await _booked(records) == {"a1"}
    # The cursor moved past them: the next poll does not trip on them again.
    server.bundles = None
    again = await _poll(poller)
    assert not any(k.endswith(":applied") for k in again)


async def test_an_appointment_for_a_contained_patient_is_skipped(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    for rid in ("c1", "c2"):  # two of them, each with its own contained "#pat"
        server.put({"resourceType": "Appointment", "id": rid, "status": "booked",
                    "start": start.isoformat(),
                    "contained": [{"resourceType": "Patient", "id": "pat",
                                   "name": [{"family": "Testa", "given": [rid]}],
                                   "telecom": [{"system": "phone", "value": "+15555550107"}]}],
                    "participant": [{"actor": {"reference": "#pat"}}]})
    client, _ = _client(server, keys[0])
    counts = await _poll(FhirPoller(client, feed_store))
    assert counts == {"Appointment:skipped": 2}
    assert await _booked(records) == set()
    assert await records.pool.fetchval("SELECT count(*) FROM feed_patients") == 0


async def test_unreadable_history_entries_do_not_stop_deletions(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    seed(server, dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
    client, _ = _client(server, keys[0])
    poller = FhirPoller(client, feed_store)
    await _poll(poller)
    server.delete("Appointment", "a1")
    history = server._history

    def broken(kind: str, query: dict[str, list[str]]) -> dict[str, Any]:
        bundle = history(kind, query)
        bundle["entry"] = [{"request": "DELETE Appointment/x"},
                           {"request": {"method": "DELETE", "url": "Appointment/zz"},
                            "response": {"lastModified": "yesterday"}},
                           *bundle["entry"]]
        return bundle

    server._history = broken  # type: ignore[method-assign]
    counts = await _poll(poller)
    assert counts.get("Appointment:deleted") == 1
    status = await records.pool.fetchval(
        "SELECT status FROM sched_appointments WHERE id = 'feed:fhir:a1'")
    assert status == "cancelled"


async def test_appointments_the_store_cannot_take_are_skipped_not_a_stuck_poll(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    seed(server, start)
    for rid, extra in (("back", {"end": (start - dt.timedelta(hours=1)).isoformat()}),
                       ("neg", {"minutesDuration": -30}),
                       ("far", {"minutesDuration": 10**12})):
        server.put({"resourceType": "Appointment", "id": rid, "status": "booked",
                    "start": start.isoformat(), **extra,
                    "participant": [{"actor": {"reference": "Patient/p1"}}]})
    # A NUL in a practitioner's name: the database refuses the text of its appointment.
    server.put({"resourceType": "Practitioner", "id": "nul", "name": [{"family": "De\u0000mo"}]})
    server.put({"resourceType": "Appointment", "id": "nul", "status": "booked",
                "start": start.isoformat(),
                "participant": [{"actor": {"reference": "Patient/p1"}},
                                {"actor": {"reference": "Practitioner/nul"}}]})
    client, _ = _client(server, keys[0])
    poller = FhirPoller(client, feed_store)
    counts = await _poll(poller)
    assert counts["Appointment:skipped"] == 4
    assert await _booked(records) == {"a1"}


class _FaultyCalendar(FeedCalendar):
    """The application's calendar with bugs (until ``fixed``): any change of appointment
    ``BUG``, and the deletion of ``a1``, raise (with a name in the text, which must reach
    no log)."""

    fixed = False

    async def apply_schedule(self, conn: Any, change: ScheduleChange) -> str:
        if not self.fixed and (change.appointment_ref == "BUG" or (
                change.appointment_ref == "a1" and change.kind == ScheduleChangeKind.DELETED)):
            raise LookupError("no slot for Testa Patientson")
        return await super().apply_schedule(conn, change)


async def test_a_fault_of_ours_on_one_resource_is_retried_and_the_poll_goes_on(
        server: FhirR4Server, keys: tuple[Path, bytes], records: Records,
        caplog: pytest.LogCaptureFixture) -> None:
    """Before, a fault of the application's feed (any exception but the few the poll
    expects) ended the poll, and Feeds.poll_fhir (which catches I/O and database errors
    only) ended carrier serve's task group with it. Now the poll goes on past it, the
    cursor stays before it, and once the bug is fixed nothing was lost."""
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    seed(server, start)
    server.put({"resourceType": "Appointment", "id": "BUG", "status": "booked",
                "start": start.isoformat(), "end": (start + dt.timedelta(hours=1)).isoformat(),
                "participant": [{"actor": {"reference": "Patient/p2"}}]})
    client, _ = _client(server, keys[0])
    calendar = _FaultyCalendar(records)
    poller = FhirPoller(client, FeedStore(records, calendar))
    with caplog.at_level(logging.DEBUG):
        counts = await _poll(poller)
        assert counts.get("Appointment:failed") == 1
        assert await _booked(records) == {"a1"}
        server.delete("Appointment", "a1")
        await _poll(poller)  # the deletion's fault: held back, the poll ends normally
        assert await _status(records, "a1") == "booked"
    assert "LookupError" in caplog.text
    assert "Testa" not in caplog.text
    assert "Patientson" not in caplog.text
    calendar.fixed = True  # the application is fixed (a deploy): the next poll catches up
    counts = await _poll(poller)
    assert counts.get("Appointment:applied") == 1
    assert counts.get("Appointment:deleted") == 1
    assert await _status(records, "BUG") == "booked"
    assert await _status(records, "a1") == "cancelled"


async def _status(records: Records, ref: str) -> str | None:
    return await records.pool.fetchval(
        "SELECT a.status FROM sched_appointments a JOIN feed_appointments f"
        " ON f.app_id = a.id WHERE f.ref = $1", ref)


async def test_an_appointment_time_without_an_offset_is_the_clinics_local_time(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    """FHIR ``Appointment.start`` is an instant (offset required); a server that leaves it
    out writes the clinic's wall clock. Before, it was read as UTC: a 09:00 New York
    appointment was stored at 04:00 and reminded and spoken as such. Now it is read in
    ``feeds.timezone``, as HL7 and CSV times without an offset are."""
    seed(server, dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
    server.put({"resourceType": "Appointment", "id": "local", "status": "booked",
                "start": "2030-01-07T09:00:00", "end": "2030-01-07T09:30:00",
                "participant": [{"actor": {"reference": "Patient/p1"}}]})
    client, _ = _client(server, keys[0])
    poller = FhirPoller(client, feed_store, tz=ZoneInfo("America/New_York"))
    await _poll(poller)
    row = await records.pool.fetchrow(
        "SELECT start_at, end_at FROM sched_appointments WHERE id = 'feed:fhir:local'")
    assert row["start_at"] == dt.datetime(2030, 1, 7, 14, 0, tzinfo=dt.UTC)
    assert row["end_at"] == dt.datetime(2030, 1, 7, 14, 30, tzinfo=dt.UTC)
