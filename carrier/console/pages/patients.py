"""Patients and appointments: look a patient up by number (and set each one's preferred
language for calls and texts from the table: a language the clinic supports, with the
operator's why, audited), the coming appointments, and the CSV schedule import, in the
one format of ``carrier schedule import`` (:mod:`carrier.feeds.csv_import`, docs/feeds.md).

The import checks the whole file first and loads nothing when any row is bad (the page
lists every bad row by line and column, never a value). A good file loads in one
transaction through the schedule feeds' store (patients keyed by the clinic's MRN, its
appointments handed to the hosted application's schedule feed), as the command would
load it: importing the same file again changes nothing. When the application takes no
schedule feed, the file is refused whole. The operator's import is audited under their
name; each patient and appointment change under the feed's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import Response

from carrier.console.lookups import lookup_allowed, spend_lookup
from carrier.console.pages.common import NOT_A_NUMBER, console, dialable, guard, page, records_of
from carrier.console.roles import Operator
from carrier.feeds.csv_import import (
    DEFAULT_SOURCE,
    MAX_BYTES,
    RowError,
    ScheduleRow,
    decode_schedule_csv,
    file_digest,
    import_schedule,
    validate_schedule_csv,
)
from carrier.feeds.store import FeedRejected, FeedStore
from carrier.plugin import schedule_feed_of
from carrier.records.languages import ENGLISH, SPANISH, language_code

router = APIRouter(include_in_schema=False)
PATH = "/patients"
HORIZON = dt.timedelta(days=14)
LANGUAGES = {ENGLISH: "English", SPANISH: "Español"}  # what the lookup's form offers
# Whose word the preferred language is (records: language_source), as staff read it.
SOURCES = {"feed": "from the EHR", "patient": "the patient's choice", "staff": "set by staff"}
SOURCE = DEFAULT_SOURCE  # the command's default: one file, one set of ids, either way


def _application(request: Request) -> Any:
    return getattr(console(request), "application", None)


async def _upcoming(request: Request, op: Operator) -> list[Any]:
    """The coming appointments the page lists (patient ids and times: a PHI view, audited
    as the API's ``GET /appointments`` is)."""
    ctx = console(request)
    if ctx.appointments is None:
        return []
    facts = list(await ctx.appointments.upcoming(ctx.now(), HORIZON))
    await ctx.audit(op.actor, "appointments.read", ("appointments", "upcoming"),
                    "console: patients page", {"days": HORIZON.days, "rows": len(facts)})
    return facts


@router.get(PATH)
async def patients_page(request: Request, op: Annotated[Operator, Depends(guard(PATH))]
                        ) -> Response:
    """The page; a lookup is a POST (the number is never in a URL, which browser history
    and proxies' access logs keep): a ``?phone=`` in the URL looks nothing up."""
    return await _lookup(request, op, "", "")


@router.post(PATH)
async def lookup(request: Request, op: Annotated[Operator, Depends(guard(PATH))], *,
                 phone: Annotated[str, Form(max_length=32)] = "",
                 reason: Annotated[str, Form(max_length=200)] = "") -> Response:
    # The why of this PHI view, typed by the operator, as the API's ``reason`` (audited).
    if phone.strip():
        await spend_lookup(console(request), op.actor)
    return await _lookup(request, op, phone.strip(), " ".join(reason.split()), spent=True)


async def _lookup(request: Request, op: Operator, phone: str, why: str, *,
                  message: str | None = None, error: str | None = None,
                  status: int = 200, spent: bool = False, changed: UUID | None = None
                  ) -> Response:
    """The page, with the patients on ``phone``: a lookup the operator's budget pays for
    unless ``spent`` already, or the form ``changed`` one of them (after that change, an
    exhausted budget leaves them out rather than refuse the page)."""
    found = None
    number = dialable(phone) if phone else None
    if phone and not why:
        error, status = "Say why you look this patient up: it goes to the audit log.", 422
    elif phone and number is None:
        error, status = NOT_A_NUMBER, 422
    elif number is not None:
        if not spent and changed is None:  # nothing changed: a lookup as any
            await spend_lookup(console(request), op.actor)
        found = await records_of(request).find_patients_by_phone(
            number, actor=op.actor, reason=f"console lookup: {why}")
        if changed is not None and changed not in {p.id for p in found} and not \
                await lookup_allowed(console(request), op.actor):
            found = None
            message = f"{message} The patients on this number are not shown: the hour's" \
                      " lookups are spent."
    return page(request, "patients.html", op, status_code=status,
                title="Patients and appointments", phone=phone, reason=why, found=found,
                error=error, message=message, upcoming=await _upcoming(request, op),
                languages=LANGUAGES, sources=SOURCES,
                has_calendar=console(request).appointments is not None)


@router.post(PATH + "/language")
async def set_language(request: Request, op: Annotated[Operator, Depends(guard(PATH))], *,
                       patient_id: Annotated[str, Form(max_length=40)],
                       language: Annotated[str, Form(max_length=32)] = "",
                       phone: Annotated[str, Form(max_length=32)] = "",
                       reason: Annotated[str, Form(max_length=200)] = "") -> Response:
    """The preferred language from the lookup's table (the number travels in the body);
    audited as the API's ``PUT /patients/{id}/language`` is, with the operator's why."""
    why = " ".join(reason.split())
    code = language_code(language) if language else None
    try:
        pid = UUID(patient_id)
    except ValueError:
        pid = None
    if pid is None:
        return await _lookup(request, op, phone.strip(), why, error="Not changed: no such "
                             "patient.", status=404)
    if language and code is None:
        return await _lookup(request, op, phone.strip(), why, status=422,
                             error=f"Not changed: the language must be one of "
                                   f"{', '.join(LANGUAGES.values())}.")
    if not why:
        return await _lookup(request, op, "", "", status=422, error="Not changed: say why "
                             "(it goes to the audit log).")
    if not await records_of(request).set_patient_language(
            pid, code, actor=op.actor, reason=f"console: {why}"):
        return await _lookup(request, op, phone.strip(), why, error="Not changed: no such "
                             "patient.", status=404)
    return await _lookup(request, op, phone.strip(), why, changed=pid,
                         message=f"Preferred language: {LANGUAGES.get(code or '', 'not known')}.")


def _store(request: Request) -> FeedStore:
    """The feeds' store, built as ``carrier.feeds.service.Feeds.build`` builds it."""
    ctx = console(request)
    return FeedStore(records_of(request), schedule_feed_of(_application(request)),
                     phone_is_consent=ctx.settings.feeds.phone_is_consent)


async def _refused(request: Request, op: Operator, problems: list[RowError],
                   error: str) -> Response:
    await console(request).audit(op.actor, "schedule.import_refused",
                                 ("schedule_import", SOURCE), "operator",
                                 {"problems": len(problems)})
    return page(request, "patients.html", op, status_code=422,
                title="Patients and appointments", phone="", found=None,
                upcoming=await _upcoming(request, op), problems=problems, error=error,
                has_calendar=console(request).appointments is not None)


def _checked(data: bytes, tz: str, today: dt.date
             ) -> tuple[str, list[ScheduleRow], list[RowError]]:
    text, problems = decode_schedule_csv(data)
    if problems:
        return text, [], problems
    rows, problems = validate_schedule_csv(text, tz=tz, today=today)
    return text, rows, problems


@router.post(PATH + "/import", max_body_size=MAX_BYTES + 64 * 1024)  # + the form's parts
async def import_csv(request: Request, file: UploadFile,
                     op: Annotated[Operator, Depends(guard(PATH))]) -> Response:
    ctx = console(request)
    now = ctx.now()
    # Decoding, checking and hashing a large file take seconds, and so does encrypting it
    # (in the feeds' bulk path): all off the event loop, which keeps carrying calls.
    text, rows, problems = await asyncio.to_thread(
        _checked, await file.read(MAX_BYTES + 1), ctx.settings.feeds.timezone, now.date())
    if problems:
        return await _refused(request, op, problems,
                              f"{len(problems)} problem(s): nothing was loaded.")
    store = _store(request)
    if store.feed is None:
        return await _refused(request, op, [], "The hosted application takes no schedule "
                                                "feed: nothing was loaded.")
    digest = await asyncio.to_thread(file_digest, text)
    try:
        applied = await import_schedule(store, rows, source=SOURCE, digest=digest, now=now)
    except FeedRejected as exc:
        return await _refused(request, op, [RowError(0, exc.field, exc.text)],
                              "The schedule feed refused the file: nothing was loaded.")
    new = sum(a.patient_created for a in applied)
    again = sum(a.duplicate for a in applied)
    booked = sum(a.appointment_id is not None for a in applied)
    # The digest goes in the reason: it ties this entry to the feed's per-row entries
    # (``csv <source>/csv:<digest>:<line>``); details refuse long digit-like runs.
    await ctx.audit(op.actor, "schedule.import", ("schedule_import", SOURCE),
                    f"operator upload csv:{digest}",
                    {"rows": len(rows), "patients": new, "appointments": booked,
                     "already_imported": again})
    return page(request, "patients.html", op, title="Patients and appointments", phone="",
                found=None, upcoming=await _upcoming(request, op),
                message=f"Loaded {len(rows) - again} row(s): {new} new patient(s), "
                        f"{booked} appointment(s); {again} already imported.",
                has_calendar=console(request).appointments is not None)
