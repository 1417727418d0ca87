"""CSV schedule import: the pure validator (every error by line and column, never a value)
and ``carrier schedule import`` as an operator runs it (one transaction per file)."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from pathlib import Path

import asyncpg
import pytest

from carrier.feeds.csv_import import validate_schedule_csv

REPO = Path(__file__).resolve().parents[2]
HEADER = "mrn,first_name,last_name,phone,dob,state,appointment_id,start,duration_min," \
         "provider_id,status\n"
GOOD = HEADER + (
    "M1,Testa,Patience,(555) 555-0101,1970-01-01,CA,A1,2030-01-07T09:00,30,DR1,booked\n"
    "M2,Sample,Sam,555-555-0102,,NY,A2,2030-01-07 10:00-05:00,,DR1,\n"
    "M1,Testa,Patience,(555) 555-0101,1970-01-01,CA,A3,2030-01-08T09:00,20,DR2,cancelled\n")


def test_validator_accepts_a_good_file() -> None:
    rows, errors = validate_schedule_csv(GOOD)
    assert errors == []
    assert [r.appointment.ref for r in rows] == ["A1", "A2", "A3"]
    assert rows[0].patient.phone == "+15555550101"
    assert rows[0].appointment.starts_at.utcoffset() is not None  # the default zone
    assert (rows[0].appointment.ends_at - rows[0].appointment.starts_at).seconds == 1800
    assert str(rows[1].appointment.starts_at.utcoffset()) == "-1 day, 19:00:00"


def test_validator_lists_every_error_by_line_without_values() -> None:
    text = HEADER + (
        ",Testa,Patience,(555) 555-0101,1970-01-01,CA,A1,2030-01-07T09:00,30,DR1,booked\n"
        "M2,Sample,Sam,12,1970-13-01,California,A2,tomorrow,0,DR1,maybe\n"
        "M3,Ok,Row,555-555-0103,,,A3,2030-01-07T09:00,,,\n"
        "M4,Dup,Row,555-555-0104,,,A3,2030-01-07T11:00,,,\n")
    rows, errors = validate_schedule_csv(text)
    got = sorted((e.line, e.column) for e in errors)
    assert got == [(2, "mrn"), (3, "dob"), (3, "phone"), (3, "start"), (3, "state"),
                   (3, "status"), (5, "appointment_id")]
    assert [r.appointment.ref for r in rows] == ["A3"]
    assert all("555" not in str(e) and "California" not in str(e) for e in errors)


def test_validator_refuses_a_bad_header() -> None:
    rows, errors = validate_schedule_csv("mrn,phone,colour\nM1,555-555-0101,red\n")
    assert rows == []
    assert [(e.line, e.message) for e in errors] == [(1, "required column missing"),
                                                     (1, "unknown column")]


def _env() -> dict[str, str]:
    return {**os.environ, "CARRIER_KEK": base64.b64encode(bytes(range(32))).decode(),
            "CARRIER_AGENT__SEED_DEMO": "false"}


async def _carrier(*args: str, cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "carrier.cli", "--config-dir", str(REPO / "config"), *args,
        env=_env(), cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    # Bounded wait on the outside process (the operator's command).
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.postgres
async def test_schedule_import_command_is_all_or_nothing(db_url: str, tmp_path: Path) -> None:
    db = ["--database-url", db_url, "--data-dir", str(tmp_path / "var")]
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD + "M9,X,Y,555-555-0109,,,A9,not-a-time,,,\n")
    code, out, err = await _carrier("schedule", "import", str(bad), *db, cwd=tmp_path)
    assert code == 1
    assert "line 5, start" in err
    assert "nothing loaded" in err
    conn = await asyncpg.connect(db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM sched_appointments") == 0
        good = tmp_path / "good.csv"
        good.write_text(GOOD)
        code, out, err = await _carrier("schedule", "import", str(good), *db, cwd=tmp_path)
        assert code == 0, err
        assert "imported 3 rows in one transaction (2 new patients" in out
        rows = await conn.fetch("SELECT id, status FROM sched_appointments ORDER BY id")
        assert [(r["id"], r["status"]) for r in rows] == [
            ("feed:csv:A1", "booked"), ("feed:csv:A2", "booked"), ("feed:csv:A3", "cancelled")]
        assert await conn.fetchval("SELECT count(*) FROM patients") == 2
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action LIKE 'feed.appointment.%'")
        assert audited == 3
        code, out, err = await _carrier("schedule", "import", str(good), *db, cwd=tmp_path)
        assert code == 0, err
        assert "imported 0 rows" in out  # the same file again changes nothing
    finally:
        await conn.close()
