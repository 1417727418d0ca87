"""The schedule CSV check: every bad row reported by line and column, nothing loaded from
a file with one bad row. Malformed inputs come in two sets: ``dev`` (the checker was
written against these) and ``held_out`` (written beside them and never tuned to; the
report gives its score)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from carrier.console.schedule_csv import check

TODAY = dt.date(2026, 12, 5)
HEADER = "name,phone,dob,member_id,state,time_zone,appointment_id,starts_at,ends_at,provider"
GOOD = ("Testa Patientson,+15555550101,1970-01-01,SYN-1,CA,America/Los_Angeles,"
        "A-1,2026-12-10T09:00:00-08:00,2026-12-10T09:30:00-08:00,dr-a")
VECTORS = Path(__file__).parent / "vectors"


def test_a_good_file_gives_typed_rows() -> None:
    data = f"{HEADER}\n{GOOD}\nOther Synthetic,(555) 555-0102,,,,,,,,\n".encode()
    rows, problems = check(data, today=TODAY)
    assert problems == []
    assert [r.phone for r in rows] == ["+15555550101", "+15555550102"]
    a = rows[0].appointment
    assert a is not None
    assert a.id == "A-1"
    assert a.ends_at - a.starts_at == dt.timedelta(minutes=30)
    assert rows[1].appointment is None
    assert rows[1].dob is None
    assert "Testa" not in repr(rows[0])


def test_every_bad_row_is_reported_and_no_row_is_returned() -> None:
    data = "\n".join([
        HEADER, GOOD,
        "No Phone,,,,,,,,,",
        "Bad Dob,+15555550103,1970-13-01,,,,,,,",
        "Half Appt,+15555550104,,,,,A-2,2026-12-10T09:00:00-08:00,,",
        "Dup Appt,+15555550105,,,,,A-1,2026-12-11T09:00:00Z,2026-12-11T09:30:00Z,",
        GOOD.replace("A-1", "A-3").replace("Testa", "Fine"),
    ]).encode()
    rows, problems = check(data, today=TODAY)
    assert rows == []
    assert [(p.line, p.column) for p in problems] == [
        (3, "phone"), (4, "dob"), (5, "ends_at"), (6, "appointment_id")]
    text = " ".join(str(p) for p in problems)
    assert "1970-13-01" not in text
    assert "+1555555010" not in text


def _cases(name: str) -> list[tuple[str, list[list[object]]]]:
    raw = json.loads((VECTORS / f"schedule_csv_{name}.json").read_text())
    return [(c["csv"], c["expect"]) for c in raw]


@pytest.mark.parametrize(("csv_text", "expect"), _cases("dev"))
def test_dev_malformed_inputs(csv_text: str, expect: list[list[object]]) -> None:
    rows, problems = check(csv_text.encode(), today=TODAY)
    assert rows == []
    assert [[p.line, p.column] for p in problems] == expect


def test_held_out_malformed_inputs() -> None:
    """Scored, and must all pass: the set the checker was not written against."""
    cases = _cases("held_out")
    missed = []
    for csv_text, expect in cases:
        rows, problems = check(csv_text.encode(), today=TODAY)
        if rows or [[p.line, p.column] for p in problems] != expect:
            missed.append((csv_text, [str(p) for p in problems]))
    assert not missed, f"{len(cases) - len(missed)}/{len(cases)} held-out cases: {missed}"


def test_not_utf8_and_empty_files() -> None:
    assert [str(p) for p in check(b"\xff\xfe\x00", today=TODAY)[1]] == ["file: not UTF-8 text"]
    assert [str(p) for p in check(b"", today=TODAY)[1]] == ["file: empty file"]
    assert [str(p) for p in check(f"{HEADER}\n".encode(), today=TODAY)[1]] == ["file: no rows"]
