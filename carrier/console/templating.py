"""Jinja2 templates of the console (``carrier/console/templates``), shared by the sign-in
forms and the pages: :func:`render` adds the operator, the CSRF token and the nav."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from carrier.console.auth import csrf_token, current_session

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


def render(request: Request, name: str, status_code: int = 200, **context: Any
           ) -> HTMLResponse:
    session = current_session(request)
    context.setdefault("operator", session.operator if session else None)
    context.setdefault("csrf_token", csrf_token(request))
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)
