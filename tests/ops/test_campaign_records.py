"""`carrier campaign dnc-import` opens the records as every records command does, run as
an operator runs it (a subprocess, a real PostgreSQL).

* On a database never migrated it migrates first (before: "dialer tables missing" or a
  schema error) and leaves no spool folder of its own behind (before: ``spool/cli-<pid>``
  stayed after every run: the records were never finished).
* When the database goes away at the audit write and the disk refuses the spool, it ends
  with one line naming what was not recorded, exit 74 (before: "database unreachable
  (SpoolUnwritable)", exit 1: the disk was never named).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import EmbeddedPostgres
from tests.ops.conftest import Operator
from tests.ops.db_cut import DatabaseCut
from tests.ops.live import acarrier
from tests.ops.test_outage_commands import _run_on_a_full_disk

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]


def _ftc(operator: Operator) -> Path:
    ftc = Path(operator.cfg).parent / "212.txt"
    ftc.write_text("2125550100\n212,5550101\n212-555-0102\n")
    return ftc


async def test_dnc_import_on_a_database_never_migrated_migrates_and_tidies_its_spool(
    operator: Operator, pg_cluster: EmbeddedPostgres, tmp_path: Path
) -> None:
    name = f"dnc_fresh_{tmp_path.name[-12:].replace('-', '_')}".lower()
    admin = await asyncpg.connect(pg_cluster.uri())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    done = await acarrier("campaign", "dnc-import", str(_ftc(operator)), "--database-url",
                          pg_cluster.uri(name), config=operator.cfg, cwd=operator.cwd,
                          env=operator.env)
    assert done.code == 0, done.err
    assert "3 numbers imported" in done.out, done.out
    spool = Path(operator.cfg).parent / "var" / "spool"
    assert list(spool.glob("cli-*")) == [], list(spool.glob("cli-*"))


async def test_dnc_import_on_a_full_disk_in_an_outage_is_exit_74(
    operator: Operator, db_url: str
) -> None:
    async with DatabaseCut(db_url, b"chain_heads") as cut:
        done = await asyncio.to_thread(
            _run_on_a_full_disk, operator,
            ("campaign", "dnc-import", str(_ftc(operator)), "--database-url", cut.url))
        assert cut.cut.is_set(), done.err
    assert "Traceback" not in done.err, done.err
    line = done.err.strip().splitlines()[-1]
    assert done.code == 74, done.err
    assert line.startswith("carrier campaign: not recorded: 1 audit entry:"), line
    assert "unreachable" not in line, line
    assert "555" not in done.err + done.out
