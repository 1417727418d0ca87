"""Live calls (supervisor: hang up, transfer) and call records (search, CSV export).

Live calls come from the console's read-only registry (``ctx.live``), numbers already
masked; the table refreshes itself every two seconds (``/calls/live/rows``, background
polling that does not keep the session alive). Call records come from
``records.search_calls(CdrQuery)`` when the records facade has it; before that, from the
call records as they are today (:func:`_basic_search`), and filters on columns not yet
recorded are shown as such rather than silently ignored.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import importlib
import io
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from carrier.console.live import mask_number
from carrier.console.pages.common import console, day_start, guard, page, parse_day, records_of
from carrier.console.roles import Operator
from carrier.console.templating import render
from carrier.records.call_search import CallSearch, search_call_records

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


def _live(request: Request) -> Any:
    return console(request).live


@router.get(LIVE)
async def live_page(request: Request, op: Annotated[Operator, Depends(guard(LIVE))]
                    ) -> Response:
    live = _live(request)
    rows = [] if live is None else live.snapshot()
    return page(request, "calls_live.html", op, title="Live calls", calls=rows,
                available=live is not None, message=request.query_params.get("done"))


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
    target = target.strip()
    ok = bool(target) and live is not None and await live.transfer(call_id, target)
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
        return cls(parse_day(q.get("start"), end - dt.timedelta(days=7)), end,
                   **{k: (q.get(k) or "").strip()[:64] for k in ("number", *FILTERS)})


def _row(item: Any) -> dict[str, Any]:
    row = (dataclasses.asdict(item)
           if dataclasses.is_dataclass(item) and not isinstance(item, type) else dict(item))
    for side, key in (("from", "from_masked"), ("to", "to_masked")):
        number = row.pop(f"{side}_number", None)
        if number and key not in row:  # CDRs store numbers masked already
            row[key] = str(number) if "*" in str(number) else mask_number(str(number))
    talk = getattr(item, "duration_s", None)  # a CDR's talk time (answer to end)
    if isinstance(talk, (int, float)):
        row["duration_s"] = round(float(talk), 1)
    elif row.get("ended_at") and row.get("started_at"):
        row["duration_s"] = round((row["ended_at"] - row["started_at"]).total_seconds(), 1)
    return row


async def _search(records: Any, f: CallFilter, actor: str) -> tuple[list[dict[str, Any]],
                                                                     list[str]]:
    """Rows and the filters that could not be applied (columns not recorded)."""
    search = getattr(records, "search_calls", None)
    query_type = _cdr_query()
    if search is not None and query_type is not None:
        names = {fl.name for fl in dataclasses.fields(query_type)}
        start, end = day_start(f.start), day_start(f.end + dt.timedelta(days=1))
        digits = "".join(c for c in f.number if c.isdigit())
        wanted: dict[str, Any] = {
            "since": start, "start": start, "until": end, "end": end,
            "number_suffix": digits[-4:] or None,  # CDRs keep the last four digits only
            "sip_status": int(f.sip_status) if f.sip_status.isdigit() else None,
            "outcome": f.outcome or None, "hangup_cause": f.hangup_cause or None,
            "direction": f.direction or None, "limit": MAX_ROWS}
        unused = [k for k in ("outcome", "hangup_cause", "direction", "sip_status")
                  if getattr(f, k) and k not in names]
        if f.number and "number_suffix" not in names:
            unused.append("number")
        got = await search(query_type(**{k: v for k, v in wanted.items()
                                         if k in names and v is not None}))
        return [_row(r) for r in got], unused
    return await _basic_search(records, f, actor)


def _cdr_query() -> Any:
    for module in ("carrier.records.store", "carrier.records.calls", "carrier.records.cdr"):
        try:
            found = getattr(importlib.import_module(module), "CdrQuery", None)
        except ImportError:
            continue
        if found is not None:
            return found
    return None


async def _basic_search(records: Any, f: CallFilter, actor: str
                        ) -> tuple[list[dict[str, Any]], list[str]]:
    """Today's call records (no SIP status or hangup cause recorded yet)."""
    patient_ids: list[str] | None = None
    if f.number:  # a PHI lookup: audited by the records facade
        found = await records.find_patients_by_phone(f.number, actor=actor,
                                                     reason="call records search")
        patient_ids = [str(p.id) for p in found]
    rows = await search_call_records(records, CallSearch(
        start=day_start(f.start), end=day_start(f.end + dt.timedelta(days=1)),
        direction=f.direction or None, outcome=f.outcome or None, patient_ids=patient_ids,
        limit=MAX_ROWS))
    unused = [k for k in ("sip_status", "hangup_cause") if getattr(f, k)]
    return [_row(r) for r in rows], unused


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    present = {k for r in rows for k, v in r.items() if v is not None}
    return [c for c in COLUMNS if c in present] or ["call_id", "direction", "started_at",
                                                    "outcome"]


