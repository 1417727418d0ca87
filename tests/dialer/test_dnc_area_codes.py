"""The national registry copy is kept per area code, as the FTC hands it out.

An organisation downloads the area codes it calls, one file each, and loads them one at a
time (`carrier campaign dnc-import 212.txt`, then `646.txt`). Before: each import replaced
the whole copy, so after the second only 646's numbers were listed (212's registered
numbers were called), and the copy's date, the newest import, made every area code look
fresh. Now an import of area code X replaces X's numbers only, and the gate ages each
number's copy by its own area code's import (64.1200(c)(2): no older than 31 days at dial
time): a number whose area code was never imported, or was imported too long ago, is
refused ``dnc.national.stale_copy`` for a call that is not exempt.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path

import pytest

from carrier.dialer.cli import render_dnc_copies
from carrier.dialer.gate import Consent, Gate, GateFacts, GateRequest
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.records_adapter import RecordsFacts
from carrier.records.store import Records
from tests.dialer.conftest import RULES, START
from tests.dialer.test_campaign_run_e2e import command_env

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]


async def carrier(tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "carrier.cli", *argv, env={**command_env(tmp_path),
                                                          "PYTHONPATH": str(REPO)},
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)  # a real process: bounded
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def marketing(number: str) -> GateRequest:
    """A call the healthcare exemption does not cover: the registry applies."""
    return GateRequest(patient_id="p1", number=number, purpose="marketing",
                       number_given_by_patient=True, free_to_patient=True)


async def test_area_code_files_loaded_one_by_one_all_stay_and_age_on_their_own(
    db_url: str, records: Records, tmp_path: Path
) -> None:
    (tmp_path / "212.txt").write_text("2125550150\n212-555-0151\n")
    (tmp_path / "646.txt").write_text("6465550152\n")
    common = ["--database-url", db_url, "--data-dir", str(tmp_path / "data")]
    first = START.date() - dt.timedelta(days=40)
    rc, out, err = await carrier(tmp_path, "campaign", "dnc-import", str(tmp_path / "212.txt"),
                                 "--copy-date", first.isoformat(), *common)
    assert rc == 0, err
    assert "area code 212" in out
    rc, out, err = await carrier(tmp_path, "campaign", "dnc-import", str(tmp_path / "646.txt"),
                                 "--copy-date", START.date().isoformat(), *common)
    assert rc == 0, err
    assert "area code 646: 1 numbers imported" in out
    assert "555" not in out + err

    # The operator sees which area codes are stale (212's copy: 40+ days by any clock).
    rc, out, err = await carrier(tmp_path, "campaign", "status", *common)
    assert rc == 0, err
    assert "national DNC copy: 2 area code(s)" in out
    assert "STALE, non-exempt calls refused: 212 (" in out

    facts = RecordsFacts(records)
    on_212, on_646 = await facts.dnc("+12125550150"), await facts.dnc("+16465550152")
    assert on_212.national  # before: gone, replaced by 646's file
    assert on_646.national
    assert on_212.national_copy_date == first
    assert on_646.national_copy_date == START.date()
    never = await facts.dnc("+17185550153")  # 718: never imported
    assert (never.national, never.national_copy_date) == (False, None)

    gate = Gate(RULES, PackageHolidays(RULES))
    granted = {"voice": Consent.GRANTED, "voice.written": Consent.GRANTED}

    async def rule(number: str) -> str:
        d = await facts.dnc(number)
        return gate.decide(marketing(number), GateFacts(granted, d.org, d.national,
                                                        d.national_copy_date), START).rule

    assert await rule("+16465550154") == "allowed"  # fresh copy, not listed
    assert await rule("+16465550152") == "dnc.national"
    assert await rule("+12125550155") == "dnc.national.stale_copy"  # 212's copy: 40 days
    assert await rule("+17185550153") == "dnc.national.stale_copy"  # 718: no copy at all

    # A new 212 file replaces 212's numbers only: one taken off the registry is callable.
    (tmp_path / "212.txt").write_text("2125550151\n")
    rc, out, err = await carrier(tmp_path, "campaign", "dnc-import", str(tmp_path / "212.txt"),
                                 "--copy-date", START.date().isoformat(), *common)
    assert rc == 0, err
    assert not (await facts.dnc("+12125550150")).national
    assert (await facts.dnc("+12125550151")).national
    assert (await facts.dnc("+16465550152")).national
    assert await rule("+12125550150") == "allowed"


async def test_a_file_of_several_area_codes_refreshes_each(records: Records) -> None:
    at = dt.datetime.combine(START.date(), dt.time(0), tzinfo=dt.UTC)
    await records.import_national_dnc(["+12125550160", "+16465550161"], source="ftc",
                                      actor="t", at=at - dt.timedelta(days=5))
    await records.import_national_dnc(["+12125550162"], source="ftc", actor="t", at=at)
    old_646 = await records.dnc_status("+16465550161")
    assert old_646.national
    assert old_646.national_imported_at == at - dt.timedelta(days=5)
    assert not (await records.dnc_status("+12125550160")).national
    assert (await records.dnc_status("+12125550162")).national_imported_at == at



def test_the_status_line_names_stale_and_missing_copies() -> None:
    today = dt.date(2026, 11, 17)
    assert "none imported" in render_dnc_copies({}, today)
    line = render_dnc_copies({"212": dt.datetime(2026, 10, 8, tzinfo=dt.UTC),
                              "646": dt.datetime(2026, 10, 17, tzinfo=dt.UTC)}, today)
    assert line == ("national DNC copy: 2 area code(s), oldest 40 days;"
                    " STALE, non-exempt calls refused: 212 (40 days)")


async def test_a_copy_date_in_the_future_is_refused_and_nothing_imported(
    db_url: str, records: Records, tmp_path: Path
) -> None:
    (tmp_path / "212.txt").write_text("2125550150\n")
    common = ["--database-url", db_url, "--data-dir", str(tmp_path / "data")]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).date()
    rc, _, err = await carrier(tmp_path, "campaign", "dnc-import", str(tmp_path / "212.txt"),
                               "--copy-date", future.isoformat(), *common)
    assert rc != 0
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert "--copy-date" in err
    assert "future" in err
    assert not (await RecordsFacts(records).dnc("+12125550150")).national
