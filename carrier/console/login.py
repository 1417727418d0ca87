"""The sign-in and sign-out forms (``/login``, ``/logout``) and their JSON twin for
scripts (``POST``/``DELETE /api/v1/session``)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from carrier.console.auth import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    Refusal,
    RefusalReason,
    check_csrf,
    client_address,
    cookie_args,
    current_session,
    login,
)
from carrier.console.problems import PROBLEM_SCHEMA, Problem
from carrier.console.templating import render

router = APIRouter()
api_router = APIRouter(tags=["session"])


def _status(refusal: Refusal) -> int:
    """401, or 429 for an address over its failed sign-ins (it may try again later)."""
    return 429 if refusal.reason is RefusalReason.ADDRESS else 401


def _safe_next(path: str | None) -> str:
    """Only a local path (never ``//host`` or a URL): no open redirect."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def _form(request: Request, next_path: str, *, status_code: int = 200,
          error: str | None = None, notice: str | None = None) -> Response:
    """The sign-in form with its double-submit token (the cookie's, or a new one)."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    request.cookies[LOGIN_CSRF_COOKIE] = token  # so the form rendered now carries it
    response = render(request, "login.html", status_code=status_code,
                      next_path=_safe_next(next_path), error=error, notice=notice)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600,
                        **cookie_args(request.app.state.console, request))
    return response


async def _replace_session(request: Request) -> None:
    """A new sign-in in this browser ends the session its cookie held (another operator's,
    on a shared desk), rather than leaving it open until its idle logoff."""
    old = current_session(request)
    if old is not None:
        ctx = request.app.state.console
        ctx.sessions.close(old.token)
        await ctx.audit(old.operator.actor, "console.logout", ("operator", old.operator.id),
                        "replaced by a new sign-in", {})


@router.get("/login", include_in_schema=False)
async def login_form(request: Request, next: str = "/") -> Response:
    notice = "You were signed out." if request.query_params.get("bye") else None
    return _form(request, next, notice=notice)


@router.post("/login", include_in_schema=False)
async def login_submit(request: Request, name: Annotated[str, Form()],
                       password: Annotated[str, Form()], totp: Annotated[str, Form()] = "",
                       next: Annotated[str, Form()] = "/") -> Response:
    try:
        await check_csrf(request)
    except Problem:  # the form outlived its token (an hour), or came from elsewhere
        return _form(request, next, status_code=403,
                     error="This sign-in form had expired. Please sign in again.")
    ctx = request.app.state.console
    got = await login(ctx, name, password, totp, address=client_address(request),
                      replacing=request.cookies.get(COOKIE))
    if isinstance(got, Refusal):
        return render(request, "login.html", status_code=_status(got),
                      next_path=_safe_next(next), error=got.message, notice=None)
    await _replace_session(request)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(COOKIE, got.token, **cookie_args(ctx, request))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    """Sign out, with or without the form's token: a Sign out pressed on a page from before
    the operator signed in again must still end the session (refusing it left the session
    open with the operator believing it closed). The cookie is SameSite=Strict, so another
    site cannot send this; and ending a session changes no record."""
    ctx = request.app.state.console
    session = current_session(request)
    if session is not None:
        ctx.sessions.close(session.token)
        await ctx.audit(session.operator.actor, "console.logout",
                        ("operator", session.operator.id), "sign-out", {})
    response = RedirectResponse("/login?bye=1", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


class Credentials(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    totp: str = Field(default="", max_length=6)


class SessionInfo(BaseModel):
    operator: str
    role: str
    csrf_token: str


@api_router.post("/session", response_model=SessionInfo,
                 responses={401: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA})
async def open_session(request: Request, body: Credentials) -> JSONResponse:
    """Sign in (password and TOTP); the session is the ``carrier_session`` cookie, and
    every state-changing request sends ``csrf_token`` back in ``X-CSRF-Token``."""
    ctx = request.app.state.console
    got = await login(ctx, body.name, body.password, body.totp,
                      address=client_address(request), replacing=request.cookies.get(COOKIE))
    if isinstance(got, Refusal):
        raise Problem(_status(got), got.message, title="Sign-in refused")
    await _replace_session(request)
    info = SessionInfo(operator=got.operator.name, role=got.operator.role.value,
                       csrf_token=got.csrf)
    response = JSONResponse(info.model_dump())
    response.set_cookie(COOKIE, got.token, **cookie_args(ctx, request))
    return response


@api_router.get("/session", response_model=SessionInfo, responses={401: PROBLEM_SCHEMA})
async def show_session(request: Request) -> SessionInfo:
    """Who is signed in (and the CSRF token to send back)."""
    session = current_session(request)
    if session is None:
        raise Problem(401, "sign in at /login first")
    return SessionInfo(operator=session.operator.name, role=session.operator.role.value,
                       csrf_token=session.csrf)


@api_router.delete("/session", status_code=204, responses={401: PROBLEM_SCHEMA,
                                                          403: PROBLEM_SCHEMA})
async def close_session(request: Request) -> Response:
    """Sign out."""
    session = current_session(request)
    if session is None:
        raise Problem(401, "sign in at /login first")
    await check_csrf(request)
    ctx = request.app.state.console
    ctx.sessions.close(session.token)
    await ctx.audit(session.operator.actor, "console.logout",
                    ("operator", session.operator.id), "sign-out", {})
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response