@router.get(RECORDS)
async def records_page(request: Request, op: Annotated[Operator, Depends(guard(RECORDS))]
                       ) -> Response:
    ctx = console(request)
    f = CallFilter.from_query(request.query_params, ctx.now().date())
    rows, unused = await _search(records_of(request), f, op.actor)
    await ctx.audit(op.actor, "call_records.view", ("call_records", "search"), "operator",
                    {"rows": len(rows)})
    csv_link = RECORDS + ".csv?" + str(request.query_params)
    return page(request, "calls.html", op, title="Call records", rows=rows, f=f,
                columns=_columns(rows), unused=unused, csv_link=csv_link,
                limit=MAX_ROWS)


@router.get(RECORDS + ".csv")
async def records_csv(request: Request, op: Annotated[Operator, Depends(guard(RECORDS))]
                      ) -> Response:
    ctx = console(request)
    f = CallFilter.from_query(request.query_params, ctx.now().date())
    rows, _ = await _search(records_of(request), f, op.actor)
    columns = _columns(rows)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for r in rows:
        writer.writerow(["" if r.get(c) is None else _cell(r[c]) for c in columns])
    await ctx.audit(op.actor, "call_records.export", ("call_records", "csv"), "operator",
                    {"rows": len(rows)})
    name = f"calls-{f.start.isoformat()}-{f.end.isoformat()}.csv"
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


_PLAIN = re.compile(r"[+-]?[0-9*.]+")


def _cell(value: Any) -> str:
    text = value.isoformat() if isinstance(value, dt.datetime) else str(value)
    # A cell a spreadsheet would run as a formula is quoted (CSV injection); numbers and
    # masked numbers are left alone.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _PLAIN.fullmatch(text):
        return "'" + text
    return text


TRANSCRIPT_REASONS = ("quality review", "patient request", "complaint", "incident review")


@router.get(RECORDS + "/{call_id:path}")
async def call_page(request: Request, call_id: str,
                    op: Annotated[Operator, Depends(guard(RECORDS))]) -> Response:
    """One call's record; its redacted transcript only with a reason (a PHI view: the
    audit entry says who, which call and why)."""
    records = records_of(request)
    record = await records.call_record(call_id[:256])
    if record is None:
        return page(request, "call.html", op, status_code=404, title="Call not found",
                    record=None, turns=None, reasons=TRANSCRIPT_REASONS, reason="")
    reason = (request.query_params.get("reason") or "").strip()
    turns = None
    if reason in TRANSCRIPT_REASONS:
        turns = await records.call_transcript(record.call_id)
        await console(request).audit(op.actor, "call.transcript.read", ("call", record.call_id),
                                     reason, {"turns": len(turns)})
    return page(request, "call.html", op, title=f"Call {record.call_id[:24]}",
                record=_row(record), turns=turns, reasons=TRANSCRIPT_REASONS, reason=reason)
