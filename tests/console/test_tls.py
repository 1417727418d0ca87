"""``console.tls``, ``console.cert_file``/``key_file``: what the console port speaks."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import httpx
import pytest

from carrier.console.app import ConsoleContext
from carrier.console.server import client_context, console_tls_files, serve_console
from carrier.errors import ConfigError
from carrier.health import Health
from carrier.settings import ConsoleSettings, Settings, load_settings


def test_loopback_gets_a_self_signed_certificate_once(tmp_path: Path) -> None:
    s = Settings(data_dir=str(tmp_path))
    cert, key = console_tls_files(s) or ("", "")
    assert cert == tmp_path / "console" / "tls" / "console-self-signed.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    first = cert.read_bytes()
    assert console_tls_files(s) == (cert, key)
    assert cert.read_bytes() == first  # reused, not made again
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    console_tls_files(s, now=later)
    assert cert.read_bytes() != first  # made again once it is about to expire


def test_operator_certificate_and_the_refusals(tmp_path: Path) -> None:
    own = Settings(data_dir=str(tmp_path), console=ConsoleSettings(
        bind_host="0.0.0.0", cert_file="mine.pem", key_file="mine.key"))
    with pytest.raises(ConfigError, match=r"mine\.pem not found"):
        console_tls_files(own)
    (tmp_path / "mine.pem").write_text("x")
    (tmp_path / "mine.key").write_text("x")
    assert console_tls_files(own) == (tmp_path / "mine.pem", tmp_path / "mine.key")
    public = Settings(data_dir=str(tmp_path), console=ConsoleSettings(bind_host="0.0.0.0"))
    with pytest.raises(ConfigError, match=r"needs console\.cert_file"):
        console_tls_files(public)
    plain = Settings(console=ConsoleSettings(tls=False, bind_host="0.0.0.0"))
    assert console_tls_files(plain) is None
    assert client_context(plain) is None
    (tmp_path / "carrier.yaml").write_text("console:\n  cert_file: only.pem\n")
    with pytest.raises(ConfigError, match="set together"):
        load_settings(tmp_path, env={})


async def test_the_port_speaks_https_when_on_and_http_when_off(tmp_path: Path) -> None:
    on = Settings(data_dir=str(tmp_path))
    tls = console_tls_files(on)
    async with (serve_console(ConsoleContext(on), "127.0.0.1", 0, tls=tls) as port,
                httpx.AsyncClient(verify=client_context(on)) as c):
        r = await c.get(f"https://127.0.0.1:{port}/health")
        assert r.status_code == 200
        assert r.headers["strict-transport-security"].startswith("max-age=")
        with pytest.raises(httpx.HTTPError):
            await c.get(f"http://127.0.0.1:{port}/health")
    async with serve_console(Health(), "127.0.0.1", 0) as port, httpx.AsyncClient() as c:
        assert (await c.get(f"http://127.0.0.1:{port}/metrics")).status_code == 200
    assert isinstance(client_context(on), ssl.SSLContext)
