"""``build_app(ctx) -> FastAPI``: the console's ASGI application.

Routes: ``/api/v1/...`` (the JSON API; its OpenAPI description at ``/api/openapi.json``),
``/login`` and ``/logout`` (forms), ``/health`` (200 with the health report as JSON when
every component is healthy, 503 naming the failed ones: ``carrier health`` reads it) and
``/metrics`` (Prometheus exposition of :mod:`carrier.metrics`), both unauthenticated as
before; ``/static`` (assets kept in the package) and the HTML pages of
``carrier.console.pages`` when that module is present.

:class:`ConsoleContext` is everything the routes read and act through: the settings, the
records facade, the live-call registry, the campaign store, the health registry, the
operator accounts and the session table. Parts a process does not have are None, and
routes that need them answer 503.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import importlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carrier import metrics
from carrier.console import api, login, page_errors, problems
from carrier.console.auth import AddressFailures, LoginRedirect, PageForbidden
from carrier.console.live import LiveCalls
from carrier.console.lookups import LookupBudget
from carrier.console.problems import Problem
from carrier.console.sessions import Sessions
from carrier.health import Health, render
from carrier.plugin import AppointmentSource
from carrier.settings import Settings

STATIC = Path(__file__).parent / "static"
PAGES_MODULE = "carrier.console.pages"
MAX_BODY = 1024 * 1024
"""Every request body is refused (413) beyond this, from its length or as it streams in,
before it is held: forms and API bodies are small. The upload routes (schedule CSV, audit
bundles, the national DNC file) declare their own larger ``max_body_size``."""


class Campaigns(Protocol):
    """The dialer's campaign store (``carrier.dialer.store.OutreachStore``)."""

    async def status(self, now: dt.datetime) -> Sequence[Any]: ...

    async def set_paused(self, campaign: str, paused: bool) -> bool: ...


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class ConsoleContext:
    settings: Settings
    health: Health = field(default_factory=Health)
    records: Any | None = None
    """``carrier.records.store.Records``: patients, consent, DNC, audit, calls."""
    live: LiveCalls | None = None
    campaigns: Campaigns | None = None
    appointments: AppointmentSource | None = None
    """The hosted application's appointments (``Application.appointments``)."""
    application: Any | None = None
    """The hosted ``carrier.plugin.Application`` (pages: its schedule feed for the CSV
    import, when it takes one)."""
    trunk_links: Any | None = None
    """``carrier.trunk_links.TrunkLinks``: registration and keepalive state (trunks page)."""
    operators: Any | None = None
    """``carrier.records.operators.Operators`` (defaults to one over ``records.pool``)."""
    sessions: Sessions = field(init=False)
    sign_in_failures: AddressFailures = field(init=False)
    lookups: LookupBudget = field(init=False)
    now: Callable[[], dt.datetime] = utc_now
    """Wall clock (UTC): sessions, lockouts, audit times. Tests move it by hand."""

    def __post_init__(self) -> None:
        self.sessions = Sessions(self.settings.console.idle_timeout_s,
                                 self.settings.console.max_sessions_per_operator)
        self.sign_in_failures = AddressFailures()
        self.lookups = LookupBudget(self.settings.console.phi_lookups_per_hour,
                                    None if self.records is None else self.records.pool)
        if self.operators is None and self.records is not None:
            from carrier.records.operators import Operators  # noqa: PLC0415

            self.operators = Operators(self.records.pool, self.records.keys)

    def need_records(self) -> Any:
        if self.records is None:
            raise Problem(503, "this console runs without the records database")
        return self.records

    def operator_store(self) -> Any:
        if self.operators is None:
            raise Problem(503, "this console runs without operator accounts")
        return self.operators

    async def audit(self, actor: str, action: str, target: tuple[str, object], reason: str,
                    details: Mapping[str, Any]) -> None:
        """An audit entry (who, what, why) when there are records to write it to. Not for a
        HEAD: its answer carries no data, so nothing was viewed or exported."""
        if self.records is not None and not answering_head():
            await self.records.audit(actor, action, target, reason, dict(details))


def security_headers(tls: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy",
         b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
         b"script-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    ]
    if tls:
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    return headers


class SecurityHeaders:
    """Headers on every response: no framing, no sniffing, a strict CSP (assets come from
    this origin only), HSTS when the console speaks TLS, and ``no-store`` on the API."""

    def __init__(self, app: ASGIApp, *, tls: bool) -> None:
        self.app = app
        self.common = security_headers(tls)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = not scope["path"].startswith("/static/")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += self.common
                if no_store:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)


