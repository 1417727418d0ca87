"""Checking a clinic's patients-and-appointments CSV before anything of it is loaded.

:func:`check` reads the whole file and returns every row as a typed :class:`Row`, or every
problem found (file-level and per row, with the line number and column), never both: a
file with one bad row loads nothing. Problems name the line, the column and the reason,
never the cell's value (it may be PHI).

Columns (header row required, order free, names case-insensitive):

* ``name``, ``phone`` (required): the patient; the phone must be a whole number of the
  clinic's country ``region`` (E.164, or national with its area code);
* ``dob`` (``YYYY-MM-DD``, not in the future), ``member_id``, ``state`` (two letters),
  ``time_zone`` (IANA name): optional;
* ``appointment_id``, ``starts_at``, ``ends_at`` (ISO 8601 with a UTC offset),
  ``provider``: an appointment for that patient, all three of the first set together.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import phonenumbers

REQUIRED = ("name", "phone")
OPTIONAL = ("dob", "member_id", "state", "time_zone", "appointment_id", "starts_at",
            "ends_at", "provider")
APPOINTMENT = ("appointment_id", "starts_at", "ends_at")
MAX_ROWS = 20_000
MAX_BYTES = 8 * 1024 * 1024
_STATE = re.compile(r"[A-Z]{2}")
_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass(frozen=True)
class Problem:
    line: int  # 1 is the header; 0 for the file as a whole
    column: str
    reason: str

    def __str__(self) -> str:
        where = "file" if self.line == 0 else f"line {self.line}"
        return f"{where}{', ' + self.column if self.column else ''}: {self.reason}"


@dataclass(frozen=True)
class Appointment:
    id: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    provider: str


@dataclass(frozen=True)
class Row:
    line: int
    name: str
    phone: str  # E.164
    dob: dt.date | None
    member_id: str | None
    state: str | None
    time_zone: str | None
    appointment: Appointment | None

    def __repr__(self) -> str:  # never print PHI by accident
        return f"Row(line={self.line})"


def _phone(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    # "possible", not "valid": numbering plans lag behind, and 555 numbers are synthetic.
    # A local-only number (no area code) cannot be dialled; a number of another country
    # is outside the calling rules the gate knows (the clinic's country).
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    if phonenumbers.region_code_for_country_code(number.country_code or 0) != region:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _when(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _zone(text: str) -> bool:
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _row(line: int, cells: dict[str, str], today: dt.date, region: str,
         out: list[Problem]) -> Row | None:
    before = len(out)

    def bad(column: str, reason: str) -> None:
        out.append(Problem(line, column, reason))

    if not cells.get("name"):
        bad("name", "missing")
    elif len(cells["name"]) > 200:
        bad("name", "longer than 200 characters")
    phone = _phone(cells.get("phone", ""), region) if cells.get("phone") else None
    if not cells.get("phone"):
        bad("phone", "missing")
    elif phone is None:
        bad("phone", "not a valid phone number")
    dob = None
    if cells.get("dob"):
        try:
            dob = dt.date.fromisoformat(cells["dob"])
        except ValueError:
            bad("dob", "not a date (YYYY-MM-DD)")
        else:
            if dob > today:
                bad("dob", "in the future")
    if cells.get("state") and not _STATE.fullmatch(cells["state"]):
        bad("state", "not two capital letters")
    if cells.get("time_zone") and not _zone(cells["time_zone"]):
        bad("time_zone", "not an IANA time zone name")
    appointment = _appointment(cells, bad)
    if len(out) > before:
        return None
    assert phone is not None
    return Row(line, cells["name"], phone, dob, cells.get("member_id") or None,
               cells.get("state") or None, cells.get("time_zone") or None, appointment)


def _appointment(cells: dict[str, str], bad: Callable[[str, str], None]
                 ) -> Appointment | None:
    given = [c for c in APPOINTMENT if cells.get(c)]
    if not given and not cells.get("provider"):
        return None
    for column in APPOINTMENT:
        if not cells.get(column):
            bad(column, "missing (an appointment needs appointment_id, starts_at, ends_at)")
    if cells.get("appointment_id") and not _ID.fullmatch(cells["appointment_id"]):
        bad("appointment_id", "letters, digits and . _ : - only, at most 64")
    start = _when(cells["starts_at"]) if cells.get("starts_at") else None
    end = _when(cells["ends_at"]) if cells.get("ends_at") else None
    for column, value in (("starts_at", start), ("ends_at", end)):
        if cells.get(column) and value is None:
            bad(column, "not an ISO 8601 time with a UTC offset")
    if start and end and end <= start:
        bad("ends_at", "not after starts_at")
    if start is None or end is None or not cells.get("appointment_id"):
        return None
    return Appointment(cells["appointment_id"], start, end,
                       cells.get("provider") or "unassigned")


def _header(reader: Iterator[list[str]]) -> tuple[list[str], list[Problem]]:
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return [], [Problem(0, "", "empty file")]
    except csv.Error:
        return [], [Problem(1, "", "not CSV")]
    problems = [Problem(1, c, "required column missing") for c in REQUIRED if c not in header]
    problems += [Problem(1, c, "unknown column") for c in header
                 if c not in REQUIRED + OPTIONAL]
    problems += [Problem(1, c, "column named twice") for c in sorted(set(header))
                 if header.count(c) > 1]
    return header, problems


def check(data: bytes, *, today: dt.date, region: str = "US"
          ) -> tuple[list[Row], list[Problem]]:
    """Every row, or every problem (then no rows)."""
    if len(data) > MAX_BYTES:
        return [], [Problem(0, "", f"larger than {MAX_BYTES // (1024 * 1024)} MB")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [Problem(0, "", "not UTF-8 text")]
    reader = csv.reader(io.StringIO(text, newline=""))
    header, problems = _header(reader)
    if problems:
        return [], problems
    rows: list[Row] = []
    seen: dict[str, int] = {}
    try:
        for line, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue  # blank lines are not rows
            if len(rows) + len(problems) >= MAX_ROWS:
                return [], [Problem(0, "", f"more than {MAX_ROWS} rows")]
            if len(cells) != len(header):
                problems.append(Problem(line, "", f"{len(cells)} cells for "
                                                  f"{len(header)} columns"))
                continue
            row = _row(line, {h: c.strip() for h, c in zip(header, cells, strict=True)},
                       today, region, problems)
            if row is not None and row.appointment is not None:
                first = seen.setdefault(row.appointment.id, line)
                if first != line:
                    problems.append(Problem(line, "appointment_id",
                                            f"already on line {first}"))
                    continue
            if row is not None:
                rows.append(row)
    except csv.Error as exc:
        problems.append(Problem(reader.line_num, "", f"not CSV ({exc})"))
    if not rows and not problems:
        problems.append(Problem(0, "", "no rows"))
    return ([], problems) if problems else (rows, [])
