"""Live calls (supervisor: hang up, transfer) and call records (search, CSV export).

Live calls come from the console's read-only registry (``ctx.live``), numbers already
masked; the table refreshes itself every two seconds (``/calls/live/rows``, background
polling that does not keep the session alive). Call records are the call detail records
(``records.search_calls(CdrQuery)``: one per call however it ended, numbers stored masked),
filtered by date, number suffix, outcome, SIP status, hangup cause and direction (a filter
by number spends one of the operator's lookups by number, ``carrier.console.lookups``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from carrier.console.live import mask_number, transfer_target
from carrier.console.lookups import spend_lookup
from carrier.console.pages.common import (
    console,
    day_start,
    guard,
    in_range,
    page,
    parse_day,
    records_of,
)
from carrier.console.roles import Operator
from carrier.console.templating import render
from carrier.records.cdr import CallDetail, CdrQuery, cdr_csv

router = APIRouter(include_in_schema=False)
LIVE, RECORDS = "/calls/live", "/calls"

# Columns in display order; a column shows when the rows carry it.
COLUMNS = ("call_id", "direction", "started_at", "answered_at", "ended_at", "duration_s",
           "from_masked", "to_masked", "trunk", "sip_status", "hangup_cause", "codec",
           "packets_lost", "jitter_ms", "remote_loss_pct", "remote_jitter_ms", "attestation",
           "verstat", "amd", "workflow", "outcome", "transfer_target", "consent_ref",
           "gate_ref", "attempts")
FILTERS = ("outcome", "sip_status", "hangup_cause", "direction")
MAX_ROWS = 1000
DONE = {"hung up": "Call hung up.", "call not found": "That call is not up any more.",
        "transferred": "Call transferred.", "transfer failed": "The transfer failed.",
        "bad target": "Not transferred: the target is not a SIP address or a phone number."}
"""The notices the live page shows after an action (by key: never text from the URL)."""


def _live(request: Request) -> Any:
    return console(request).live


@router.get(LIVE)
async def live_page(request: Request, op: Annotated[Operator, Depends(guard(LIVE))]
                    ) -> Response:
    live = _live(request)
    rows = [] if live is None else live.snapshot()
    return page(request, "calls_live.html", op, title="Live calls", calls=rows,
                available=live is not None,
                message=DONE.get(request.query_params.get("done") or ""))


@router.get(LIVE + "/rows")
async def live_rows(request: Request, op: Annotated[Operator, Depends(guard(LIVE))]
                    ) -> Response:
    live = _live(request)
    rows = [] if live is None else live.snapshot()
    return render(request, "calls_live_rows.html", operator=op, calls=rows)


@router.post(LIVE + "/{call_id}/hangup")
async def hangup(request: Request, call_id: str,
                 op: Annotated[Operator, Depends(guard(LIVE))]) -> Response:
    live = _live(request)
    ok = live is not None and await live.hangup(call_id, "supervisor")
    await console(request).audit(op.actor, "call.hangup", ("call", call_id), "supervisor",
                                 {"ok": bool(ok)})
    return RedirectResponse(f"{LIVE}?done={'hung+up' if ok else 'call+not+found'}", 303)


@router.post(LIVE + "/{call_id}/transfer")
async def transfer(request: Request, call_id: str, target: Annotated[str, Form()],
                   op: Annotated[Operator, Depends(guard(LIVE))]) -> Response:
    live = _live(request)
    to = transfer_target(target)
    if to is None:
        return RedirectResponse(f"{LIVE}?done=bad+target", 303)
    ok = live is not None and await live.transfer(call_id, to)
    await console(request).audit(op.actor, "call.transfer_request", ("call", call_id),
                                 "supervisor", {"ok": bool(ok)})
    return RedirectResponse(f"{LIVE}?done={'transferred' if ok else 'transfer+failed'}", 303)


# ---- call records ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CallFilter:
    start: dt.date
    end: dt.date  # inclusive
    number: str = ""
    outcome: str = ""
    sip_status: str = ""
    hangup_cause: str = ""
    direction: str = ""

    @classmethod
    def from_query(cls, q: Mapping[str, str], today: dt.date) -> CallFilter:
        end = parse_day(q.get("end"), today)
        week_before = end - dt.timedelta(days=7) if in_range(end - dt.timedelta(days=7)) else end
        return cls(parse_day(q.get("start"), week_before), end,
                   **{k: (q.get(k) or "").strip()[:64] for k in ("number", *FILTERS)})


def _row(item: Any) -> dict[str, Any]:
    """A CDR (or, on the call page without one, the call's record) as a table row."""
    row = dataclasses.asdict(item)
    for side in ("from", "to"):  # CDRs store numbers masked already
        number = row.pop(f"{side}_number", None)
        if number:
            row[f"{side}_masked"] = number if "*" in number else mask_number(number)
    if isinstance(item, CallDetail):
        row["duration_s"] = round(item.duration_s, 1)  # talk time, answer to end
    elif row.get("ended_at") and row.get("started_at"):
        row["duration_s"] = round((row["ended_at"] - row["started_at"]).total_seconds(), 1)
    return row


def _query(f: CallFilter) -> CdrQuery:
    digits = "".join(c for c in f.number if c.isdigit())
    return CdrQuery(
        since=day_start(f.start), until=day_start(f.end + dt.timedelta(days=1)),
        number_suffix=digits[-4:] or None,  # CDRs keep the last four digits only
        outcome=f.outcome or None,
        sip_status=int(f.sip_status) if f.sip_status.isdigit() else None,
        hangup_cause=f.hangup_cause or None,
        direction=f.direction if f.direction in ("inbound", "outbound") else None,
        limit=MAX_ROWS)


async def _search_calls(request: Request, op: Operator, f: CallFilter) -> list[CallDetail]:
    """The CDRs the filter finds; a filter by number spends one of the operator's lookups
    by number (``carrier.console.lookups``), as the API's search does."""
    query = _query(f)
    if query.number_suffix is not None:
        await spend_lookup(console(request), op.actor)
    rows: list[CallDetail] = await records_of(request).search_calls(query)
    return rows


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    present = {k for r in rows for k, v in r.items() if v is not None}
    return [c for c in COLUMNS if c in present] or ["call_id", "direction", "started_at",
                                                    "outcome"]


def _whole_number_cut(request: Request) -> Response | None:
    """A redirect to the same search by the number's last four digits (all the CDRs keep)
    when more were typed: the whole number is kept out of the URL, the browser's history
    and the page's CSV link."""
    typed = request.query_params.get("number") or ""
    digits = "".join(c for c in typed if c.isdigit())
    if len(digits) <= 4 and len(typed) <= 4:
        return None
    query = [(k, digits[-4:] if k == "number" else v)
             for k, v in request.query_params.multi_items()]
    return RedirectResponse(f"{request.url.path}?{urlencode(query)}", status_code=303)


@router.get(RECORDS)
async def records_page(request: Request, op: Annotated[Operator, Depends(guard(RECORDS))]
                       ) -> Response:
    ctx = console(request)
    if (cut := _whole_number_cut(request)) is not None:
        return cut
    f = CallFilter.from_query(request.query_params, ctx.now().date())
    rows = [_row(d) for d in await _search_calls(request, op, f)]
    await ctx.audit(op.actor, "call_records.view", ("call_records", "search"), "operator",
                    {"rows": len(rows)})
    csv_link = RECORDS + ".csv?" + str(request.query_params)
    return page(request, "calls.html", op, title="Call records", rows=rows, f=f,
                columns=_columns(rows), csv_link=csv_link,
                limit=MAX_ROWS)


@router.get(RECORDS + ".csv")
async def records_csv(request: Request, op: Annotated[Operator, Depends(guard(RECORDS))]
                      ) -> Response:
    """The search as CSV (``cdr_csv``: numbers masked, no cell runs as a formula)."""
    ctx = console(request)
    if (cut := _whole_number_cut(request)) is not None:
        return cut
    f = CallFilter.from_query(request.query_params, ctx.now().date())
    rows = await _search_calls(request, op, f)
    await ctx.audit(op.actor, "call_records.export", ("call_records", "csv"), "operator",
                    {"rows": len(rows)})
    name = f"calls-{f.start.isoformat()}-{f.end.isoformat()}.csv"
    return Response(cdr_csv(rows), media_type="text/csv",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


TRANSCRIPT_REASONS = ("quality review", "patient request", "complaint", "incident review")


@router.get(RECORDS + "/{call_id:path}")
async def call_page(request: Request, call_id: str,
                    op: Annotated[Operator, Depends(guard(RECORDS))]) -> Response:
    """One call's record; its redacted transcript only with a reason (a PHI view: the
    audit entry says who, which call and why)."""
    records = records_of(request)
    call_id = call_id[:256]
    detail = await records.call_detail(call_id)
    record = detail if detail is not None else await records.call_record(call_id)
    if record is None:
        return page(request, "call.html", op, status_code=404, title="Call not found",
                    record=None, turns=None, reasons=TRANSCRIPT_REASONS, reason="")
    reason = (request.query_params.get("reason") or "").strip()
    await console(request).audit(op.actor, "call_records.view", ("call", record.call_id),
                                 "operator", {})
    turns = None
    if reason in TRANSCRIPT_REASONS:
        turns = await records.call_transcript(record.call_id)
        await console(request).audit(op.actor, "call.transcript.read", ("call", record.call_id),
                                     reason, {"turns": len(turns)})
    return page(request, "call.html", op, title=f"Call {record.call_id[:24]}",
                record=_row(record), turns=turns, reasons=TRANSCRIPT_REASONS, reason=reason)