_HEAD: contextvars.ContextVar[bool] = contextvars.ContextVar("console_head", default=False)


def answering_head() -> bool:
    """True while a ``HEAD`` request is answered (by its ``GET`` route): no data goes out."""
    return _HEAD.get()


class HeadAsGet:
    """``HEAD`` answered as ``GET`` is, wherever ``GET`` is (RFC 9110 9.3.2: a server
    supports HEAD on every GET resource; FastAPI's routes name GET only, so HEAD was a 405
    to monitors and link checkers). The routes see a copy of the scope saying GET; the
    server, holding the original, sends the headers without the body. No data goes out, so
    while a HEAD is answered (:func:`answering_head`) nothing is audited as viewed or
    exported and no lookup budget is spent; ``Content-Length`` is left out (RFC 9110 9.3.2
    allows it), so the size of an export or a search's rows does not go out either."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [(k, v) for k, v in message.get("headers", [])
                                      if k.lower() != b"content-length"]
            await send(message)

        token = _HEAD.set(True)
        try:
            await self.app({**scope, "method": "GET"}, receive, sending)
        finally:
            _HEAD.reset(token)


def build_app(ctx: ConsoleContext) -> FastAPI:
    app = FastAPI(title="Carrier console API", version="1",
                  description="Operator API of the carrier stack. Sign in with "
                  "POST /api/v1/session; send the csrf_token back in X-CSRF-Token on "
                  "every state-changing request. Errors are RFC 9457 problem details.",
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None,
                  max_body_size=MAX_BODY)
    app.state.console = ctx
    problems.install(app)
    page_errors.install(app)  # a page's errors as a page
    app.add_exception_handler(Exception, _server_error)  # outside SecurityHeaders
    app.add_exception_handler(LoginRedirect, _to_login)
    app.add_exception_handler(PageForbidden, _forbidden_page)
    app.include_router(login.router)
    app.include_router(login.api_router, prefix="/api/v1")
    app.include_router(api.router, prefix="/api/v1")
    _probes(app, ctx)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if importlib.util.find_spec(PAGES_MODULE) is not None:
        app.include_router(importlib.import_module(PAGES_MODULE).router)
    else:
        @app.get("/", include_in_schema=False)
        async def home() -> Response:
            return RedirectResponse("/login", status_code=303)
    app.add_middleware(SecurityHeaders, tls=ctx.settings.console.tls)
    app.add_middleware(HeadAsGet)
    return app


def _probes(app: FastAPI, ctx: ConsoleContext) -> None:
    @app.get("/health", include_in_schema=False)
    async def health() -> Response:
        status, body = render(ctx.health.report())
        return Response(body, status_code=status, media_type="application/json")

    @app.get("/metrics", include_in_schema=False)
    async def metrics_() -> Response:
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


SERVER_ERROR_PAGE = (b"<!doctype html><html lang=en><title>Server error</title><h1>Server"
                     b" error</h1><p>The console could not finish this request. Nothing"
                     b" was shown; it may or may not have been done: check before repeating"
                     b" it.</p><p><a href=\"/\">Back to the console</a></p></html>")


async def _server_error(request: Request, exc: Exception) -> Response:
    """A fault no route caught, answered by Starlette's outermost middleware (outside
    :class:`SecurityHeaders`): the answer carries the security headers itself and says
    nothing of the fault (the server logs it)."""
    headers = {k.decode(): v.decode() for k, v in security_headers(
        request.app.state.console.settings.console.tls)} | {"cache-control": "no-store"}
    if not page_errors.is_page(request):
        return problems.problem_response(500, "the console could not finish this request",
                                         title="Server error", instance=request.url.path,
                                         headers=headers)
    return Response(SERVER_ERROR_PAGE, status_code=500, media_type="text/html",
                    headers=headers)


async def _to_login(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRedirect)
    return RedirectResponse(exc.location, status_code=303)


async def _forbidden_page(request: Request, exc: Exception) -> Response:
    from carrier.console.templating import render as render_page  # noqa: PLC0415

    assert isinstance(exc, PageForbidden)
    return render_page(request, "forbidden.html", status_code=403, operator=exc.operator,
                       stale_form=exc.stale_form, back=exc.back)
