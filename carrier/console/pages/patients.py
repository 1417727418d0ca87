"""Patients and appointments: look a patient up by number, the coming appointments, and
the CSV import (:mod:`carrier.console.schedule_csv`).

The import checks the whole file first and loads nothing when any row is bad (the page
lists every bad row by line and column). A good file's patients are added (an existing
patient with the same number and name is reused) and its appointments go to the hosted
application's schedule feed (``carrier.plugin.schedule_feed_of``) in one transaction. When
the application takes no schedule feed, a file with appointments is refused whole.
"""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import Response

from carrier.console.pages.common import console, guard, page, records_of
from carrier.console.roles import Operator
from carrier.console.schedule_csv import MAX_BYTES, Row, check
from carrier.records.patients import PatientAddress

router = APIRouter(include_in_schema=False)
PATH = "/patients"
HORIZON = dt.timedelta(days=14)
SOURCE = "console_csv"


def _application(request: Request) -> Any:
    return getattr(console(request), "application", None)


async def _upcoming(request: Request) -> list[Any]:
    source = console(request).appointments
    if source is None:
        return []
    return list(await source.upcoming(console(request).now(), HORIZON))


@router.get(PATH)
async def patients_page(request: Request, op: Annotated[Operator, Depends(guard(PATH))]
                        ) -> Response:
    phone = (request.query_params.get("phone") or "").strip()[:32]
    found = None
    if phone:
        found = await records_of(request).find_patients_by_phone(
            phone, actor=op.actor, reason="console lookup (scheduling)")
    return page(request, "patients.html", op, title="Patients and appointments",
                phone=phone, found=found, upcoming=await _upcoming(request),
                has_calendar=console(request).appointments is not None)


def _feed(request: Request) -> Any:
    plugin = importlib.import_module("carrier.plugin")
    feed_of = getattr(plugin, "schedule_feed_of", None)
    app = _application(request)
    return None if feed_of is None or app is None else feed_of(app)


@router.post(PATH + "/import")
async def import_csv(request: Request, file: UploadFile,
                     op: Annotated[Operator, Depends(guard(PATH))]) -> Response:
    ctx = console(request)
    data = await file.read(MAX_BYTES + 1)
    rows, problems = check(data, today=ctx.now().date())
    feed = _feed(request)
    refused = ""
    if not problems and feed is None and any(r.appointment for r in rows):
        refused = ("This file has appointments, and the hosted application takes no "
                   "schedule feed: nothing was loaded.")
    if problems or refused:
        await ctx.audit(op.actor, "schedule.import_refused", ("schedule_import", SOURCE),
                        "operator", {"problems": len(problems)})
        return page(request, "patients.html", op, status_code=422,
                    title="Patients and appointments", phone="", found=None,
                    upcoming=await _upcoming(request), problems=problems,
                    error=refused or f"{len(problems)} problem(s): nothing was loaded.",
                    has_calendar=console(request).appointments is not None)
    patients, appointments = await _load(request, rows, feed, op)
    await ctx.audit(op.actor, "schedule.import", ("schedule_import", SOURCE), "operator",
                    {"patients": patients, "appointments": appointments})
    return page(request, "patients.html", op, title="Patients and appointments", phone="",
                found=None, upcoming=await _upcoming(request),
                message=f"Loaded {len(rows)} row(s): {patients} new patient(s), "
                        f"{appointments} appointment(s).",
                has_calendar=console(request).appointments is not None)


async def _load(request: Request, rows: list[Row], feed: Any, op: Operator
                ) -> tuple[int, int]:
    records = records_of(request)
    ids: dict[int, str] = {}
    added = 0
    for r in rows:
        known = [p for p in await records.find_patients_by_phone(
            r.phone, actor=op.actor, reason="schedule import") if p.name == r.name]
        if known:
            ids[r.line] = str(known[0].id)
            continue
        pid = await records.add_patient(
            r.name, r.phone, dob=r.dob, member_id=r.member_id, actor=op.actor,
            reason="schedule import", address=PatientAddress(r.state, r.time_zone))
        ids[r.line] = str(pid)
        added += 1
    booked = [r for r in rows if r.appointment is not None]
    if booked:
        plugin = importlib.import_module("carrier.plugin")
        now = console(request).now()
        async with records.pool.acquire() as conn, conn.transaction():
            for r in booked:
                a = r.appointment
                assert a is not None
                await feed.apply_schedule(conn, plugin.ScheduleChange(
                    source=SOURCE, appointment_ref=f"{SOURCE}:{a.id}", patient_id=ids[r.line],
                    kind=plugin.ScheduleChangeKind.BOOKED, starts_at=a.starts_at,
                    ends_at=a.ends_at, changed_at=now, provider_ref=a.provider))
    return added, len(booked)
