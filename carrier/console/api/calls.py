"""Live calls and call records (role ``supervisor``).

Live calls come from the gateway's registry (numbers masked, no PHI); a supervisor may
hang one up or transfer it. Call records are the call detail records (``call_details``:
one per call however it ended, numbers masked), searched by time, number suffix, outcome,
SIP status, hangup cause and direction, as JSON or CSV (a search by number is audited
with its reason, an export too, and spends one of the operator's lookups by number,
``carrier.console.lookups``); a call's redacted transcript is a PHI view, audited.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from carrier.console.api.common import ERRORS, LOOKUP, NOT_FOUND, PhiFree, Reason, context
from carrier.console.auth import Operator, Role, require
from carrier.console.live import transfer_target
from carrier.console.lookups import spend_lookup
from carrier.console.problems import Problem
from carrier.records.cdr import CAUSES, CallDetail, CdrQuery, cdr_csv

router = APIRouter(tags=["calls"])
Supervisor = Annotated[Operator, Depends(require(Role.SUPERVISOR))]
CallId = Annotated[str, Path(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")]


class LiveCallOut(BaseModel):
    call_id: str
    direction: str
    caller: str
    called: str
    trunk: str | None
    verstat: str
    attestation: str | None
    stir_status: str
    workflow: str | None
    state: str
    duration_s: float


class Transfer(BaseModel):
    target: str = Field(min_length=1, max_length=128, description="a SIP, SIPS or tel URI,"
                        " or a phone number", pattern=r"^[^\x00-\x1f\x7f]+$")


class Done(BaseModel):
    ok: bool


def _live(request: Request):  # type: ignore[no-untyped-def]
    live = context(request).live
    if live is None:
        raise Problem(503, "no gateway in this console")
    return live


@router.get("/live-calls", response_model=list[LiveCallOut], responses=ERRORS)
async def live_calls(request: Request, op: Supervisor) -> list[LiveCallOut]:
    """The calls up now (numbers masked). Pages poll this with ``X-Carrier-Background: 1``,
    which does not count as operator activity for the idle logoff."""
    return [LiveCallOut(**vars(v)) for v in _live(request).snapshot()]


@router.post("/live-calls/{call_id}/hangup", response_model=Done, responses=NOT_FOUND)
async def hang_up(request: Request, call_id: CallId, op: Supervisor) -> Done:
    if not await _live(request).hangup(call_id, "supervisor"):
        raise Problem(404, "no such live call")
    await context(request).audit(op.actor, "call.hangup", ("call", call_id), "supervisor", {})
    return Done(ok=True)


@router.post("/live-calls/{call_id}/transfer", response_model=Done, responses=NOT_FOUND)
async def transfer(request: Request, call_id: CallId, body: Transfer,
                   op: Supervisor) -> Done:
    """Blind-transfer a live call to ``target`` (a SIP URI or a number)."""
    target = transfer_target(body.target)
    if target is None:
        raise Problem(422, "target is not a SIP, SIPS or tel URI, nor a phone number")
    live = _live(request)
    if not any(v.call_id == call_id for v in live.snapshot()):
        raise Problem(404, "no such live call")
    ok = await live.transfer(call_id, target)
    await context(request).audit(op.actor, "call.transfer", ("call", call_id), "supervisor",
                                 {"ok": ok})
    return Done(ok=ok)


class CallRecordOut(BaseModel):
    """One call's CDR (numbers masked to their last four digits, as stored)."""

    call_id: str
    direction: str
    from_number: str
    to_number: str
    trunk: str | None
    started_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime
    duration_s: float
    sip_status: int | None
    hangup_cause: str
    codec: str | None
    packets_lost: int | None
    jitter_ms: float | None
    remote_loss_pct: float | None
    remote_jitter_ms: float | None
    attestation: str | None
    verstat: str | None
    amd: str | None
    workflow: str | None
    outcome: str | None
    transfer_target: str | None
    consent_ref: str | None
    gate_ref: str | None
    attempts: int


