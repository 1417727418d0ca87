"""Errors on the console's pages, answered with a page (the API keeps its problem documents).

A page's form or link the server refuses (a field over its limit or missing, a date that is
no date, a page's own :class:`~carrier.console.problems.Problem`, an unknown page) answered
a browser with the API's ``application/problem+json``: a JSON document on a white page.
:func:`install` wraps the handlers :func:`carrier.console.problems.install` put in place:
for a page (any path outside ``/api/``, ``/static/``, ``/health`` and ``/metrics``) the
console renders ``problem.html`` with the same status, what was wrong (fields and rules,
never the values sent: they may be PHI), that nothing was changed, and a link back to the
page the form belongs to. Everything else goes to the JSON handlers as before.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable
from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from carrier.console.problems import TITLES, Problem

NOT_PAGES = ("/api/", "/static/")
PROBES = frozenset({"/health", "/metrics"})
PAGES_MODULE = "carrier.console.pages.common"
Handler = Callable[[Request, Exception], Awaitable[Response]]


def is_page(request: Request) -> bool:
    path = request.url.path
    return not path.startswith(NOT_PAGES) and path not in PROBES


def _field_errors(exc: RequestValidationError) -> str:
    """``phone: String should have at most 32 characters; ...`` (rules, never values)."""
    said = []
    for error in exc.errors():
        where = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        said.append(f"{'.'.join(where) or 'the form'}: {error.get('msg', 'not accepted')}")
    return "; ".join(said)


def _render(request: Request, status: int, detail: str) -> Response:
    from carrier.console.auth import current_session  # noqa: PLC0415 - no import cycle
    from carrier.console.templating import render  # noqa: PLC0415

    common = importlib.import_module(PAGES_MODULE)
    session = current_session(request)
    operator = session.operator if session else None
    path = request.url.path
    back = max((p for p in common.PAGES if path == p or path.startswith(p + "/")
                or path.startswith(p + ".")), key=len, default="/")
    changing = request.method not in ("GET", "HEAD")
    return render(request, "problem.html", status_code=status, operator=operator,
                         nav=common.nav_for(operator), here=path,
                         title=TITLES.get(status, "Error"), detail=detail, back=back,
                         changing=changing)


def install(app: FastAPI) -> None:
    """Page-aware handlers around the JSON ones already installed on ``app``."""
    if importlib.util.find_spec(PAGES_MODULE) is None:
        return  # a console without pages: every answer is the API's
    handlers = app.exception_handlers

    def wrap(kind: type[Exception], detail: Callable[[Exception], tuple[int, str]]) -> None:
        as_json = cast(Handler, handlers[kind])  # the async ones problems.install put

        async def handler(request: Request, exc: Exception) -> Response:
            if not is_page(request):
                return await as_json(request, exc)
            return _render(request, *detail(exc))

        app.add_exception_handler(kind, handler)

    def problem(exc: Exception) -> tuple[int, str]:
        assert isinstance(exc, Problem)
        return exc.status, exc.detail

    def http(exc: Exception) -> tuple[int, str]:
        assert isinstance(exc, StarletteHTTPException)
        words = {404: "There is no such page.", 405: "This page does not take that request."}
        return exc.status_code, words.get(exc.status_code, "")

    def invalid(exc: Exception) -> tuple[int, str]:
        assert isinstance(exc, RequestValidationError)
        return 422, _field_errors(exc)

    wrap(Problem, problem)
    wrap(StarletteHTTPException, http)
    wrap(RequestValidationError, invalid)
