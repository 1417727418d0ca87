"""Live calls and call records (role ``supervisor``).

Live calls come from the gateway's registry (numbers masked, no PHI); a supervisor may
hang one up or transfer it. Call records are searched by time, direction, outcome,
workflow and number (a number is a PHI lookup: audited with the reason), as JSON or CSV;
a call's redacted transcript is a PHI view, audited too.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from carrier.console.api.common import ERRORS, NOT_FOUND, Reason, context
from carrier.console.api.patients import PHONE, _phone
from carrier.console.auth import Operator, Role, require
from carrier.console.problems import Problem
from carrier.records.call_search import CallRow, CallSearch, search_call_records

router = APIRouter(tags=["calls"])
Supervisor = Annotated[Operator, Depends(require(Role.SUPERVISOR))]
CallId = Annotated[str, Path(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")]
CSV_COLUMNS = ("call_id", "direction", "started_at", "ended_at", "duration_s", "workflow",
               "outcome", "stir_status", "verstat", "amd", "origid")


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
    target: str = Field(min_length=1, max_length=128,
                        pattern=r"^(sip:|tel:)?[A-Za-z0-9+@._:;=-]+$")


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
    live = _live(request)
    if not any(v.call_id == call_id for v in live.snapshot()):
        raise Problem(404, "no such live call")
    ok = await live.transfer(call_id, body.target)
    await context(request).audit(op.actor, "call.transfer", ("call", call_id), "supervisor",
                                 {"ok": ok})
    return Done(ok=ok)


class CallRecordOut(BaseModel):
    call_id: str
    direction: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    duration_s: float | None
    workflow: str | None
    outcome: str | None
    stir_status: str | None
    verstat: str | None
    amd: str | None
    origid: str | None


def _out(r: CallRow) -> CallRecordOut:
    duration = (r.ended_at - r.started_at).total_seconds() if r.ended_at else None
    return CallRecordOut(call_id=r.call_id, direction=r.direction, started_at=r.started_at,
                         ended_at=r.ended_at, duration_s=duration, workflow=r.workflow,
                         outcome=r.outcome, stir_status=r.stir_status, verstat=r.verstat,
                         amd=r.amd, origid=r.origid)


Word = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


async def _search(request: Request, op: Operator, *, start: dt.datetime | None,
                  end: dt.datetime | None, direction: str | None, outcome: str | None,
                  workflow: str | None, number: str | None, reason: str, limit: int,
                  offset: int) -> list[CallRecordOut]:
    records = context(request).need_records()
    patients = None
    if number is not None:  # a PHI lookup: audited by the records facade
        found = await records.find_patients_by_phone(_phone(number), actor=op.actor,
                                                     reason=reason)
        patients = [str(p.id) for p in found]
    q = CallSearch(start=start, end=end, direction=direction, outcome=outcome,
                   workflow=workflow, patient_ids=patients, limit=limit, offset=offset)
    rows = await search_call_records(records, q)
    return [_out(r) for r in rows]


def _params(*, start: dt.datetime | None = None, end: dt.datetime | None = None,
            direction: Annotated[str | None, Query(pattern="^(inbound|outbound)$")] = None,
            outcome: Word = None, workflow: Word = None,
            number: Annotated[str | None, Query(pattern=PHONE)] = None,
            reason: Annotated[str, Query(min_length=1, max_length=200,
                                         pattern=r"^[^\x00-\x1f\x7f]+$")] = "call search",
            limit: Annotated[int, Query(ge=1, le=5000)] = 200,
            offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> dict[str, Any]:
    return {"start": start, "end": end, "direction": direction, "outcome": outcome,
            "workflow": workflow, "number": number, "reason": reason, "limit": limit,
            "offset": offset}


Params = Annotated[dict[str, Any], Depends(_params)]


@router.get("/calls", response_model=list[CallRecordOut], responses=ERRORS)
async def search_calls(request: Request, op: Supervisor, params: Params
                       ) -> list[CallRecordOut]:
    """Call records, newest first (``start`` <= started < ``end``)."""
    return await _search(request, op, **params)


@router.get("/calls.csv", response_class=Response, responses={**ERRORS, 200: {
    "description": "the same rows as CSV", "content": {"text/csv": {"schema": {
        "type": "string"}}}}})
async def calls_csv(request: Request, op: Supervisor, params: Params) -> Response:
    """The search as a CSV file."""
    rows = await _search(request, op, **params)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([_cell(getattr(r, c)) for c in CSV_COLUMNS])
    await context(request).audit(op.actor, "calls.export", ("call_records", "search"),
                                 params["reason"], {"rows": len(rows)})
    return Response(out.getvalue(), media_type="text/csv", headers={
        "Content-Disposition": 'attachment; filename="call-records.csv"'})


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = "" if value is None else value.isoformat() if isinstance(value, dt.datetime) \
        else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


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
