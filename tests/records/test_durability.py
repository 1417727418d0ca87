"""Durability under faults: connections killed mid-stream, the server stopped and restarted,
the writing process killed during an outage. Every acknowledged record lands exactly once,
in order, and the chain verifies."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys
import textwrap
from pathlib import Path

import asyncpg
import pytest

from carrier.records.crypto import LocalKek
from carrier.records.migrate import migrate
from carrier.records.store import Channel, ConsentKind, Records, verify_chain

pytestmark = pytest.mark.postgres

TERMINATE_APP = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE usename = 'carrier_app' AND datname = current_database()"
)


async def _record_ids(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        assert await verify_chain(conn, "audit") == []
        rows = await conn.fetch(
            "SELECT record_id FROM audit_log WHERE action = 'test.append' ORDER BY seq"
        )
        return [int(r["record_id"]) for r in rows]
    finally:
        await conn.close()


async def test_connections_killed_mid_stream(records: Records, db_url: str) -> None:
    su = await asyncpg.connect(db_url)
    n, killed = 600, 0
    try:
        for chunk in range(0, n, 100):
            tasks = [
                asyncio.create_task(records.audit("t", "test.append", ("n", i), "fault test"))
                for i in range(chunk, chunk + 100)
            ]
            await asyncio.sleep(0)  # let the writer take a first batch in flight
            killed += await su.fetchval(TERMINATE_APP)
            await asyncio.gather(*tasks)
    finally:
        await su.close()
    assert killed > 0
    assert records.audit_writer.spool_writes > 0, "the fault never reached the writer"
    assert await records.drain_spool()
    assert await _record_ids(db_url) == list(range(n))


async def test_two_processes_share_one_chain(
    records: Records, db_url: str, tmp_path: Path, test_kek: LocalKek
) -> None:
    """Two writers (as two gateway nodes would be) interleave; the chain stays one line."""
    other = await Records.open(db_url, test_kek, tmp_path / "spool-other")
    try:
        await asyncio.gather(
            *(records.audit("a", "test.append", ("n", i), "node a") for i in range(400)),
            *(other.audit("b", "test.append", ("n", i), "node b") for i in range(400)),
        )
    finally:
        await other.close()
    conn = await asyncpg.connect(db_url)
    try:
        assert await verify_chain(conn, "audit") == []
        rows = await conn.fetch("SELECT actor, record_id FROM audit_log ORDER BY seq")
    finally:
        await conn.close()
    for actor in ("a", "b"):  # each writer's own order is kept
        assert [int(r["record_id"]) for r in rows if r["actor"] == actor] == list(range(400))


async def test_server_stopped_and_restarted(make_cluster, tmp_path: Path, test_kek) -> None:
    cluster = make_cluster()
    conn = await asyncpg.connect(cluster.uri())
    await migrate(conn)
    await conn.close()
    # replays only when asked (drain) or when a write comes, never on a timer
    records = await Records.open(cluster.uri(), test_kek, tmp_path / "spool", retry_interval=3600)
    phone = "+15555550107"
    try:
        pid = await records.add_patient("Testa Patientson", phone, actor="t", reason="r")
        await records.consent_grant(
            pid,
            Channel.VOICE,
            ConsentKind.TCPA_EXPRESS_WRITTEN,
            source="web_form",
            evidence_ref="f",
            actor="t",
        )
        assert await records.has_consent(phone, Channel.VOICE)
        for i in range(50):
            await records.audit("t", "test.append", ("n", i), "before")
        await asyncio.to_thread(cluster.stop)
        for i in range(50, 150):
            await records.audit("t", "test.append", ("n", i), "during outage")
        await records.consent_revoke(
            pid, Channel.VOICE, source="verbal", evidence_ref="c", actor="agent"
        )
        assert records.audit_writer.spooled == 101
        assert records.consent_writer.spooled == 1
        assert not await records.drain_spool()  # still down: nothing lost, nothing written
        await asyncio.to_thread(cluster.start)
        # the revocation waits in the spool; the check must not say yes meanwhile
        assert not await records.has_consent(phone, Channel.VOICE)
        assert records.consent_writer.spooled == 0
        for i in range(150, 200):  # after the restart, still behind the spooled ones
            await records.audit("t", "test.append", ("n", i), "after")
        assert await records.drain_spool()
    finally:
        await records.close()
    assert await _record_ids(cluster.uri()) == list(range(200))


CHILD = textwrap.dedent(
    """
    import asyncio, base64, os, sys
    from pathlib import Path
    from carrier.records.crypto import LocalKek
    from carrier.records.store import Records

    async def main():
        kek = LocalKek(base64.b64decode(os.environ["TEST_KEK"]))
        records = await Records.open(sys.argv[1], kek, Path(sys.argv[2]))
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        i = 0
        while True:
            await records.audit("child", "test.append", ("n", i), "outage")
            print(f"ack {i}", flush=True)
            i += 1

    asyncio.run(main())
    """
)


async def test_spool_survives_process_kill_and_restart(
    make_cluster, tmp_path: Path, test_kek: LocalKek
) -> None:
    cluster = make_cluster()
    conn = await asyncpg.connect(cluster.uri())
    await migrate(conn)
    await conn.close()
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    spool = tmp_path / "spool"
    env = {**os.environ, "TEST_KEK": base64.b64encode(test_kek.secret).decode()}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        cluster.uri(),
        str(spool),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    acked = -1
    try:
        line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
        assert line == b"ready\n"
        await asyncio.to_thread(cluster.stop)  # the database goes away...
        child.stdin.write(b"go\n")
        await child.stdin.drain()
        while acked < 40:  # ...while the child keeps writing: every write spooled
            line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
            assert line.startswith(b"ack ")
            acked = int(line.split()[1])
    finally:
        child.send_signal(signal.SIGKILL)  # no clean shutdown, mid-stream
        await child.wait()
    await asyncio.to_thread(cluster.start)
    records = await Records.open(cluster.uri(), test_kek, spool)  # replays at start
    try:
        assert await records.drain_spool()
        assert records.audit_writer.replays == 1
    finally:
        await records.close()
    landed = await _record_ids(cluster.uri())
    assert len(landed) > acked  # everything acknowledged, maybe a few more fsync'd records
    assert landed == list(range(len(landed)))  # in order, exactly once
    assert (spool / "audit.jsonl").stat().st_size == 0


def _fatal_admin_shutdown() -> bytes:
    """The ErrorResponse ``pg_terminate_backend`` sends before closing the socket."""
    fields = b"".join(
        code + value + b"\0"
        for code, value in (
            (b"S", b"FATAL"),
            (b"V", b"FATAL"),
            (b"C", b"57P01"),
            (b"M", b"terminating connection due to administrator command"),
        )
    )
    body = fields + b"\0"
    return b"E" + (len(body) + 4).to_bytes(4, "big") + body


async def test_pooled_connection_terminated_before_eof_is_not_reused(
    db_url: str, tmp_path: Path, test_kek: LocalKek
) -> None:
    """The race behind the flaky kill test, made deterministic: the server's FATAL notice
    reaches an idle pooled connection, but its EOF has not been processed yet when the writer
    takes the connection. The write must still become durable (spooled, then replayed), the
    broken connection must leave the pool, and nothing may wait forever."""
    records = await Records.open(db_url, test_kek, tmp_path / "spool", min_size=1, max_size=1)
    try:
        async with records.pool.acquire() as conn:
            # feed the notice as if it had just been read from the socket (no EOF yet)
            conn._con._protocol.data_received(_fatal_admin_shutdown())
            broken = conn._con
        await asyncio.wait_for(records.audit("t", "test.append", ("n", 0), "fault"), 10)
        assert broken.is_closed(), "the broken connection went back into the pool"
        assert await asyncio.wait_for(records.drain_spool(), 10)
        await asyncio.wait_for(records.audit("t", "test.append", ("n", 1), "after"), 10)
    finally:
        await asyncio.wait_for(records.close(), 10)
    assert await _record_ids(db_url) == [0, 1]
