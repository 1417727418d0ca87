"""The console's HTTP(S) server: uvicorn inside the caller's event loop.

:func:`serve_console` binds ``host:port`` (0: any free port), yields the bound port and
runs ``uvicorn.Server.serve()`` in a TaskGroup around the block; leaving the block shuts
it down (connections closed, in-flight requests given ``SHUTDOWN_GRACE_S``). uvicorn's own signal
capture is off (``carrier serve`` owns SIGTERM/SIGINT/SIGHUP), as are its access log (paths
may carry numbers) and lifespan. A connection must complete each request head within
``HEAD_TIMEOUT_S`` (:class:`_HeadDeadline`): slow clients cannot hold connections open.

TLS (``console.tls``): ``console.cert_file``/``key_file`` when set; otherwise, on a
loopback address, a self-signed certificate made at first start in
``<data_dir>/console/tls/`` (:func:`console_tls_files`); on any other address without a
certificate the start is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Generator, Sequence
from pathlib import Path

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from carrier.console.app import ConsoleContext, build_app
from carrier.errors import ConfigError
from carrier.health import Health
from carrier.settings import ConsoleSettings, Settings
from carrier.tls_files import _make_self_signed, _usable

SHUTDOWN_GRACE_S = 2.0
HEAD_TIMEOUT_S = 20.0
"""From a connection's opening (or its previous answer) to the end of its next request's
head: past it the server closes the connection. A client sending its head a byte at a
time, or not at all (slowloris), held a connection for ever (uvicorn arms no timer before
a first answer, and any byte cancels its keep-alive one); enough of them exhausted the
process's file descriptors."""
BODY_GRACE_S = 20.0
BODY_MIN_RATE = 1000
"""A request's body must arrive within ``BODY_GRACE_S`` plus one second per
``BODY_MIN_RATE`` bytes received (a 64 MiB upload: 67 s more), unless the server itself
stopped reading: a body trickled, or promised and never sent, held its connection and the
request's task for ever (slow POST)."""
CERT_NAME = "console-self-signed.pem"
KEY_NAME = "console-self-signed.key"


def console_tls_files(settings: Settings, *, now: dt.datetime | None = None
                      ) -> tuple[Path, Path] | None:
    """(certificate, key) for the console, or None when ``console.tls`` is off."""
    console = settings.console
    if not console.tls:
        return None
    where = str(Path(settings.config_dir) / "carrier.yaml")
    if console.cert_file and console.key_file:
        cert = settings.path(console.cert_file, "")
        key = settings.path(console.key_file, "")
        for name, path in (("console.cert_file", cert), ("console.key_file", key)):
            if not path.is_file():
                raise ConfigError(where, name, f"file {path} not found")
        return cert, key
    host = "127.0.0.1" if console.bind_host in ("", "localhost") else console.bind_host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(where, "console.cert_file", "HTTPS on a non-loopback bind_host needs"
                          " console.cert_file and console.key_file (or console.tls: false"
                          " behind a TLS proxy)")
    folder = settings.path(None, "console/tls")
    cert, key = folder / CERT_NAME, folder / KEY_NAME
    when = now or dt.datetime.now(dt.UTC)
    if not _usable(cert, key, host, when):
        _make_self_signed(folder, cert, key, host, when)
    return cert, key


def client_context(settings: Settings) -> ssl.SSLContext | None:
    """An SSL context trusting the console's certificate (``carrier health``, tests), or
    None when the console speaks plain HTTP. Makes nothing: a certificate not there yet
    means no console has started with these settings, and the probe then fails."""
    console = settings.console
    if not console.tls:
        return None
    cert = (settings.path(console.cert_file, "") if console.cert_file
            else settings.path(None, f"console/tls/{CERT_NAME}"))
    context = ssl.create_default_context(cafile=str(cert) if cert.is_file() else None)
    context.check_hostname = False  # the loopback certificate names an IP address only
    return context


class _HeadDeadline(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline on each request head (HEAD_TIMEOUT_S,
    read when armed): only a complete head (h11 leaving IDLE for the client) disarms it,
    bytes alone do not; then one on its body (BODY_GRACE_S, BODY_MIN_RATE)."""

    _deadline: asyncio.TimerHandle | None = None
    _body_from = 0.0
    _body_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def data_received(self, data: bytes) -> None:
        waiting_head = self.conn.their_state is h11.IDLE
        if not waiting_head:
            self._body_bytes += len(data)
        super().data_received(data)
        if waiting_head and self.conn.their_state is h11.SEND_BODY:
            self._body_from, self._body_bytes = self.loop.time(), 0
            self._disarm()
            self._deadline = self.loop.call_later(BODY_GRACE_S, self._body_too_slow)
        elif waiting_head and self.conn.their_state is not h11.IDLE:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm()  # waiting for the next head on a kept connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(HEAD_TIMEOUT_S, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _body_too_slow(self) -> None:
        self._deadline = None
        if self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return
        if self.flow.read_paused:  # the server stopped reading: that second is not theirs
            self._body_from += 1.0
            self._deadline = self.loop.call_later(1.0, self._body_too_slow)
            return
        due = self._body_from + BODY_GRACE_S + self._body_bytes / BODY_MIN_RATE
        if self.loop.time() < due:
            self._deadline = self.loop.call_later(due - self.loop.time(), self._body_too_slow)
            return
        self.transport.close()

    def _too_slow(self) -> None:
        self._deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the stack's own handlers stay in charge


@contextlib.asynccontextmanager
async def serve_app(app: ASGIApp, host: str, port: int, *,
                    tls: tuple[Path, Path] | None = None,
                    trusted_proxies: Sequence[str] = ()) -> AsyncIterator[int]:
    """``app`` on ``host:port`` while the block runs (yields the bound port). Only from
    ``trusted_proxies`` is ``X-Forwarded-For`` believed (the client address the app sees)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=256)
    sock.setblocking(False)
    config = uvicorn.Config(
        app, http=_HeadDeadline, lifespan="off", access_log=False, log_config=None,
        server_header=False,
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE_S),
        proxy_headers=bool(trusted_proxies), forwarded_allow_ips=list(trusted_proxies),
        ssl_certfile=str(tls[0]) if tls else None, ssl_keyfile=str(tls[1]) if tls else None)
    server = _Server(config)
    bound = sock.getsockname()[1]
    async with asyncio.TaskGroup() as tasks:  # a failing server cancels the block using it
        serving = tasks.create_task(server.serve(sockets=[sock]), name="console-http")
        try:
            while not server.started and not serving.done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # uvicorn signals start-up by this flag only
            if not server.started:
                raise RuntimeError("the console server did not start")
            yield bound
        finally:
            server.should_exit = True


@contextlib.asynccontextmanager
async def serve_console(ctx: ConsoleContext | Health, host: str, port: int, *,
                        tls: tuple[Path, Path] | None = None,
                        trusted_proxies: Sequence[str] = ()) -> AsyncIterator[int]:
    """The console (API, pages, ``/health``, ``/metrics``) on ``host:port`` while the block
    runs; yields the port. A bare :class:`Health` serves the probes only, over HTTP.
    ``trusted_proxies``: ``console.trusted_proxies`` (see ``serve_app``)."""
    if isinstance(ctx, Health):
        ctx = ConsoleContext(Settings(console=ConsoleSettings(tls=False)), health=ctx)
    async with serve_app(build_app(ctx), host, port, tls=tls,
                         trusted_proxies=trusted_proxies) as bound:
        yield bound

