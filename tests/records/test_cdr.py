"""Call detail records in the records store (issue 15, "Call records"): masking, the
search the console and the CLI use, CSV, the gate's refusals, an outage (spooled, then
landed once), and ``carrier calls list`` run as an operator runs it."""

from __future__ import annotations

import asyncio
import base64
import csv
import datetime as dt
import io
import json
import os
import subprocess
import uuid
from pathlib import Path

import asyncpg
import pytest

from carrier.cli import main
from carrier.dialer.gate import Decision, GateRequest
from carrier.dialer.records_adapter import RecordsDecisionRecorder
from carrier.records.cdr import CallDetail, CdrQuery, cdr_csv, mask_number
from carrier.records.crypto import LocalKek
from carrier.records.store import Records
from tests.ops.live import carrier_command

pytestmark = pytest.mark.postgres

T0 = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)


def detail(call_id: str, minutes: int, **kw: object) -> CallDetail:
    start = T0 + dt.timedelta(minutes=minutes)
    base: dict[str, object] = {
        "call_id": call_id, "direction": "outbound", "started_at": start,
        "ended_at": start + dt.timedelta(seconds=40), "hangup_cause": "local_bye",
        "from_number": "+15550100100", "to_number": "+15550100124", "trunk": "t1",
        "answered_at": start + dt.timedelta(seconds=5), "sip_status": 200, "codec": "PCMU",
        "outcome": "confirmed", "workflow": "appointment_reminder"}
    base.update(kw)
    return CallDetail(**base)  # type: ignore[arg-type]


def test_numbers_are_masked_and_csv_cells_are_safe() -> None:
    d = detail("c1", 0, transfer_target="tel:+15550100199", outcome="=HYPERLINK(1)")
    assert (d.from_number, d.to_number) == ("***0100", "***0124")
    assert d.transfer_target == "tel:***0199"
    assert detail("c3", 0, transfer_target="sip:+15550100199@10.0.0.9:5060").transfer_target \
        == "sip:***0199@10.0.0.9:5060"
    assert detail("c4", 0, transfer_target="front_desk").transfer_target == "front_desk"
    assert mask_number("anonymous") == "***"
    assert d.duration_s == 35.0
    text = cdr_csv([d])
    assert "+1555" not in text
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["outcome"] == "'=HYPERLINK(1)"  # no formula reaches a spreadsheet
    assert row["to_number"] == "***0124"
    with pytest.raises(ValueError, match="hangup cause"):
        detail("c2", 0, hangup_cause="whatever")


@pytest.mark.parametrize("lead", ["\t", "\r"], ids=["tab", "carriage return"])
def test_a_cell_starting_with_a_tab_or_carriage_return_is_no_formula(lead: str) -> None:
    """OWASP's CSV injection list names tab and carriage return besides = + - @: a
    spreadsheet that trims the cell's leading whitespace then reads the formula. Before,
    only = + - @ were guarded, and a carriage return went out unquoted (the writer's line
    end was "\n" alone), so a spreadsheet ended the row there: the rest a row of its own."""
    text = cdr_csv([detail("c1", 0, outcome=f"{lead}=HYPERLINK(1)")])
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == 1
    assert rows[0]["outcome"] == f"'{lead}=HYPERLINK(1)"


async def test_search_filters_and_pages(records: Records) -> None:
    await records.record_cdr(detail("a", 0))
    await records.record_cdr(detail("b", 1, sip_status=486, hangup_cause="busy",
                                    outcome="busy", answered_at=None, to_number="+15550100777"))
    await records.record_cdr(detail("c", 2, direction="inbound", from_number="+15550100124",
                                    to_number="+15550100100", hangup_cause="remote_bye"))
    await records.record_cdr(detail("a", 9))  # written twice (a replay): still one row
    every = await records.search_calls(CdrQuery())
    assert [d.call_id for d in every] == ["c", "b", "a"]  # newest first
    assert [d.call_id for d in await records.search_calls(CdrQuery(sip_status=486))] == ["b"]
    assert [d.call_id for d in await records.search_calls(
        CdrQuery(number_suffix="0124"))] == ["c", "a"]
    assert [d.call_id for d in await records.search_calls(
        CdrQuery(direction="inbound", hangup_cause="remote_bye"))] == ["c"]
    assert [d.call_id for d in await records.search_calls(
        CdrQuery(since=T0 + dt.timedelta(minutes=1), until=T0 + dt.timedelta(minutes=2)))] \
        == ["b"]
    assert [d.call_id for d in await records.search_calls(CdrQuery(limit=1, offset=1))] == ["b"]
    assert [d.call_id for d in await records.search_calls(CdrQuery(outcome="busy"))] == ["b"]
    (a,) = [d for d in every if d.call_id == "a"]
    assert a == detail("a", 0)  # what was written reads back the same


