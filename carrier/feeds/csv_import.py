"""CSV schedule import for clinics without HL7 or FHIR (``carrier schedule import FILE``).

The column layout is documented in ``docs/feeds.md``. :func:`validate_schedule_csv` is pure
(text in, ``(rows, errors)`` out; the console may call it to check a file before loading):
every row is checked and every error is listed with its line number and column, never its
value. :func:`import_schedule` loads a file with no errors in one transaction through the
same store as the HL7 feed (so a row lands as an SIU^S12 would): all rows, or none. Each
row's id is the file's digest and line, so importing the same file again changes nothing.

Both ``carrier schedule import`` and the console's upload (``POST /patients/import``) use
this module, so a clinic has one format. :func:`decode_schedule_csv` takes the uploaded
bytes (size bound, UTF-8). Beyond each column's format, a file is refused for: a phone
number without an area code or of another country than the clinic's (the calling rules
the dialer's gate knows); a text cell a spreadsheet would run as a formula (``= + - @``
first) or holding a control character; a header naming a column twice; more rows than
:data:`MAX_ROWS` or bytes than :data:`MAX_BYTES`; text that is not CSV.
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

import phonenumbers

from carrier.feeds.bulk import apply_many
from carrier.feeds.store import Applied, AppointmentIn, FeedItem, FeedStore, PatientIn
from carrier.plugin import ScheduleChangeKind
from carrier.records.languages import language_tag

REQUIRED = ("mrn", "last_name", "phone", "appointment_id", "start")
OPTIONAL = ("authority", "first_name", "dob", "state", "language", "end", "duration_min",
            "provider_id", "provider_name", "status")
STATUSES: dict[str, ScheduleChangeKind] = {
    "booked": ScheduleChangeKind.BOOKED, "cancelled": ScheduleChangeKind.CANCELLED,
    "no_show": ScheduleChangeKind.NO_SHOW, "deleted": ScheduleChangeKind.DELETED,
}
TEXT = ("mrn", "authority", "first_name", "last_name", "appointment_id", "provider_id",
        "provider_name")  # free text: never a spreadsheet formula
DEFAULT_MINUTES = 30
DEFAULT_SOURCE = "csv"  # the id scope of both the command's and the console's imports
MAX_FIELD = 200
MAX_BYTES = 32 * 1024 * 1024  # a 100,000-row schedule is ~10 MB
MAX_ROWS = 250_000
REGION = "US"  # the clinic's country: numbers of other countries are refused
_STATE = re.compile(r"^[A-Z]{2}$")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_FORMULA = ("=", "+", "-", "@")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class RowError:
    line: int  # line of the file (the header is line 1); 0: the file as a whole
    column: str
    message: str

    def __str__(self) -> str:
        if self.line == 0:
            return f"file: {self.message}"
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


def _phone(text: str) -> tuple[str | None, str]:
    """The number in E.164, or None and why (never the number)."""
    try:
        number = phonenumbers.parse(text, REGION)
    except phonenumbers.NumberParseException:
        return None, "not a valid phone number"
    # "possible", not "valid": numbering plans lag behind, and 555 numbers are synthetic.
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        return None, "no area code (a local number cannot be dialled)"
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None, "not a valid phone number"
    if phonenumbers.region_code_for_country_code(number.country_code or 0) != REGION:
        return None, f"not a number of the clinic's country ({REGION})"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""


def _cells(get: dict[str, str], err: Callable[[str, str], None]) -> None:
    """Checks on every cell: length, control characters, formulas in free text."""
    for column, value in get.items():
        if len(value) > MAX_FIELD:
            err(column, f"longer than {MAX_FIELD} characters")
        elif _CONTROL.search(value):
            err(column, "holds a control character")
        elif column in TEXT and value.startswith(_FORMULA):
            err(column, "starts with = + - or @ (a spreadsheet would run it as a formula)")
    for column in REQUIRED:
        if not get.get(column):
            err(column, "required")
    ref = get.get("appointment_id")
    if ref and not ref.startswith(_FORMULA) and not _ID.fullmatch(ref):
        err("appointment_id", "letters, digits and . _ : - only (a letter or digit first),"
                              " at most 64")


def _dob(text: str, today: dt.date | None, err: Callable[[str, str], None]
         ) -> dt.date | None:
    try:
        dob = dt.date.fromisoformat(text)
    except ValueError:
        err("dob", "not a date (YYYY-MM-DD)")
        return None
    if dob > dt.date(2100, 1, 1) or dob.year < 1880:
        err("dob", "out of range")
    elif today is not None and dob > today:
        err("dob", "in the future")
    return dob


def _row(
        line: int, get: dict[str, str], tz: dt.tzinfo, today: dt.date | None,
        errors: list[RowError]
) -> ScheduleRow | None:
    def err(column: str, message: str) -> None:
        errors.append(RowError(line, column, message))

    before = len(errors)
    _cells(get, err)
    phone = None
    if get.get("phone"):
        phone, why = _phone(get["phone"])
        if phone is None:
            err("phone", why)
    dob = _dob(get["dob"], today, err) if get.get("dob") else None
    state = get.get("state", "").upper() or None
    if state is not None and not _STATE.match(state):
        err("state", "not a two-letter state")
    # any language by code ("vi": kept for staff, calls in English), a supported one by name
    language = language_tag(get.get("language")) if get.get("language") else None
    if get.get("language") and language is None:
        err("language", "not a language code (ISO 639: es, en, vi...) or name (Spanish)")
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
        PatientIn(get.get("authority") or "", get["mrn"], name, phone, dob, state, language),
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


def decode_schedule_csv(data: bytes) -> tuple[str, list[RowError]]:
    """An uploaded file's text (UTF-8, a BOM allowed), or why not. Read at most
    ``MAX_BYTES + 1`` bytes of an upload: more is refused here."""
    if len(data) > MAX_BYTES:
        return "", [RowError(0, "-", f"more than {MAX_BYTES:,} bytes")]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        return "", [RowError(0, "-", "not UTF-8 text")]


def delimiter(text: str) -> str:
    """The file's separator: of comma, semicolon (spreadsheets in many locales) and tab
    (EHR reports), the one that splits the header into the most known column names."""
    first = text.split("\n", 1)[0]

    def known(sep: str) -> int:
        return sum(h.strip().strip('"').lower() in REQUIRED + OPTIONAL
                   for h in first.split(sep))
    return max((",", ";", "\t"), key=known)  # a tie: the comma (listed first)


_NAME = re.compile(r"[a-z][a-z_ ]{0,31}")


def _column_name(cell: str, index: int) -> str:
    """An unknown column by its name when the cell reads as one (a typo, ``colour``),
    else by its place: a cell with digits or signs may be a value pasted into the header."""
    return cell if _NAME.fullmatch(cell) else f"column {index + 1}"


def _header(reader: csv.DictReader[str]) -> list[RowError]:
    try:
        names = reader.fieldnames
    except csv.Error:
        return [RowError(1, "-", "not CSV")]
    if not names:
        return [RowError(0, "-", "empty file")]
    header = [h.strip().lower() for h in names]
    reader.fieldnames = header
    if not any(h in REQUIRED + OPTIONAL for h in header):
        # A file saved without its header line: line 1 is a patient, whose cells must
        # not come back as "unknown column" names.
        return [RowError(1, "-", "names no known column: is the header line missing?")]
    errors: list[RowError] = []
    missing = [c for c in REQUIRED if c not in header]
    unknown = list(dict.fromkeys(_column_name(c, i) for i, c in enumerate(header)
                                 if c not in REQUIRED + OPTIONAL))
    twice = sorted(c for c in set(header) if header.count(c) > 1 and _NAME.fullmatch(c))
    if missing:
        errors.append(RowError(1, ",".join(missing), "required column missing"))
    if unknown:
        errors.append(RowError(1, ",".join(unknown), "unknown column"))
    if twice:
        errors.append(RowError(1, ",".join(twice), "column named twice"))
    return errors


def validate_schedule_csv(text: str, *, tz: dt.tzinfo | str = "America/New_York",
                          today: dt.date | None = None
                          ) -> tuple[list[ScheduleRow], list[RowError]]:
    """Every row checked; ``rows`` are the good ones, ``errors`` every problem by line.
    A file is loadable only when ``errors`` is empty. Times without an offset are in
    ``tz`` (the ``feeds.timezone`` setting); with ``today``, a birth date after it is
    refused."""
    if len(text) > MAX_BYTES or len(text.encode()) > MAX_BYTES:
        return [], [RowError(0, "-", f"more than {MAX_BYTES:,} bytes")]
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    text = text.lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter(text))
    errors = _header(reader)
    if errors:
        return [], errors
    rows: list[ScheduleRow] = []
    seen: dict[tuple[str, str], int] = {}
    try:
        for raw in reader:
            line = reader.line_num
            if None in raw:
                errors.append(RowError(line, "-", "more fields than the header"))
                continue
            if None in raw.values():
                errors.append(RowError(line, "-", "fewer fields than the header"))
                continue
            get = {k: v.strip() for k, v in raw.items()}
            if not any(get.values()):
                continue  # a row of empty cells (as spreadsheets export) is no row
            if len(rows) + len(errors) >= MAX_ROWS:
                return [], [RowError(0, "-", f"more than {MAX_ROWS} rows")]
            row = _row(line, get, zone, today, errors)
            if row is None:
                continue
            key = (row.patient.authority, row.appointment.ref)
            if key in seen:
                errors.append(RowError(line, "appointment_id",
                                       f"same appointment as line {seen[key]}"))
                continue
            seen[key] = line
            rows.append(row)
    except csv.Error:
        errors.append(RowError(reader.reader.line_num, "-", "not CSV"))
    if not rows and not errors:
        errors.append(RowError(0, "-", "no rows"))
    return rows, errors


def file_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def import_schedule(store: FeedStore, rows: Sequence[ScheduleRow], *, source: str,
                          digest: str, now: dt.datetime) -> list[Applied]:
    """Load validated rows in one transaction (all or nothing)."""
    items = [FeedItem(
        source=source, message_id=f"csv:{digest}:{row.line}", kind="csv",
        patient=PatientIn(row.patient.authority or source, row.patient.mrn, row.patient.name,
                          row.patient.phone, row.patient.dob, row.patient.state,
                          row.patient.language),
        appointment=row.appointment, sent_at=now, fields=("last_name", "phone", "mrn"))
        for row in rows]
    return await apply_many(store, items, now)
