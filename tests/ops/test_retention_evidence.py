"""Retention of dialing and billing evidence: ``retention.dial_evidence_days`` (the dialer's
decisions and outreach rows, the agent's past appointments) and ``retention.call_record_days``
(call records, call detail records), run by ``carrier retention run`` as an operator runs it
and by ``carrier serve``'s daily pass (one policy, :func:`carrier.upkeep.policy_of`).

Before: nothing ever purged those tables (patient ids with times, kept for ever); a period
below the legal minimum was accepted (``--audit-days 30`` silently became six years; a
``transcript_days: 0`` loaded and then failed every daily pass); and the purge counts were
audited only after every table was purged, so a run killed half-way left purged rows with
no audit entry. Now each period has a legal floor refused at start and on the command line
with the key and the reason, every table is purged in one transaction with its audit entry
(counts only), consent, do-not-call and the audit chain survive (``audit verify`` passes),
and an appointment still ahead or an open staff task is never touched.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import asyncpg
import pytest
import yaml

from agent.runtime import VoiceAgent
from carrier.errors import ConfigError
from carrier.records.store import Channel, ConsentKind, Records, verify_chain
from carrier.settings import RetentionSettings, Settings, load_settings
from carrier.upkeep import retention_pass
from tests.conftest import TEST_KEK
from tests.ops.conftest import Operator
from tests.ops.live import carrier_command, one_line_error

pytestmark = pytest.mark.postgres
T = TypeVar("T")
NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
# the settings these tests configure, and ages either side of each
DIAL_DAYS, CALL_DAYS = 1500, 1600
DIAL_OLD, DIAL_NEW = NOW - 1550 * DAY, NOW - 1450 * DAY
CALL_OLD, CALL_NEW = NOW - 1650 * DAY, NOW - 1550 * DAY
LEDGER_OLD = NOW - 7 * 366 * DAY


def run(fn: Callable[[asyncpg.Connection], Awaitable[T]], url: str) -> T:
    async def go() -> T:
        conn = await asyncpg.connect(url)
        try:
            return await fn(conn)
        finally:
            await conn.close()

    return asyncio.run(go())


async def seed_ledgers(db_url: str, spool: Path) -> str:
    """Old audit rows first in the chain (a prefix retention may drop), a consent that is
    still the patient's word and one superseded, both seven years old, and an old opt-out."""
    records = await Records.open(db_url, TEST_KEK, spool)
    try:
        for _ in range(3):
            await records.audit("t", "patient.read", ("patient", uuid4()), "care", at=LEDGER_OLD)
        pid = await records.add_patient("Testa Patientson", "+15550100142", actor="t",
                                        reason="fixture")
        for kind in (ConsentKind.TCPA_EXPRESS_WRITTEN, ConsentKind.TCPA_EXPRESS_WRITTEN):
            await records.consent_grant(pid, Channel.VOICE, kind, source="web_form",
                                        evidence_ref="form-1", actor="t", at=LEDGER_OLD)
        await records.dnc_add("+15550100143", source="call", actor="t", reason="opt-out",
                                at=LEDGER_OLD)
        return str(pid)
    finally:
        await records.close()