async def test_a_gate_refusal_is_a_cdr_with_the_decision_reference(records: Records) -> None:
    request = GateRequest(patient_id=str(uuid.uuid4()), number="+15550100124",
                          purpose="appointment_reminder", number_given_by_patient=True,
                          free_to_patient=True)
    decision = Decision(allowed=False, rule="tcpa.consent.revoked", reason="revoked")
    ref = await RecordsDecisionRecorder(records).record(request, decision, outreach_id=7, at=T0)
    assert ref is not None
    (cdr,) = await records.search_calls(CdrQuery(hangup_cause="gate_refused"))
    assert (cdr.outcome, cdr.gate_ref, cdr.to_number) == ("tcpa.consent.revoked", ref, "***0124")
    assert cdr.sip_status is None
    assert cdr.answered_at is None
    assert await records.pool.fetchval(
        "SELECT action FROM audit_log WHERE entry_id = $1", uuid.UUID(ref)) == "dial.decision"


async def test_a_cdr_written_during_an_outage_lands_once_after(
        make_cluster, tmp_path: Path, test_kek: LocalKek) -> None:
    cluster = make_cluster()
    conn = await asyncpg.connect(cluster.uri())
    from carrier.records.migrate import migrate, plan  # noqa: PLC0415

    await migrate(conn, plan())
    await conn.close()
    records = await Records.open(cluster.uri(), test_kek, tmp_path / "spool",
                                 retry_interval=3600)  # replay only when asked
    try:
        await asyncio.to_thread(cluster.stop)
        await records.record_cdr(detail("outage-1", 0))  # returns: fsync'd in the spool
        assert records.outbox.spooled == 1
        assert not await records.drain_spool()  # still down: kept
        await asyncio.to_thread(cluster.start)
        assert await records.drain_spool()
        await records.record_cdr(detail("outage-1", 0))  # a repeat changes nothing
        rows = await records.search_calls(CdrQuery())
        assert [d.call_id for d in rows] == ["outage-1"]
    finally:
        await records.close()


def test_calls_list_command(db_url: str, tmp_path: Path, test_kek: LocalKek) -> None:
    async def seed() -> None:
        records = await Records.open(db_url, test_kek, tmp_path / "seed-spool")
        try:
            await records.record_cdr(detail("x1", 0))
            await records.record_cdr(detail("x2", 5, sip_status=486, hangup_cause="busy",
                                            outcome="busy", answered_at=None))
        finally:
            await records.close()

    asyncio.run(seed())
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CARRIER_")},
           "CARRIER_DATABASE_URL": db_url,
           "CARRIER_DATA_DIR": str(tmp_path / "var"),
           "CARRIER_KEK": base64.b64encode(test_kek.secret).decode()}

    def carrier(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*carrier_command(), "calls", "list", *argv],
                              env=env, capture_output=True, text=True, timeout=60, check=False)

    listed = carrier("--since", "2026-12-01", "--json")
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert [c["call_id"] for c in doc["calls"]] == ["x2", "x1"]
    assert doc["calls"][0]["sip_status"] == 486
    busy = carrier("--outcome", "busy", "--csv")
    assert busy.returncode == 0, busy.stderr
    rows = list(csv.DictReader(io.StringIO(busy.stdout)))
    assert [r["call_id"] for r in rows] == ["x2"]
    assert rows[0]["to_number"] == "***0124"
    assert "+1555" not in busy.stdout



def test_calls_list_in_words_and_refusals(db_url: str, tmp_path: Path, test_kek: LocalKek,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CARRIER_DATABASE_URL", db_url)
    monkeypatch.setenv("CARRIER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CARRIER_KEK", base64.b64encode(test_kek.secret).decode())
    assert main(["calls", "list", "--since", "2030-01-01"]) == 0
    assert "no calls match" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["calls", "list", "--since", "yesterday"])
    assert main(["calls", "list", "--number", "abc"]) != 0


def test_every_failed_dial_outcome_is_a_hangup_cause_a_cdr_accepts() -> None:
    """The gateway names a failed dial's CDR by ``cdr_points._FAILED``; a cause missing from
    ``CAUSES`` (``too_late`` was) would raise when that CDR is built, losing it."""
    from carrier.call import DialOutcome  # noqa: PLC0415
    from carrier.cdr_points import _FAILED  # noqa: PLC0415
    from carrier.records.cdr import CAUSES  # noqa: PLC0415

    assert set(_FAILED) == set(DialOutcome)
    assert set(_FAILED.values()) <= CAUSES
