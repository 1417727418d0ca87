"""Campaigns: progress of each, refusals by compliance rule, pause and resume."""

from __future__ import annotations

from typing import Annotated, Any

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
    return page(request, "campaigns.html", op, title="Campaigns", campaigns=rows,
                message=request.query_params.get("done"))


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
    return RedirectResponse(f"{PATH}?done={verb}d+{campaign}", status_code=303)
