"""The composition root: ``carrier serve`` runs the whole stack in one process.

Order at start: settings (refused with file/key/reason when wrong) -> data folder
and key-encryption key (``keys.*``, :func:`carrier.records.cli_context.kek_for`) -> database
(embedded PostgreSQL unless a URL is set) -> migrations -> records store (replays any
spooled writes) -> the hosted application (one :class:`carrier.plugin.Application`,
loaded from ``agent.application`` so the carrier never imports it; ``start`` seeds the
demo clinic when ``agent.seed_demo``) -> STIR/SHAKEN -> SIP gateway (its handler is
``application.handler``) -> trunk registrations (``auth: register``) -> health registry
and metrics levels. ``serve`` then runs, in one TaskGroup: the console port
(:mod:`carrier.console`: the operator console and ``/api/v1``, ``GET /health``,
``GET /metrics``; uvicorn in this loop), the patient web page on its own port when
``webchat.enabled`` (:mod:`carrier.webchat`), the trunk prober and OPTIONS keepalives, the database
ping, the retention pass, the dialer loop and the schedule feeds (``carrier.feeds``: the
HL7 listener when ``feeds.hl7_enabled``, the FHIR poll, the write-back of outcomes, which
wraps the application's handler). At exit everything stops in reverse, the
embedded server last.

Signals: SIGTERM/SIGINT drain (new INVITEs get 503 with ``Retry-After``, the dialer
stops, live calls get ``sip.drain_timeout_s`` to end, then a BYE), then the stack closes and the
process exits 0 after SIGTERM, 130 after SIGINT (:mod:`carrier.stop_signals`). SIGHUP
re-reads the settings and hands them to
``application.reload`` (workflows, clinic file): new calls use them, live calls keep
what they started with.

``carrier serve --demo-call`` also runs the ``agent.demo_call`` setting's function (default
``demo.call:demo_call``, loaded only then, from outside the runtime packages): a demo
reminder call to a scripted patient phone on the demo trunk, printed with its redacted
transcript. ``carrier health [--json]`` sends OPTIONS to the local SIP port and reads the
console's report; it exits non-zero naming each failed part.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import asyncpg

from carrier import logs, metrics
from carrier.cli import seconds
from carrier.config_check import check_config
from carrier.console.app import ConsoleContext
from carrier.console.live import GatewayLiveCalls
from carrier.console.server import console_tls_files, serve_console
from carrier.dialer.service import DialerService
from carrier.dialer.store import OutreachStore
from carrier.errors import ConfigError, OperatorError
from carrier.feeds.service import Feeds
from carrier.gateway import Gateway
from carrier.health import ComponentHealth, HasWriters, Health, Liveness
from carrier.health import writers_check as records_writers_check
from carrier.health_cli import run_health
from carrier.metrics import Level
from carrier.plugin import Application, levels_of
from carrier.records.anchor import Anchor
from carrier.records.cli_context import kek_for
from carrier.records.crypto import KeyEncryptionKey
from carrier.records.embedded import EmbeddedPostgres, open_server
from carrier.records.folder_lock import own_data_folder
from carrier.records.migrate import migrate, plan
from carrier.records.revive import Reviver
from carrier.records.store import Records
from carrier.settings import Settings, default_config_dir, load_settings
from carrier.sms.wiring import run_sms
from carrier.stack_watch import (
    CertificateWatch,
    DiskWatch,
    served_certificates,
    sip_check,
    sip_levels,
)
from carrier.stir_setup import build_stir
from carrier.stop_signals import StopSignals
from carrier.trunk_links import TrunkLinks, trunk_uri
from carrier.upkeep import app_evidence, app_slots, app_tables, retention_loop
from carrier.webchat.wiring import serve_webchat_for

log = logging.getLogger("carrier.app")


@dataclass
class Stack:
    settings: Settings
    records: Records
    gateway: Gateway
    application: Application
    dsn: str
    health: Health
    dialer: DialerService
    links: TrunkLinks
    database: Liveness
    console_port: int | None = None
    feeds: Feeds | None = None
    webchat_port: int | None = None
    certificates: CertificateWatch | None = None
    disk: DiskWatch | None = None
    reviver: Reviver | None = None  # restarts a dead embedded database

    @property
    def runtime(self) -> Any:
        """The application's own shared state, for demos and benches (opaque here)."""
        return getattr(self.application, "runtime", None)


