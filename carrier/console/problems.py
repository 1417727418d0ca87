"""RFC 9457 problem details for every API error (``application/problem+json``).

Raise :class:`Problem` anywhere in a route or dependency; the handlers installed by
:func:`install` render it, and render FastAPI's own errors (404, 405, validation 422) the
same way. Details never carry PHI: they name fields and rules, not values.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

MEDIA_TYPE = "application/problem+json"
TITLES = {400: "Bad request", 401: "Not signed in", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 413: "Payload too large",
          415: "Unsupported media type", 422: "Unprocessable content",
          429: "Too many requests", 503: "Service unavailable"}


class Problem(Exception):
    def __init__(self, status: int, detail: str = "", *, kind: str | None = None,
                 title: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind or f"about:blank#{status}"
        self.title = title or TITLES.get(status, "Error")
        self.extra = extra


def problem_response(status: int, detail: str = "", *, title: str | None = None,
                     kind: str | None = None, instance: str | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": kind or "about:blank", "title": title or TITLES.get(
        status, "Error"), "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


PROBLEM_SCHEMA = {
    "description": "RFC 9457 problem details",
    "content": {MEDIA_TYPE: {"schema": {"type": "object", "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer"}, "detail": {"type": "string"},
        "instance": {"type": "string"}}, "required": ["title", "status"]}}},
}
"""For ``responses=`` in route declarations (what the spec says errors look like)."""


def install(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        headers = {"WWW-Authenticate": 'Cookie realm="carrier"'} if exc.status == 401 else None
        return problem_response(exc.status, exc.detail, title=exc.title,
                                kind=None if exc.kind.startswith("about:") else exc.kind,
                                instance=request.url.path, headers=headers, **exc.extra)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else ""
        return problem_response(exc.status_code, detail, instance=request.url.path,
                                headers=dict(exc.headers or {}) or None)

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
                  for e in exc.errors()]  # locations and rules, never the values sent
        return problem_response(422, "the request does not match the API description",
                                instance=request.url.path, errors=errors)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid)
