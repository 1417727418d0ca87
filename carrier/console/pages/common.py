"""What every console page shares: the navigation by role, rendering, the context.

Each page declares its roles once (:data:`PAGES`); the navigation shows an operator only
the pages their role may open, and the route's guard
(:func:`carrier.console.auth.page_operator`) refuses the others on the server.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request
from starlette.responses import HTMLResponse

from carrier.console.auth import page_operator
from carrier.console.problems import Problem
from carrier.console.roles import Operator, Role
from carrier.console.templating import render
from carrier.records.crypto import InvalidPhoneNumber, normalize_e164

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from carrier.console.app import ConsoleContext

A, C, SC, SU, AU = Role.ADMIN, Role.COMPLIANCE, Role.SCHEDULER, Role.SUPERVISOR, Role.AUDITOR


@dataclass(frozen=True)
class Page:
    path: str
    title: str
    roles: frozenset[Role]


PAGES: Mapping[str, Page] = {p.path: p for p in (
    Page("/calls/live", "Live calls", frozenset({SU})),
    Page("/calls", "Call records", frozenset({SU})),
    Page("/campaigns", "Campaigns", frozenset({SC})),
    Page("/patients", "Patients", frozenset({SC})),
    Page("/tasks", "Staff tasks", frozenset({SC, SU, C})),
    Page("/consent", "Consent & DNC", frozenset({C})),
    Page("/audit", "Audit", frozenset({C, AU})),
    Page("/trunks", "Trunks", frozenset({A})),
    Page("/figures", "Figures", frozenset({A, C, SC, SU, AU})),
)}


def guard(path: str) -> Callable[[Request], Awaitable[Operator]]:
    """The page dependency for ``path``'s roles."""
    return page_operator(*PAGES[path].roles, page=path)


def nav_for(operator: Operator | None) -> list[Page]:
    if operator is None:
        return []
    return [p for p in PAGES.values() if operator.role in p.roles]


def console(request: Request) -> ConsoleContext:
    return request.app.state.console  # type: ignore[no-any-return]


def records_of(request: Request) -> Any:
    return console(request).need_records()


def page(request: Request, template: str, operator: Operator, *, status_code: int = 200,
         **context: Any) -> HTMLResponse:
    return render(request, template, status_code=status_code, operator=operator,
                  nav=nav_for(operator), here=request.url.path, **context)


FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(9998, 12, 31)
"""The days a date field takes: a range ending a day later, or starting a week earlier,
still fits in ``datetime`` (9999-12-31 plus a day was a 500)."""
DAY_RULE = "dates are YYYY-MM-DD, from 1900 to 9998"


def in_range(day: dt.date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY


def parse_day(text: str | None, default: dt.date) -> dt.date:
    """A ``YYYY-MM-DD`` field (422 problem when it is not one, or out of range)."""
    if not text:
        day = default
    else:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise Problem(422, DAY_RULE) from None
    if not in_range(day):
        raise Problem(422, DAY_RULE)
    return day


def dialable(text: str) -> str | None:
    """A typed phone number in E.164, or None when it is not one (the page says so)."""
    try:
        return normalize_e164(text)
    except InvalidPhoneNumber:
        return None


NOT_A_NUMBER = "Not looked up: that is not a phone number."


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)