def load_object(name: str, setting: str) -> Any:
    """``module:attribute`` -> the object (a bad name is an operator error naming it)."""
    module, _, attr = name.partition(":")
    try:
        obj = importlib.import_module(module)
        return getattr(obj, attr) if attr else obj
    except (ImportError, AttributeError) as exc:
        raise OperatorError(f"{setting} {name!r} cannot be loaded: {exc}") from exc


def load_application(settings: Settings) -> Application:
    app = load_object(settings.agent.application, "agent.application")
    for part in ("handler", "appointments", "start", "stop", "reload", "health"):
        if not hasattr(app, part):
            raise OperatorError(f"agent.application {settings.agent.application!r} is not an "
                                f"Application (no {part!r})")
    return cast(Application, app)


def build_health(settings: Settings, records: Records, gateway: Gateway, *,
                 dialer: DialerService, app: Application, links: TrunkLinks,
                 database: Liveness, certificates: CertificateWatch | None = None,
                 disk: DiskWatch | None = None) -> Health:
    health = Health()
    health.register("database", database.health)
    if disk is not None:
        health.register("disk", disk.health)  # a full disk: the spool and database refuse
    if certificates is not None:
        health.register("certificates", certificates.health)
    if settings.dialer.enabled:
        health.register("dialer", dialer.liveness.health)
    if isinstance(records, HasWriters):
        health.register("records", records_writers_check(records))
    health.register("application", app.health)
    health.register("sip", lambda: sip_check(lambda: dict(gateway.endpoint.listeners)))
    health.register("sip.rtp_ports", gateway.ports.health)  # every call fails without a pair
    health.register("trunks", lambda: [
        ComponentHealth(f"trunk.{name}", True, state.value)  # a down trunk fails over
        for name, state in gateway.trunks.pool.states().items()])
    health.register("registrations", links.health)
    return health


def levels(stack: Stack) -> list[Level]:
    """What ``/metrics`` reads at each scrape: spool depth, writer and dialer liveness, and
    the application's own (``carrier.plugin.levels_of``)."""
    out = []
    for w in stack.records.health().writers:
        label = (("writer", w.name),)
        out.append(Level("carrier_spool_depth", "Records rows waiting in the local spool",
                         label, float(w.spooled)))
        out.append(Level("carrier_writer_up", "1 while a records writer is healthy",
                         label, 1.0 if w.ok else 0.0))
        out.append(Level("carrier_spool_age_seconds", "Seconds the spool has held rows "
                         "without emptying (the database not taking writes)", label,
                         w.spooled_for))
        out.append(Level("carrier_records_quarantined", "Rows set aside (dead letter, "
                         "corrupt spool) for the operator", label, float(w.quarantined)))
        out.append(Level("carrier_records_unrecorded", "Writes neither the database nor the"
                         " spool took (disk full)", label, float(w.unrecorded), counter=True))
    if stack.settings.dialer.enabled:
        out.append(Level("carrier_dialer_up", "1 while the dialer loop is healthy", (),
                         1.0 if stack.dialer.liveness.health().ok else 0.0))
    out.extend(sip_levels(dict(stack.gateway.endpoint.listeners)))
    # Every check of /health as a metric: an alert on any without parsing /health's JSON.
    out.extend(Level("carrier_component_up", "1 while a health check passes",
                     (("component", c.name),), 1.0 if c.ok else 0.0)
               for c in stack.health.report())
    for watch in (stack.certificates, stack.disk):
        if watch is not None:
            out.extend(watch.levels())
    out.extend(levels_of(stack.application))
    return out