def _out(d: CallDetail) -> CallRecordOut:
    return CallRecordOut(**dataclasses.asdict(d), duration_s=round(d.duration_s, 3))


Word = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Cause = Annotated[str | None, Query(pattern="^(" + "|".join(sorted(CAUSES)) + ")$")]


def _utc(when: dt.datetime | None) -> dt.datetime | None:
    return when.replace(tzinfo=dt.UTC) if when is not None and when.tzinfo is None else when


async def _search(request: Request, op: Operator, query: CdrQuery, reason: str
                  ) -> list[CallDetail]:
    if query.number_suffix is not None:  # who called when: a lookup by number
        await spend_lookup(context(request), op.actor)
    rows: list[CallDetail] = await context(request).need_records().search_calls(query)
    # Every search is a view of call records (as the console's list page is); a search by
    # number says so, with its reason.
    target = "number" if query.number_suffix is not None else "search"
    await context(request).audit(op.actor, "calls.search", ("call_records", target),
                                 reason, {"rows": len(rows)})
    return rows


def _params(*, since: dt.datetime | None = None, until: dt.datetime | None = None,
            direction: Annotated[str | None, Query(pattern="^(inbound|outbound)$")] = None,
            outcome: Word = None,
            sip_status: Annotated[int | None, Query(ge=100, le=699)] = None,
            hangup_cause: Cause = None,
            number: Annotated[str | None, Query(
                description="a number, or its last digits (CDRs keep the last four)",
                pattern=r"^\+?[0-9][0-9 ().-]{0,31}$")] = None,
            reason: Annotated[str, Query(min_length=1, max_length=200,
                                         pattern=r"^[^\x00-\x1f\x7f]+$"), PhiFree
                              ] = "call search",
            limit: Annotated[int, Query(ge=1, le=5000)] = 200,
            offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> dict[str, Any]:
    query = CdrQuery(since=_utc(since), until=_utc(until), number_suffix=number,
                     outcome=outcome, sip_status=sip_status, hangup_cause=hangup_cause,
                     direction=direction, limit=limit, offset=offset)
    return {"query": query, "reason": reason}


Params = Annotated[dict[str, Any], Depends(_params)]


@router.get("/calls", response_model=list[CallRecordOut], responses=LOOKUP)
async def search_calls(request: Request, op: Supervisor, params: Params
                       ) -> list[CallRecordOut]:
    """Call detail records, newest first (``since`` <= started < ``until``); ``number``
    matches the last four digits of either number."""
    return [_out(d) for d in await _search(request, op, **params)]


@router.get("/calls.csv", response_class=Response, responses={**LOOKUP, 200: {
    "description": "the same rows as CSV", "content": {"text/csv": {"schema": {
        "type": "string"}}}}})
async def calls_csv(request: Request, op: Supervisor, params: Params) -> Response:
    """The search as a CSV file (numbers masked, no cell a spreadsheet runs as a formula)."""
    rows = await _search(request, op, **params)
    await context(request).audit(op.actor, "calls.export", ("call_records", "search"),
                                 params["reason"], {"rows": len(rows)})
    return Response(cdr_csv(rows), media_type="text/csv", headers={
        "Content-Disposition": 'attachment; filename="call-records.csv"'})


class Turn(BaseModel):
    speaker: str
    text: str


@router.get("/calls/{call_id}/transcript", response_model=list[Turn], responses=NOT_FOUND)
async def transcript(request: Request, call_id: CallId, op: Supervisor,
                     reason: Reason) -> list[Turn]:
    """A call's redacted transcript (PHI replaced by typed placeholders); audited."""
    records = context(request).need_records()
    if await records.call_record(call_id) is None:
        raise Problem(404, "no such call")
    turns = await records.call_transcript(call_id)
    await records.audit(op.actor, "call.transcript.read", ("call", call_id), reason,
                        {"turns": len(turns)})
    return [Turn(speaker=s, text=t) for s, t in turns]