async def seed(db: asyncpg.Connection) -> None:
    """Dial evidence and call records either side of the configured periods, plus what no
    purge may touch: an outreach still pending, an appointment ahead, an open staff task."""
    await db.execute("INSERT INTO dialer_campaigns (id, purpose) VALUES ('c', 'reminder')")
    await db.execute("INSERT INTO sched_providers (id, name) VALUES ('dr', 'Dr Proba')")
    for name, at, state, attempt_at in (
        ("old", DIAL_OLD, "done", DIAL_OLD),          # goes with its attempt
        ("old-recent-try", DIAL_OLD, "done", DIAL_NEW),  # its attempt is recent: kept
        ("new", DIAL_NEW, "done", DIAL_NEW),
        ("pending", DIAL_OLD, "pending", None),       # open work: never evidence to purge
    ):
        oid = await db.fetchval(
            "INSERT INTO dialer_outreach (campaign_id, appointment_id, patient_id, purpose,"
            " label, due_at, not_after, state, created_at, updated_at) VALUES ('c', $1, 'p-1',"
            " 'reminder', '24h', $2, $2, $3, $2, $2) RETURNING id", f"a-{name}", at, state)
        if attempt_at is not None:
            await db.execute(
                "INSERT INTO dialer_attempts (outreach_id, patient_id, subject, at, allowed,"
                " rule, lease_token) VALUES ($1, 'p-1', 'reminder', $2, true, 'ok', $3)",
                oid, attempt_at, uuid4())
    for name, start in (("old", DIAL_OLD), ("new", DIAL_NEW), ("ahead", NOW + 30 * DAY)):
        await db.execute(
            "INSERT INTO sched_appointments (id, patient_id, provider_id, start_at, end_at,"
            " status, updated_at) VALUES ($1, 'p-1', 'dr', $2, $3, 'booked', $2)",
            f"a-{name}", start, start + dt.timedelta(minutes=30))
    for name, at in (("old", CALL_OLD), ("new", CALL_NEW)):
        await db.execute("INSERT INTO call_records (call_id, direction, started_at, ended_at)"
                         " VALUES ($1, 'outbound', $2, $2)", f"call-{name}", at)
        await db.execute("INSERT INTO call_details (call_id, direction, started_at, ended_at,"
                         " hangup_cause) VALUES ($1, 'outbound', $2, $2, 'remote_bye')",
                         f"call-{name}", at)
    await db.execute("INSERT INTO staff_tasks (kind, queue, patient_id, status, created_at)"
                     " VALUES ('callback', 'front_desk', 'p-1', 'open', $1)", CALL_OLD)


async def left(db: asyncpg.Connection) -> dict[str, Any]:
    async def ids(sql: str) -> list[str]:
        return sorted(str(r[0]) for r in await db.fetch(sql))

    return {
        "attempts": await db.fetchval("SELECT count(*) FROM dialer_attempts"),
        "outreach": await ids("SELECT appointment_id FROM dialer_outreach"),
        "appointments": await ids("SELECT id FROM sched_appointments"),
        "call_records": await ids("SELECT call_id FROM call_records"),
        "call_details": await ids("SELECT call_id FROM call_details"),
        "open_tasks": await db.fetchval("SELECT count(*) FROM staff_tasks WHERE status = 'open'"),
        "dnc": await db.fetchval("SELECT count(*) FROM dnc_org"),
        "consent": await db.fetchval("SELECT count(*) FROM consent_ledger"),
    }


AFTER = {
    "attempts": 2,  # the two recent ones
    "outreach": ["a-new", "a-old-recent-try", "a-pending"],
    "appointments": ["a-ahead", "a-new"],
    "call_records": ["call-new"],
    "call_details": ["call-new"],
    "open_tasks": 1,
    "dnc": 1,
    "consent": 1,  # the superseded grant goes, the patient's latest word stays
}


def configure(operator: Operator, **retention: int) -> None:
    main = operator.cfg / "carrier.yaml"
    doc = yaml.safe_load(main.read_text())
    doc["retention"].update(retention)
    main.write_text(yaml.safe_dump(doc))


