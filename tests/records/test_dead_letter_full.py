"""A row the database refuses, when the disk refuses its dead-letter file too (full).

The disk's refusal here is a folder where the dead-letter file should be (the kernel
refuses to open it for writing: an ``OSError``, as a full disk's ENOSPC is); the database
is a real PostgreSQL whose trigger refuses one kind of audit row (a check violation: the
row itself can never be stored).

Before: the writer task died on the dead-letter write (``SpoolUnwritable`` escaped it):
the other rows of its batch failed with it (``WriterStopped``), and a refused row waiting
in the spool crashed every replay, so nothing after it ever landed. Now the refused row
alone is not recorded (its caller gets the disk's error, ``unrecorded`` counts it, one log
line says what and where), the rest of the batch is committed, a spooled refused row stays
in the spool, and the writer keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg
import pytest

from carrier.records.spool import SpoolUnwritable
from carrier.records.store import Records
from tests.conftest import TEST_KEK

pytestmark = pytest.mark.postgres

REFUSE = """
CREATE FUNCTION refuse_marked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.action = 'test.refused' THEN
        RAISE EXCEPTION 'refused for the test' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_marked BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_marked();
"""


async def _refusing(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(REFUSE)
    finally:
        await conn.close()


def _full_dead_letter(spool_dir: Path, name: str) -> None:
    dead = spool_dir / name
    dead.unlink(missing_ok=True)
    dead.mkdir(parents=True)


async def _actions(db_url: str) -> list[str]:
    conn = await asyncpg.connect(db_url)
    try:
        return [r["action"] for r in await conn.fetch(
            "SELECT action FROM audit_log WHERE action LIKE 'test.%' ORDER BY seq")]
    finally:
        await conn.close()


def _audit_writer(records: Records) -> object:
    return next(w for w in records.health().writers if w.name == "audit")


async def test_a_refused_row_on_a_full_disk_costs_only_itself(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await _refusing(db_url)
    spool = tmp_path / "spool"
    records = await Records.open(db_url, TEST_KEK, spool)
    try:
        _full_dead_letter(spool, "audit.dead.jsonl")
        caplog.set_level(logging.ERROR)
        done = await asyncio.gather(
            *(records.audit("test", action, ("call", str(n)), "test")
              for n, action in enumerate(("test.before", "test.refused", "test.after"))),
            return_exceptions=True)
        assert not isinstance(done[0], BaseException), done
        assert isinstance(done[1], SpoolUnwritable), done
        assert not isinstance(done[2], BaseException), done
        # The writer serves on: a later entry lands.
        await records.audit("test", "test.later", ("call", "3"), "test")
        health = _audit_writer(records)
        assert health.alive, health  # type: ignore[attr-defined]
        assert health.restarts == 0, health  # type: ignore[attr-defined]
        assert records.unrecorded() == {"audit": 1}
        assert any("not kept" in r.getMessage() and "audit.dead.jsonl" in r.getMessage()
                   for r in caplog.records), caplog.text
    finally:
        await records.close()
    assert await _actions(db_url) == ["test.before", "test.after", "test.later"]


async def test_a_refused_spooled_row_on_a_full_disk_stays_and_the_rest_lands(
    db_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    # Entries spooled while the database was away (queued: durable in the spool first).
    first = await Records.open(db_url, TEST_KEK, spool)
    await _refusing(db_url)
    _full_dead_letter(spool, "audit.dead.jsonl")
    try:
        for n, action in enumerate(("test.before", "test.refused", "test.after")):
            await first.audit("test", action, ("call", str(n)), "test", queued=True)
        await first.drain_spool()
        health = _audit_writer(first)
        assert health.alive, health  # type: ignore[attr-defined]
        assert health.restarts == 0, health  # type: ignore[attr-defined]
    finally:
        await first.close()
    assert await _actions(db_url) == ["test.before", "test.after"]
    left = (spool / "audit.jsonl").read_text()
    assert "test.refused" in left  # not lost: kept in the spool for the operator