@contextlib.asynccontextmanager
async def _database(settings: Settings, data_dir: Path, app: Application
                    ) -> AsyncIterator[tuple[str, EmbeddedPostgres | None]]:
    async with open_server(settings.database.url, data_dir) as (dsn, server):
        try:
            conn = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            raise OperatorError(f"database unreachable ({exc.__class__.__name__})") from exc
        try:
            await migrate(conn, plan(app.migrations))
        finally:
            await conn.close()
        yield dsn, server


@contextlib.asynccontextmanager
async def running_stack(settings: Settings, *, speech: bool = True, sip: bool = True,
                        spool: Path | None = None) -> AsyncIterator[Stack]:
    """``spool``: a command's own spool folder; None: ``<data_dir>/spool``, which only one
    process may own (``serve``: a second on the same data folder is refused)."""
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, at start
    kek = kek_for(settings)  # keys.kek_env, keys.kek_file: as every command reads it
    app = load_application(settings)
    async with contextlib.AsyncExitStack() as held:
        if spool is None:
            held.enter_context(own_data_folder(data_dir))
        yield await held.enter_async_context(
            _stack(settings, data_dir, kek, app, spool or data_dir / "spool", speech=speech,
                   sip=sip))


@contextlib.asynccontextmanager
async def _stack(settings: Settings, data_dir: Path, kek: KeyEncryptionKey, app: Application,
                 spool: Path, *, speech: bool, sip: bool) -> AsyncIterator[Stack]:
    async with _database(settings, data_dir, app) as (dsn, server):
        records = await Records.open(dsn, kek, spool,
                                     min_size=settings.database.pool_min,
                                     max_size=settings.database.pool_max,
                                     anchor=Anchor.from_settings(settings),
                                     checkpoint_interval=settings.keys.checkpoint_interval_s,
                                     kek_source=lambda: kek_for(settings, create=False),
                                     watch_keys=True)
        await records.drain_spool()
        async with contextlib.AsyncExitStack() as exits:
            exits.push_async_callback(records.close)
            await app.start(settings, records, speech=speech)
            exits.push_async_callback(app.stop)
            stir = await build_stir(settings)
            if stir is not None:
                exits.push_async_callback(stir.close)
            gateway = Gateway(settings, handler=app.handler, audit=records.audit,
                              stir=stir.context if stir else None, cdr=records.record_cdr)
            if sip:
                await gateway.start()
                exits.push_async_callback(gateway.close)
            links = TrunkLinks(settings.trunks, gateway.trunks.pool, clock=time.monotonic)
            if sip:
                links.start(gateway.endpoint)
            feeds = Feeds.build(settings, records, app)  # HL7/CSV/FHIR in, outcomes out
            gateway.handler = feeds.wrap(app.handler, app.appointments)
            dialer = DialerService.build(settings, records, gateway, app.appointments)
            database = Liveness("database", max_failures=2, stale_after=60.0)
            certificates = CertificateWatch(served_certificates(settings))
            disk = DiskWatch(data_dir)
            health = build_health(settings, records, gateway, dialer=dialer, app=app,
                                  links=links, database=database, certificates=certificates,
                                  disk=disk)
            feeds.register_health(health)  # the FHIR poll, when polling
            await records.audit("system", "service.start", ("service", "carrier"),
                                "carrier serve", {"sip": sip, "speech": speech})
            stack = Stack(settings, records, gateway, app, dsn, health, dialer, links, database,
                          feeds=feeds, certificates=certificates, disk=disk,
                          reviver=Reviver(server, records))
            exits.callback(metrics.attach(lambda: levels(stack)))
            yield stack


async def probe_trunk(gateway: Gateway, name: str) -> bool:
    trunk = gateway.settings.trunk(name)
    try:
        status = await gateway.endpoint.options(trunk_uri(trunk), timeout=5.0)
    except TimeoutError:
        return False
    return status is not None and 200 <= status < 300