async def purges(db: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in await db.fetch("SELECT record_id, details FROM audit_log"
                            " WHERE action = 'retention.purge' ORDER BY seq"):
        out.setdefault(r["record_id"], []).append(json.loads(r["details"]))
    return out


def test_the_command_purges_evidence_by_the_settings_and_keeps_what_is_evidence(
        operator: Operator, db_url: str, tmp_path: Path) -> None:
    asyncio.run(seed_ledgers(db_url, tmp_path / "fixture-spool"))
    run(seed, db_url)
    configure(operator, dial_evidence_days=DIAL_DAYS, call_record_days=CALL_DAYS)
    assert operator.run("audit", "checkpoint").code == 0  # a signed head before the purge
    done = operator.run("retention", "run", "--json")
    assert done.code == 0, done.err
    assert run(left, db_url) == AFTER
    rows = {r["table"]: r["rows"] for r in json.loads(done.out)["results"]}
    assert rows["dialer_attempts"] == rows["dialer_outreach"] == 1
    assert rows["sched_appointments"] == 1
    assert rows["call_details"] == rows["call_records"] == 1
    assert rows["audit_log"] == 3
    assert rows["consent_ledger"] == 1
    audited = run(purges, db_url)
    assert {t: [d["rows"] for d in ds] for t, ds in audited.items()} == {
        t: [n] for t, n in rows.items() if n}
    for details in audited.values():  # counts and cutoffs, nothing about a patient
        assert set(details[0]) == {"rows", "cutoff"}
    for check in (("audit", "verify-chain"), ("audit", "verify"), ("consent", "verify")):
        done = operator.run(*check)
        assert done.code == 0, (check, done.out, done.err)
    # the same periods again: nothing left to purge, nothing audited
    again = operator.run("retention", "run", "--json")
    assert all(r["rows"] == 0 for r in json.loads(again.out)["results"])
    assert run(left, db_url) == AFTER


def test_the_daily_pass_purges_what_the_command_purges(db_url: str, tmp_path: Path) -> None:
    asyncio.run(seed_ledgers(db_url, tmp_path / "fixture-spool"))
    run(seed, db_url)

    async def daily(now: dt.datetime, **days: int) -> None:
        records = await Records.open(db_url, TEST_KEK, tmp_path / "spool")
        try:
            agent = VoiceAgent()
            await retention_pass(records, Settings(retention=RetentionSettings(**days)), now,
                                 text_tables=agent.retained_tables,
                                 evidence_tables=agent.evidence_tables)
        finally:
            await records.close()

    asyncio.run(daily(NOW))  # the defaults (six years): all of it is younger
    assert run(left, db_url)["call_records"] == ["call-new", "call-old"]
    asyncio.run(daily(NOW, dial_evidence_days=DIAL_DAYS, call_record_days=CALL_DAYS))
    assert run(left, db_url) == AFTER
    # a clock twenty years on: all evidence has expired by it, but the appointment ahead by
    # the database's clock, the pending outreach and the open task stay, and so does the
    # dialer's evidence younger than four years by the database's clock (purge_evidence()
    # never deletes it, whatever the caller's clock says: migration 0841), the agent's
    # appointments alike (purge_app_evidence(), migration 0845)
    asyncio.run(daily(NOW + 20 * 366 * DAY, dial_evidence_days=DIAL_DAYS,
                      call_record_days=CALL_DAYS))
    after = run(left, db_url)
    assert after["appointments"] == ["a-ahead", "a-new"]
    assert after["outreach"] == ["a-new", "a-old-recent-try", "a-pending"]
    assert after["attempts"] == 2
    assert (after["open_tasks"], after["dnc"], after["consent"]) == (1, 1, 1)
    assert after["call_records"] == after["call_details"] == []
    for chain in ("audit", "consent"):
        assert run(lambda c, ch=chain: verify_chain(c, ch), db_url) == []


@pytest.mark.parametrize(("key", "value", "words"), [
    ("dial_evidence_days", 1460, ("legal minimum of 1461 days", "TCPA")),
    ("call_record_days", 30, ("legal minimum of 1461 days", "TCPA")),
    ("audit_days", 2191, ("legal minimum of 2192 days", "164.316")),
    ("transcript_days", 0, ("at least 1 day",)),
    ("transcript_days", 3000, ("longer than retention.call_record_days",)),
    ("call_record_days", 3000, ("longer than retention.audit_days",)),
])
def test_a_period_below_the_law_is_refused_at_start(tmp_path: Path, key: str, value: int,
                                                     words: tuple[str, ...]) -> None:
    (tmp_path / "carrier.yaml").write_text(f"retention:\n  {key}: {value}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path, env={})
    assert err.value.file == str(tmp_path / "carrier.yaml")
    assert err.value.key == f"retention.{key}"
    for word in words:
        assert word in err.value.reason


@pytest.mark.parametrize("argv", [
    ("--call-record-days", "30"),
    ("--dial-evidence-days", "1460"),
    ("--audit-days", "30"),  # before: silently raised to six years
    ("--consent-days", "365"),
    ("--transcript-days", "3000"),  # would outlive the call records it hangs off
    ("--target", "call_transcripts:3000"),
])
def test_an_operator_asking_for_less_than_the_law_is_refused(
        operator: Operator, db_url: str, argv: tuple[str, ...]) -> None:
    run(seed, db_url)
    line = one_line_error(operator.run("retention", "run", *argv))
    assert ("legal minimum" in line) or ("longer than" in line), line
    assert run(left, db_url)["call_records"] == ["call-new", "call-old"]
    assert run(purges, db_url) == {}


def _waiting_on(table: str) -> Callable[[asyncpg.Connection], Awaitable[int | None]]:
    async def pid(db: asyncpg.Connection) -> int | None:
        return await db.fetchval(
            "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE c.relname = $1 AND NOT l.granted LIMIT 1", table)
    return pid


async def _blocked_run(operator: Operator, db_url: str,
                       act: Callable[[asyncio.subprocess.Process, asyncpg.Connection, int],
                                     Awaitable[None]], table: str = "call_details"
                       ) -> tuple[int, str]:
    """``carrier retention run`` started while this test holds ``table`` locked, so it
    stops inside that table's purge (``call_details``: after the dialer's tables); ``act``
    then interrupts it (its process, its backend) before the lock is let go."""
    holder = await asyncpg.connect(db_url)
    tx = holder.transaction()
    await tx.start()
    await holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    proc = await asyncio.create_subprocess_exec(
        *carrier_command(), "--config-dir", str(operator.cfg), "retention", "run",
        cwd=operator.cwd, env=operator.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        watcher = await asyncpg.connect(db_url)
        try:
            deadline = time.monotonic() + 120
            while (backend := await _waiting_on(table)(watcher)) is None:
                assert proc.returncode is None, await proc.communicate()
                assert time.monotonic() < deadline, f"the run never reached {table}"
                await asyncio.sleep(0.05)  # polls the server for a state, not a timing
            await act(proc, watcher, backend)
            await tx.rollback()
            while await watcher.fetchval("SELECT count(*) FROM pg_stat_activity"
                                         " WHERE pid = $1", backend):
                assert time.monotonic() < deadline, "the interrupted backend lingers"
                await asyncio.sleep(0.05)
        finally:
            await watcher.close()
        async with asyncio.timeout(120):  # it ends by itself once interrupted
            _, err = await proc.communicate()
    finally:
        await holder.close()
        if proc.returncode is None:  # the test failed before: leave nothing running
            proc.kill()
            await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def _consistent_and_resumable(operator: Operator, db_url: str) -> None:
    mid = run(left, db_url)
    # the dialer's tables went before the run stopped, each with its audit entry; the
    # table it stopped in is untouched, with no audit entry
    assert mid["attempts"] == AFTER["attempts"]
    assert mid["call_details"] == ["call-new", "call-old"]
    audited = run(purges, db_url)
    assert [d["rows"] for d in audited["dialer_attempts"]] == [1]
    assert "call_details" not in audited
    assert run(lambda c: verify_chain(c, "audit"), db_url) == []
    done = operator.run("retention", "run")
    assert done.code == 0, done.err
    assert run(left, db_url) == AFTER
    audited = run(purges, db_url)
    assert [d["rows"] for d in audited["call_details"]] == [1]
    assert [d["rows"] for d in audited["dialer_attempts"]] == [1]  # not purged twice
    assert operator.run("audit", "verify-chain").code == 0


def test_a_purge_killed_half_way_is_consistent_and_resumable(
        operator: Operator, db_url: str, tmp_path: Path) -> None:
    asyncio.run(seed_ledgers(db_url, tmp_path / "fixture-spool"))
    run(seed, db_url)
    configure(operator, dial_evidence_days=DIAL_DAYS, call_record_days=CALL_DAYS)

    async def kill(proc: asyncio.subprocess.Process, _db: asyncpg.Connection, _pid: int) -> None:
        os.kill(proc.pid, signal.SIGKILL)

    code, _ = asyncio.run(_blocked_run(operator, db_url, kill))
    assert code == -signal.SIGKILL
    _consistent_and_resumable(operator, db_url)


async def _old_transcript(db: asyncpg.Connection) -> None:
    await db.execute("INSERT INTO call_records (call_id, direction, started_at, ended_at)"
                     " VALUES ('call-t', 'inbound', $1, $1)", NOW - 400 * DAY)
    await db.execute("INSERT INTO call_transcripts (call_id, seq, speaker, text, created_at)"
                     " VALUES ('call-t', 1, 'agent', '[NAME]', $1)", NOW - 400 * DAY)


def test_rows_purged_before_a_kill_are_audited(operator: Operator, db_url: str) -> None:
    """Before: the purge counts were audited after every table, so transcripts purged
    before a kill -9 (here, while the texts' table was locked) had no audit entry."""
    run(_old_transcript, db_url)

    async def kill(proc: asyncio.subprocess.Process, _db: asyncpg.Connection, _pid: int) -> None:
        os.kill(proc.pid, signal.SIGKILL)

    code, _ = asyncio.run(_blocked_run(operator, db_url, kill, table="sms_messages"))
    assert code == -signal.SIGKILL
    gone = run(lambda c: c.fetchval("SELECT count(*) FROM call_transcripts"), db_url) == 0
    assert gone
    assert [d["rows"] for d in run(purges, db_url).get("call_transcripts", [])] == [1]


def test_the_database_lost_mid_purge_is_one_line_and_resumable(
        operator: Operator, db_url: str, tmp_path: Path) -> None:
    asyncio.run(seed_ledgers(db_url, tmp_path / "fixture-spool"))
    run(seed, db_url)
    configure(operator, dial_evidence_days=DIAL_DAYS, call_record_days=CALL_DAYS)

    async def cut(_proc: asyncio.subprocess.Process, db: asyncpg.Connection, pid: int) -> None:
        await db.execute("SELECT pg_terminate_backend($1)", pid)

    code, err = asyncio.run(_blocked_run(operator, db_url, cut))
    assert code != 0
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    _consistent_and_resumable(operator, db_url)


def test_a_purge_while_the_database_is_down_is_one_line(operator: Operator,
                                                         tmp_path: Path) -> None:
    from tests.ops.live import free_port  # noqa: PLC0415

    url = f"postgresql://carrier@127.0.0.1:{free_port()}/carrier"  # nothing listens there
    line = one_line_error(operator.run("retention", "run", "--database-url", url))
    assert "Traceback" not in line
    assert "database" in line.lower(), line


async def test_the_daily_pass_with_the_database_down_waits_for_the_next(
        make_cluster: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``carrier serve``'s retention loop while Postgres is stopped: a warning naming the
    error class (no traceback, serve keeps running), and once it is back a pass purges."""
    import logging  # noqa: PLC0415

    from carrier.records.migrate import migrate  # noqa: PLC0415
    from carrier.upkeep import retention_loop  # noqa: PLC0415

    cluster = make_cluster()
    conn = await asyncpg.connect(cluster.uri())
    try:
        await migrate(conn)  # the carrier's tables only
        for name, at in (("old", CALL_OLD), ("new", CALL_NEW)):
            await conn.execute("INSERT INTO call_details (call_id, direction, started_at,"
                               " ended_at, hangup_cause) VALUES ($1, 'outbound', $2, $2,"
                               " 'remote_bye')", f"call-{name}", at)
    finally:
        await conn.close()
    settings = Settings(retention=RetentionSettings(dial_evidence_days=DIAL_DAYS,
                                                    call_record_days=CALL_DAYS))
    records = await Records.open(cluster.uri(), TEST_KEK, tmp_path / "spool")
    try:
        await asyncio.to_thread(cluster.stop)
        stop = asyncio.Event()
        with caplog.at_level(logging.WARNING, logger="carrier.upkeep"):
            loop = asyncio.create_task(retention_loop(records, settings, stop, every=3600))
            deadline = time.monotonic() + 120
            while not any("retention pass failed" in r.getMessage() for r in caplog.records):
                assert not loop.done(), loop.result()
                assert time.monotonic() < deadline, "no pass was tried"
                await asyncio.sleep(0.05)  # polls for the pass's end, not a timing
            stop.set()
            await loop  # ends at stop, never by the error
        warned = [r.getMessage() for r in caplog.records if "retention" in r.getMessage()]
        assert all("Traceback" not in m for m in warned)
        await asyncio.to_thread(cluster.start)
        results = await retention_pass(records, settings, NOW)
        assert {r.table: r.rows for r in results}["call_details"] == 1
    finally:
        await records.close()
