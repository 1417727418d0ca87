"""One FHIR poll that fails in a way nobody foresaw must not stop polling, and must show
in health. Against tests/feeds/fhir_r4_server.py on 127.0.0.1 and the embedded Postgres.
Two such faults: a token endpoint that answers ``"expires_in": null`` (``float(None)``: a
TypeError in the client), and a bug of ours in a poll (injected, with a name in its text).
Before: ``Feeds.poll_fhir`` caught only network and database errors, the exception ended
it, and with it the TaskGroup of ``carrier serve``'s feeds (the HL7 listener too);
health said nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from carrier.feeds.fhir_client import client_from_settings
from carrier.feeds.fhir_poll import FhirPoller
from carrier.feeds.mllp import Hl7Listener
from carrier.feeds.service import Feeds
from carrier.feeds.store import FeedStore
from carrier.feeds.writeback import Writeback
from carrier.health import Health
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


def _patient(srv: FhirR4Server, when: str) -> None:
    srv.clock = lambda: when
    srv.put({"resourceType": "Patient", "id": "pz", "name": [{"family": "Testa",
             "given": ["Zed"]}], "telecom": [{"system": "phone", "value": "(555)555-0191"}]})


class Watched(FhirPoller):
    """The poller, telling the test when each poll has ended (however it ended); with
    ``bug`` set, a poll fails as a bug of ours would (a name in the exception's text)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ended = asyncio.Event()
        self.bug = False

    async def poll_once(self, now: dt.datetime) -> Counter[str]:
        try:
            if self.bug:
                raise LookupError("no provider for Testa Zed")
            return await super().poll_once(now)
        finally:
            self.ended.set()


async def test_an_unforeseen_poll_failure_shows_in_health_and_polling_goes_on(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records, caplog: pytest.LogCaptureFixture) -> None:
    settings = dataclasses.replace(settings_for(server, keys[0]), fhir_poll_s=3600.0)
    poller = Watched(client_from_settings(settings), feed_store, tz=TZ)
    feeds = Feeds(settings, feed_store, Hl7Listener(feed_store, tz=TZ),
                  Writeback(records, {}), poller)
    health = Health()
    feeds.register_health(health)
    _patient(server, dt.datetime.now(dt.UTC).isoformat())
    poller.bug = True
    stop = asyncio.Event()
    with caplog.at_level(logging.DEBUG):
        task = asyncio.create_task(feeds.poll_fhir(stop))
        async with asyncio.timeout(60):
            await poller.ended.wait()
            await asyncio.sleep(0)  # the loop's turn to record the poll
        assert not task.done()  # still polling (waiting for the next one)
        failed = [c for c in health.failed() if c.name == "feeds.fhir_poll"]
        assert failed
        assert "LookupError at test_fhir_poll_health.py" in failed[0].detail
        stop.set()
        await task
        # The bug mended: the next poll applies the patient and health is good again.
        poller.bug = False
        stop.clear()
        poller.ended.clear()
        task = asyncio.create_task(feeds.poll_fhir(stop))
        async with asyncio.timeout(60):
            await poller.ended.wait()
            await asyncio.sleep(0)
        stop.set()
        await task
    assert not health.failed()
    assert await records.pool.fetchval("SELECT count(*) FROM feed_patients") == 1
    assert "Testa" not in caplog.text


async def test_a_token_reply_with_expires_in_null_is_read_as_the_default(
        server: FhirR4Server, keys: tuple[Path, bytes], feed_store: FeedStore,
        records: Records) -> None:
    settings = settings_for(server, keys[0])
    poller = FhirPoller(client_from_settings(settings), feed_store, tz=TZ)
    feeds = Feeds(settings, feed_store, Hl7Listener(feed_store, tz=TZ),
                  Writeback(records, {}), poller)
    health = Health()
    feeds.register_health(health)
    server.token_ttl = None  # type: ignore[assignment]  # {"expires_in": null}
    _patient(server, dt.datetime.now(dt.UTC).isoformat())
    await feeds.poll_fhir_once()
    assert not health.failed()
    assert await records.pool.fetchval("SELECT count(*) FROM feed_patients") == 1
