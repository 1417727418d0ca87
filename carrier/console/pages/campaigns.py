"""Campaigns: progress of each, refusals by compliance rule, pause and resume."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from carrier.console.pages.common import console, guard, page
from carrier.console.problems import Problem
from carrier.console.roles import Operator

router = APIRouter(include_in_schema=False)
PATH = "/campaigns"


def _store(request: Request) -> Any:
    store = console(request).campaigns
    if store is None:
        raise Problem(503, "this console runs without the dialer's campaign store")
    return store


@router.get(PATH)
async def campaigns_page(request: Request, op: Annotated[Operator, Depends(guard(PATH))]
                         ) -> Response:
    ctx = console(request)
    rows = await _store(request).status(ctx.now())
    done, which = request.query_params.get("done"), request.query_params.get("campaign")
    # the notice names a campaign on this page and a verb of ours: never text from the URL
    known = done in ("paused", "resumed") and any(r.campaign == which for r in rows)
    return page(request, "campaigns.html", op, title="Campaigns", campaigns=rows,
                message=f"Campaign {which} {done}." if known else None)


@router.post(PATH + "/{campaign}/{verb}")
async def pause_resume(request: Request, campaign: str, verb: str,
                       op: Annotated[Operator, Depends(guard(PATH))]) -> Response:
    if verb not in ("pause", "resume"):
        raise Problem(404, "campaigns can be paused or resumed")
    ok = await _store(request).set_paused(campaign, verb == "pause")
    await console(request).audit(op.actor, f"campaign.{verb}", ("campaign", campaign),
                                 "operator", {"ok": ok})
    if not ok:
        raise Problem(404, "no such campaign")
    where = urlencode({"done": f"{verb}d", "campaign": campaign})
    return RedirectResponse(f"{PATH}?{where}", status_code=303)