async def _options(gateway: Gateway, uri: str) -> int | None:
    try:
        return await gateway.endpoint.options(uri, timeout=5.0)
    except TimeoutError:
        return None


async def _ping_database(stack: Stack, stop: asyncio.Event, every: float = 10.0) -> None:
    """``SELECT 1`` through the records pool every ``every`` s: the ``database`` check.
    A failed ping with the embedded server gone starts it again
    (:mod:`carrier.records.revive`), and the next ping follows at once."""
    live, reviver = stack.database, stack.reviver
    while not stop.is_set():
        try:
            async with asyncio.timeout(stack.settings.database.command_timeout_s):
                await stack.records.pool.fetchval("SELECT 1")
            live.success()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError,
                asyncpg.InternalClientError) as exc:
            live.failure(exc)
            if reviver is not None and await reviver.after_failure():
                continue
        else:
            if reviver is not None:
                await reviver.after_success()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every):
                await stop.wait()


async def run_services(stack: Stack, stop: asyncio.Event, *, dialer: bool = True,
                       dialer_stop: asyncio.Event | None = None) -> None:
    """Console port (/health, /metrics), trunk prober and keepalives, the database ping
    and (when enabled) the dialer loop, until ``stop`` (the dialer until ``dialer_stop``)."""
    settings = stack.settings
    gateway = stack.gateway
    console = ConsoleContext(settings, health=stack.health, records=stack.records,
                             live=GatewayLiveCalls(gateway),
                             campaigns=OutreachStore(stack.records.pool),
                             appointments=stack.application.appointments,
                             application=stack.application, trunk_links=stack.links)
    async with (serve_console(console, settings.console.bind_host, settings.console.port,
                              tls=console_tls_files(settings),
                              trusted_proxies=settings.console.trusted_proxies) as port,
                serve_webchat_for(settings, stack.application,
                                  lambda: gateway.handler or stack.application.handler,
                                  audit=stack.records.audit) as web_port,
                asyncio.TaskGroup() as tasks):
        stack.console_port, stack.webchat_port = port, web_port
        log.info("console listening", extra={"host": settings.console.bind_host, "port": port})
        tasks.create_task(gateway.trunks.probe_loop(lambda n: probe_trunk(gateway, n), stop))
        tasks.create_task(stack.links.keepalive_loop(lambda u: _options(gateway, u), stop))
        tasks.create_task(_ping_database(stack, stop))
        tasks.create_task(retention_loop(stack.records, settings, stop,
                                         text_tables=app_tables(stack.application),
                                         evidence_tables=app_evidence(stack.application),
                                         slot_tables=app_slots(stack.application)))
        if dialer and settings.dialer.enabled:
            tasks.create_task(stack.dialer.run(dialer_stop or stop))
        if stack.feeds is not None:
            tasks.create_task(stack.feeds.run(stop))
        if settings.sms.enabled:
            tasks.create_task(run_sms(settings, stack.records, stack.application, stop,
                                      stack.dialer.runner.texts,
                                      endpoint=stack.gateway.endpoint))
        await stop.wait()


async def drain(stack: Stack, dialer_stop: asyncio.Event) -> None:
    """Stop taking calls (503 + Retry-After), stop dialling (nothing more is sent, the
    calls still ringing are CANCELled), let live calls end within ``sip.drain_timeout_s``,
    then hang up those left (cause ``shutdown``), so the dialer's pass records them and
    ends instead of holding the stop until each call's own end."""
    sip = stack.settings.sip
    stack.gateway.endpoint.draining = sip.drain_retry_after_s
    metrics.DRAINING.set(1)
    dialer_stop.set()
    stack.gateway.stopping.set()
    log.info("draining", extra={"live_calls": _live(stack), "limit_s": sip.drain_timeout_s})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + sip.drain_timeout_s
    while _live(stack) and loop.time() < deadline:  # noqa: ASYNC110
        # Polled: calls end on their own tasks, which the gateway does not signal.
        await asyncio.sleep(min(0.1, max(0.0, deadline - loop.time())))
    log.info("drained", extra={"live_calls_left": _live(stack)})
    await stack.gateway.end_calls("shutdown")


