"""`carrier campaign status` / `dnc-import` / `run --dry-run` through the real CLI."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from pathlib import Path

import asyncpg
import pytest

from carrier.cli import main
from carrier.dialer.campaign import CampaignPolicy, plan_reminders
from carrier.dialer.cli import bar, render_status
from carrier.dialer.store import CampaignStatus, OutreachStore
from carrier.plugin import AppointmentFact, AppointmentState
from carrier.records.crypto import LocalKek
from carrier.records.store import Records
from tests.dialer.test_runner import seed


def test_bar_and_render() -> None:
    assert bar(5, 10, 10) == "[#####.....]"
    assert bar(0, 0, 4) == "[....]"
    s = CampaignStatus("reminders", 10, 2, 3, 1, 4, 3, 2, 1, 0, 4, {"window.state.FL": 2})
    text = render_status([s], width=10)
    assert "campaign reminders: 10 outreach" in text
    assert "refused window.state.FL [##........]       2 / 10" in text
    assert render_status([]) == "no campaigns yet"


@pytest.fixture
def kek_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARRIER_KEK", base64.b64encode(bytes(range(32))).decode())


@pytest.mark.postgres
@pytest.mark.usefixtures("kek_env")
async def test_dnc_import_then_status(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ftc = tmp_path / "212.txt"
    ftc.write_text("2125550100\n212,5550101\n212-555-0102\n\nnot a number\n2125550100\n")
    common = ["--database-url", db_url, "--data-dir", str(tmp_path)]
    rc = await _in_thread(
        ["campaign", "dnc-import", str(ftc), "--copy-date", "2026-11-10", *common]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "copy of 2026-11-10 for area code 212: 3 numbers imported; 1 unreadable line(s)" in out
    assert "555" not in out
    row = await pool.fetchrow("SELECT imported_at, row_count FROM dnc_national_imports")
    assert (row["imported_at"].date(), row["row_count"]) == (dt.date(2026, 11, 10), 3)

    await seed(pool, 4)
    assert await OutreachStore(pool).stop_appointment("a0", "confirmed", dt.datetime.now(dt.UTC))
    assert await _in_thread(["campaign", "status", *common]) == 0
    out = capsys.readouterr().out
    assert "campaign reminders: 4 outreach" in out
    assert "cancelled" in out
    assert await _in_thread(["campaign", "status", "--json", *common]) == 0
    [reminders] = json.loads(capsys.readouterr().out)
    assert reminders["campaign"] == "reminders"
    assert reminders["total"] == 4


@pytest.mark.postgres
@pytest.mark.usefixtures("kek_env")
async def test_dnc_import_of_an_empty_file_is_refused(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ftc = tmp_path / "empty.txt"
    ftc.write_text("junk\n")
    rc = await _in_thread(["campaign", "dnc-import", str(ftc), "--database-url", db_url])
    assert rc == 1
    assert "no numbers in the FTC format" in capsys.readouterr().err


async def _in_thread(argv: list[str]) -> int:
    # The CLI runs its own event loop (asyncio.run); keep it off the test's loop.
    return await asyncio.to_thread(main, argv)


@pytest.mark.postgres
@pytest.mark.usefixtures("kek_env")
async def test_run_dry_run_gates_without_recording(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = await Records.open(db_url, LocalKek(bytes(range(32))), tmp_path / "spool")
    try:
        pid = await records.add_patient("Test Patient", "+12125550177", actor="t", reason="t")
    finally:
        await records.close()
    now = dt.datetime.now(dt.UTC)
    appt = AppointmentFact("a1", str(pid), now + dt.timedelta(hours=2), AppointmentState.OPEN)
    policy = CampaignPolicy(reminder_offsets=(dt.timedelta(hours=2),))
    await OutreachStore(pool).add(plan_reminders([appt], policy, now), now)
    argv = ["campaign", "run", "--dry-run", "--database-url", db_url, "--data-dir", str(tmp_path)]
    assert await _in_thread(argv) == 0
    out = capsys.readouterr().out
    assert "1 due outreach" in out
    assert "tcpa.consent.missing" in out  # no consent on file for this patient
    assert await pool.fetchval("SELECT count(*) FROM dialer_attempts") == 0
    assert await pool.fetchval("SELECT state FROM dialer_outreach") == "pending"
