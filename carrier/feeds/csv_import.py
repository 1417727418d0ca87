"""CSV schedule import for clinics without HL7 or FHIR (``carrier schedule import FILE``).

The column layout is documented in ``docs/feeds.md``. :func:`validate_schedule_csv` is pure
(text in, ``(rows, errors)`` out; the console may call it to check a file before loading):
every row is checked and every error is listed with its line number and column, never its
value. :func:`import_schedule` loads a file with no errors in one transaction through the
same store as the HL7 feed (so a row lands as an SIU^S12 would): all rows, or none. Each
row's id is the file's digest and line, so importing the same file again changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from carrier.feeds.bulk import apply_many
from carrier.feeds.store import Applied, AppointmentIn, FeedItem, FeedStore, PatientIn
from carrier.plugin import ScheduleChangeKind
from carrier.records.crypto import InvalidPhoneNumber, normalize_e164

REQUIRED = ("mrn", "last_name", "phone", "appointment_id", "start")
OPTIONAL = ("authority", "first_name", "dob", "state", "end", "duration_min", "provider_id",
            "provider_name", "status")
STATUSES: dict[str, ScheduleChangeKind] = {
    "booked": ScheduleChangeKind.BOOKED, "cancelled": ScheduleChangeKind.CANCELLED,
    "no_show": ScheduleChangeKind.NO_SHOW, "deleted": ScheduleChangeKind.DELETED,
}
DEFAULT_MINUTES = 30
MAX_FIELD = 200
_STATE = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class RowError:
    line: int  # line of the file (the header is line 1)
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.column}: {self.message}"


@dataclass(frozen=True)
class ScheduleRow:
    line: int
    patient: PatientIn
    appointment: AppointmentIn

    def __repr__(self) -> str:  # never print PHI by accident
        return f"ScheduleRow(line={self.line})"


def _when(text: str, tz: dt.tzinfo) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value


def _row(  # noqa: PLR0912 - one check per column, each with its own message
        line: int, raw: dict[str, str], tz: dt.tzinfo, errors: list[RowError]
) -> ScheduleRow | None:
    def err(column: str, message: str) -> None:
        errors.append(RowError(line, column, message))

    before = len(errors)
    get = {k: (v or "").strip() for k, v in raw.items() if k is not None}
    for column, value in get.items():
        if len(value) > MAX_FIELD:
            err(column, f"longer than {MAX_FIELD} characters")
    for column in REQUIRED:
        if not get.get(column):
            err(column, "required")
    phone = None
    if get.get("phone"):
        try:
            phone = normalize_e164(get["phone"])
        except InvalidPhoneNumber:
            err("phone", "not a valid phone number")
    dob = None
    if get.get("dob"):
        try:
            dob = dt.date.fromisoformat(get["dob"])
        except ValueError:
            err("dob", "not a date (YYYY-MM-DD)")
        else:
            if dob > dt.date(2100, 1, 1) or dob.year < 1880:
                err("dob", "out of range")
    state = get.get("state", "").upper() or None
    if state is not None and not _STATE.match(state):
        err("state", "not a two-letter state")
    status = get.get("status", "").lower() or "booked"
    if status not in STATUSES:
        err("status", f"one of {', '.join(STATUSES)}")
    start = end = None
    if get.get("start"):
        try:
            start = _when(get["start"], tz)
        except ValueError:
            err("start", "not a date and time (YYYY-MM-DDTHH:MM[+HH:MM])")
    if start is not None:
        end = _end(get, start, tz, err)
    if len(errors) > before or start is None or end is None or phone is None:
        return None
    name = " ".join(p for p in (get.get("first_name"), get["last_name"]) if p)
    return ScheduleRow(
        line,
        PatientIn(get.get("authority") or "", get["mrn"], name, phone, dob, state),
        AppointmentIn(get["appointment_id"], STATUSES[status], start, end,
                      get.get("provider_id") or "unassigned", get.get("provider_name", "")))


def _end(get: dict[str, str], start: dt.datetime, tz: dt.tzinfo,
         report: Callable[[str, str], None]) -> dt.datetime | None:
    if get.get("end"):
        try:
            end = _when(get["end"], tz)
        except ValueError:
            report("end", "not a date and time")
            return None
    elif get.get("duration_min"):
        minutes = get["duration_min"]
        if not minutes.isdigit() or not 0 < int(minutes) <= 24 * 60:
            report("duration_min", "a whole number of minutes, 1 to 1440")
            return None
        end = start + dt.timedelta(minutes=int(minutes))
    else:
        end = start + dt.timedelta(minutes=DEFAULT_MINUTES)
    if end <= start:
        report("end", "must be after start")
        return None
    return end


def validate_schedule_csv(text: str, *, tz: dt.tzinfo | str = "America/New_York"
                          ) -> tuple[list[ScheduleRow], list[RowError]]:
    """Every row checked; ``rows`` are the good ones, ``errors`` every problem by line.
    A file is loadable only when ``errors`` is empty. Times without an offset are in
    ``tz`` (the ``feeds.timezone`` setting)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    errors: list[RowError] = []
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing:
        errors.append(RowError(1, ",".join(missing), "required column missing"))
    if unknown:
        errors.append(RowError(1, ",".join(unknown), "unknown column"))
    if missing or unknown:
        return [], errors
    rows: list[ScheduleRow] = []
    seen: dict[tuple[str, str], int] = {}
    for raw in reader:
        line = reader.line_num
        if None in raw:
            errors.append(RowError(line, "-", "more fields than the header"))
            continue
        row = _row(line, raw, zone, errors)
        if row is None:
            continue
        key = (row.patient.authority, row.appointment.ref)
        if key in seen:
            errors.append(RowError(line, "appointment_id",
                                   f"same appointment as line {seen[key]}"))
            continue
        seen[key] = line
        rows.append(row)
    if not rows and not errors:
        errors.append(RowError(1, "-", "no rows"))
    return rows, errors


def file_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def import_schedule(store: FeedStore, rows: Sequence[ScheduleRow], *, source: str,
                          digest: str, now: dt.datetime) -> list[Applied]:
    """Load validated rows in one transaction (all or nothing)."""
    items = [FeedItem(
        source=source, message_id=f"csv:{digest}:{row.line}", kind="csv",
        patient=PatientIn(row.patient.authority or source, row.patient.mrn, row.patient.name,
                          row.patient.phone, row.patient.dob, row.patient.state),
        appointment=row.appointment, sent_at=now, fields=("last_name", "phone"))
        for row in rows]
    return await apply_many(store, items, now)
