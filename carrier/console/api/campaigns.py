"""Campaigns (role ``scheduler``): progress (as ``carrier campaign status``), refusals by
gate rule, pause and start (resume). A paused campaign's outreach is not leased."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel

from carrier.console.api.common import ERRORS, NOT_FOUND, context
from carrier.console.auth import Operator, Role, require
from carrier.console.problems import Problem

router = APIRouter(tags=["campaigns"])
Scheduler = Annotated[Operator, Depends(require(Role.SCHEDULER))]
CampaignId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class CampaignOut(BaseModel):
    campaign: str
    paused: bool
    total: int
    due: int
    scheduled: int
    leased: int
    dialled: int
    answered: int
    confirmed: int
    cancelled: int
    expired: int
    done: int
    refused: dict[str, int]


def _store(request: Request):  # type: ignore[no-untyped-def]
    store = context(request).campaigns
    if store is None:
        raise Problem(503, "no dialer in this console")
    return store


@router.get("/campaigns", response_model=list[CampaignOut], responses=ERRORS)
async def campaign_status(request: Request, op: Scheduler) -> list[CampaignOut]:
    """Every campaign's progress and its refusals by gate rule."""
    rows = await _store(request).status(context(request).now())
    return [CampaignOut(campaign=s.campaign, paused=getattr(s, "paused", False), total=s.total,
                        due=s.due, scheduled=s.scheduled, leased=s.leased, dialled=s.dialled,
                        answered=s.answered, confirmed=s.confirmed, cancelled=s.cancelled,
                        expired=s.expired, done=s.done, refused=dict(s.refused))
            for s in rows]


async def _set(request: Request, campaign: str, op: Operator, paused: bool) -> CampaignOut:
    if not await _store(request).set_paused(campaign, paused):
        raise Problem(404, "no such campaign")
    action = "campaign.pause" if paused else "campaign.start"
    await context(request).audit(op.actor, action, ("campaign", campaign), "console", {})
    for row in await campaign_status(request, op):
        if row.campaign == campaign:
            return row
    raise Problem(404, "no such campaign")


@router.post("/campaigns/{campaign}/pause", response_model=CampaignOut, responses=NOT_FOUND)
async def pause_campaign(request: Request, campaign: CampaignId, op: Scheduler) -> CampaignOut:
    """Stop leasing this campaign's outreach (calls up now finish)."""
    return await _set(request, campaign, op, paused=True)


@router.post("/campaigns/{campaign}/start", response_model=CampaignOut, responses=NOT_FOUND)
async def start_campaign(request: Request, campaign: CampaignId, op: Scheduler) -> CampaignOut:
    """Resume a paused campaign: its due outreach is dialled on the next pass."""
    return await _set(request, campaign, op, paused=False)
