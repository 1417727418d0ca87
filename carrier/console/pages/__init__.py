"""The console's HTML pages (issue 15), server-rendered with one small script.

``router`` (which :func:`carrier.console.app.build_app` includes) holds every page:

* ``/``: the signed-in operator's first page (or ``/login``);
* ``/calls/live`` (supervisor): live calls, refreshing themselves; hang up, transfer;
* ``/calls`` and ``/calls.csv`` (supervisor): call records, filtered; CSV export;
* ``/campaigns`` (scheduler): progress, refusals by rule, pause/resume;
* ``/patients`` (scheduler): lookup, coming appointments, the schedule CSV import;
* ``/tasks`` (scheduler, supervisor, compliance): the staff task queue; a task's details
  with a reason (audited); mark it done;
* ``/consent`` (compliance): consent and DNC by number, grant, revoke, ledger entries;
* ``/audit`` (compliance, auditor): signed export, verification of a bundle;
* ``/trunks`` (admin): registration, keepalive, state, last error;
* ``/figures`` (every role): the clinic's figures as charts.

Roles are declared once in :data:`carrier.console.pages.common.PAGES` and enforced on the
server by each route's guard; forms post with the session's CSRF token. Pages read and act
through the console context (records facade, live-call registry, campaign store, trunk
links, the hosted application's appointment port and staff task desk).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from carrier.console.auth import current_session
from carrier.console.pages import (
    audit,
    calls,
    campaigns,
    consent,
    figures_page,
    patients,
    tasks,
    trunks,
)
from carrier.console.pages.common import nav_for

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    session = current_session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    pages = nav_for(session.operator)
    return RedirectResponse(pages[0].path if pages else "/figures", status_code=303)


for module in (calls, campaigns, patients, tasks, consent, audit, trunks, figures_page):
    router.include_router(module.router)
