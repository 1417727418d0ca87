"""The schedule feeds as ``carrier serve`` and ``carrier hl7 serve`` run them, built from
the ``feeds`` settings: the MLLP listener (optionally TLS), the write-back outbox and its
destinations, and the outcome recorder around the application's call handler."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import asyncpg

from carrier.feeds.mllp import Hl7Listener, MllpLimits, run_listener
from carrier.feeds.store import FeedStore, fault_origin
from carrier.feeds.writeback import Destination, MllpDestination, OutcomeRecorder, Writeback
from carrier.health import ComponentHealth, Health, Liveness
from carrier.plugin import AppointmentSource, CallHandler, schedule_feed_of
from carrier.records.store import Records
from carrier.settings import Settings
from carrier.settings_feeds import FeedsSettings

if TYPE_CHECKING:
    from carrier.feeds.fhir_poll import FhirPoller

log = logging.getLogger(__name__)


def tls_context(f: FeedsSettings) -> ssl.SSLContext | None:
    if f.hl7_tls_cert is None or f.hl7_tls_key is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(f.hl7_tls_cert, f.hl7_tls_key)
    return ctx


def destinations(f: FeedsSettings) -> dict[str, Destination]:
    out: dict[str, Destination] = {}
    if f.writeback_hl7:
        host, _, port = f.writeback_hl7.rpartition(":")
        out["hl7"] = MllpDestination(host, int(port), f.writeback_hl7_message)
    if f.writeback_fhir and f.fhir_base_url:
        from carrier.feeds.fhir_client import client_from_settings  # noqa: PLC0415

        out["fhir"] = client_from_settings(f)
    return out


@dataclass
class Feeds:
    settings: FeedsSettings
    store: FeedStore
    listener: Hl7Listener
    writeback: Writeback
    poller: FhirPoller | None = None
    fhir_fault: str | None = None  # the last poll's fault of ours (class at place)
    fhir_liveness: Liveness = field(init=False)

    def __post_init__(self) -> None:
        self.fhir_liveness = Liveness("feeds.fhir_poll", max_failures=3,
                                      stale_after=max(600.0, 5 * self.settings.fhir_poll_s))

    @classmethod
    def build(cls, settings: Settings, records: Records, app: object) -> Feeds:
        f = settings.feeds
        store = FeedStore(records, schedule_feed_of(app), phone_is_consent=f.phone_is_consent)
        poller = None
        if f.fhir_base_url:
            from carrier.feeds.fhir_client import client_from_settings  # noqa: PLC0415
            from carrier.feeds.fhir_poll import FhirPoller  # noqa: PLC0415

            poller = FhirPoller(client_from_settings(f), store, tz=ZoneInfo(f.timezone))
        limits = MllpLimits(f.hl7_max_connections, f.hl7_max_connections_per_source,
                            f.hl7_frame_timeout_s, f.hl7_idle_timeout_s)
        return cls(f, store, Hl7Listener(store, tz=ZoneInfo(f.timezone), limits=limits),
                   Writeback(records, destinations(f)), poller)

    async def poll_fhir(self, stop: asyncio.Event) -> None:
        """Poll the FHIR server every ``fhir_poll_s`` until ``stop``; a failed poll is
        logged by class (and place, for a fault of ours) and the next one comes on time.
        Health (:meth:`fhir_check`): a fault of ours (an exception nobody foresaw, or
        resources it held back) fails it until a poll is clean; the server or network
        failing does after three polls in a row, or none good for five intervals."""
        assert self.poller is not None
        while not stop.is_set():
            await self.poll_fhir_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.fhir_poll_s)

    async def poll_fhir_once(self) -> None:
        """One poll, whatever it raises (the loop and the TaskGroup of ``carrier serve``,
        with the HL7 listener in it, must outlive it)."""
        assert self.poller is not None
        try:
            counts = await self.poller.poll_once(dt.datetime.now(dt.UTC))
        except (OSError, TimeoutError, ValueError, asyncpg.PostgresError,
                asyncpg.InterfaceError) as exc:  # FhirHttpError is an OSError
            log.warning("fhir poll failed (%s)", exc.__class__.__name__)
            self.fhir_liveness.failure(exc)
            return
        except Exception as exc:  # noqa: BLE001 - a bug costs this poll, not the polling
            where = f"{exc.__class__.__name__} at {fault_origin(exc)}"
            log.error("fhir poll failed: internal fault (%s)", where)  # noqa: TRY400 - no traceback: its text may hold PHI
            self.fhir_liveness.failure(exc)
            self.fhir_fault = where
            return
        log.info("fhir poll", extra={"counts": dict(counts)})
        held = sum(n for key, n in counts.items() if key.endswith(":failed"))
        self.fhir_fault = f"{held} resources held back by an internal fault" if held else None
        self.fhir_liveness.success()

    def fhir_check(self) -> ComponentHealth:
        h = self.fhir_liveness.health()
        if self.fhir_fault is not None:
            return ComponentHealth(h.name, False, f"last poll: {self.fhir_fault}")
        return h

    def register_health(self, health: Health) -> None:
        """The feeds' checks in ``carrier serve``'s health (the FHIR poll, when polling)."""
        if self.poller is not None:
            health.register("feeds.fhir_poll", self.fhir_check)

    def wrap(self, handler: CallHandler, appointments: AppointmentSource | None = None
             ) -> CallHandler:
        """The handler with outcomes queued for write-back (itself when none is set up)."""
        if not self.writeback.destinations:
            return handler
        return OutcomeRecorder(handler, self.writeback, appointments=appointments)

    async def serve_hl7(self, stop: asyncio.Event, *,
                        started: Callable[[int], None] | None = None) -> None:
        f = self.settings
        await run_listener(self.listener, f.hl7_host, f.hl7_port, stop, tls=tls_context(f),
                           started=started)

    async def run(self, stop: asyncio.Event, *, hl7: bool | None = None,
                  started: Callable[[int], None] | None = None) -> None:
        """Inside ``carrier serve``: the listener when ``hl7_enabled`` (or ``hl7``), and the
        write-back loop when a destination is set, until ``stop``."""
        async with asyncio.TaskGroup() as tasks:
            if self.settings.hl7_enabled if hl7 is None else hl7:
                tasks.create_task(self.serve_hl7(stop, started=started))
            if self.writeback.destinations:
                tasks.create_task(self.writeback.run(stop))
            if self.poller is not None:
                tasks.create_task(self.poll_fhir(stop))