def _live(stack: Stack) -> int:
    return max(stack.gateway.stats.active, stack.gateway.endpoint.handling)


async def reload(stack: Stack) -> bool:
    """SIGHUP: read the settings again and hand them to the application (workflows,
    clinic, routes); calls already up keep what they started with. A bad file is
    refused (logged) and the running settings stay."""
    try:
        fresh = load_settings(stack.settings.config_dir)
        await stack.application.reload(fresh)
    except (ConfigError, OSError, ValueError) as exc:
        log.error("reload refused: %s", exc)  # noqa: TRY400 - the reason, not a traceback
        return False
    handler = stack.application.handler
    stack.gateway.handler = (stack.feeds.wrap(handler, stack.application.appointments)
                             if stack.feeds else handler)  # new calls only
    log.info("reloaded", extra={"config_dir": fresh.config_dir})
    return True


async def serve(settings: Settings, *, demo_call: bool, run_for: float | None) -> int:
    stop, dialer_stop, hup = asyncio.Event(), asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    logs.guard_loop(loop)
    signals = StopSignals(stop)  # SIGINT: drain, exit 130; SIGTERM: drain, exit 0
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGHUP, hup.set)
    async with running_stack(settings) as stack:
        sip = settings.sip
        print(f"carrier: serving SIP on {sip.bind_host} udp/{stack.gateway.endpoint.port('UDP')}"
              f" tcp/{stack.gateway.endpoint.port('TCP')}; database "
              f"{'embedded' if not settings.database.url else 'external'}", flush=True)
        if demo_call:
            # The demo call goes first, so the dialer's own reminders do not ring the
            # demo patient's phone at the same moment.
            demo = load_object(settings.agent.demo_call, "agent.demo_call")
            code = int(await demo(stack))
            if run_for is None:
                return code
        services_stop = asyncio.Event()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(run_services(stack, services_stop, dialer_stop=dialer_stop))
            reloader = tasks.create_task(_reload_on(hup, stack))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=run_for)
            reloader.cancel()
            await drain(stack, dialer_stop)
            services_stop.set()
    return signals.exit_code


async def _reload_on(hup: asyncio.Event, stack: Stack) -> None:
    """Reload on each SIGHUP until cancelled."""
    while True:
        await hup.wait()
        hup.clear()
        await reload(stack)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("serve", help="run the gateway, voice agent and dialer")
    parser.add_argument("--demo-call", action="store_true",
                        help="place a demo reminder call to a scripted patient and print it")
    parser.add_argument("--for", dest="run_for", type=seconds, default=None,
                        help="stop after this many seconds (default: until interrupted)")
    parser.set_defaults(func=run_serve)
    health = sub.add_parser("health", help="the running stack's health: SIP OPTIONS and every "
                            "component (database, writers, dialer, speech, trunks)")
    health.add_argument("--timeout", type=seconds, default=3.0,
                        help="seconds to wait for each answer (default: %(default)s)")
    health.add_argument("--json", action="store_true", help="print the report as JSON")
    health.set_defaults(func=lambda args: run_health(_settings(args), args))


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(Path(args.config_dir) if args.config_dir else default_config_dir())


def run_serve(args: argparse.Namespace) -> int:
    # Everything `carrier config check` calls an error stops serve before it opens a port or
    # starts the database (a route to a workflow that does not exist, an unset trunk
    # password, a certificate file that is missing or is a key), one line each.
    report = check_config(Path(args.config_dir) if args.config_dir else default_config_dir())
    for finding in report.errors:
        print(f"carrier serve: {finding}", file=sys.stderr)
    if report.errors or report.settings is None:
        return ConfigError.exit_code
    settings = report.settings
    logs.setup(settings.logging.format, settings.logging.level,
               application=settings.agent.application)
    return asyncio.run(serve(settings, demo_call=args.demo_call, run_for=args.run_for))
