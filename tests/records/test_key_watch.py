"""A node's data-key watch survives its LISTEN connection being dropped.

Before: ``Records.open(watch_keys=True)`` (``carrier serve``) LISTENed on one connection and
never looked at it again. When the database dropped it (a restart, a failover, an idle
timeout, ``pg_terminate_backend``), a ``carrier keys rotate`` notified nobody: the node kept
its old key ring until a restart or a patient read that met the new version, and every other
value re-encrypted under it (memory, tasks, transcripts) failed to read. Now a dropped watch
connects again and, once listening, loads the data keys (a rotation missed meanwhile)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from carrier.records import keys as keysmod
from carrier.records.store import Records
from tests.conftest import TEST_KEK

pytestmark = pytest.mark.postgres


async def test_a_rotation_made_while_the_watch_was_dropped_is_loaded(
        db_url: str, tmp_path: Path) -> None:
    live = await Records.open(db_url, TEST_KEK, tmp_path / "spool", watch_keys=True,
                              retry_interval=0.05)
    su = await asyncpg.connect(db_url)
    try:
        assert sorted(live.keys.field_keys) == [1]
        watch = live._key_watch
        assert watch is not None
        async with su.transaction():  # the notification goes out after the drop: missed
            await keysmod.rotate(su, TEST_KEK)
            assert await su.fetchval("SELECT pg_terminate_backend($1)",
                                     watch.get_server_pid())
        async with asyncio.timeout(60):  # a bound on a hang, not a measurement
            await live.keys_reloaded.wait()
        assert sorted(live.keys.field_keys) == [1, 2]
        # and it listens again: the next rotation arrives by notification
        live.keys_reloaded.clear()
        await keysmod.rotate(su, TEST_KEK)
        async with asyncio.timeout(60):
            await live.keys_reloaded.wait()
        assert sorted(live.keys.field_keys) == [1, 2, 3]
    finally:
        await su.close()
        await live.close()
