"""Issue 11 item 8 (settings part): values that refused everything or did nothing.

Each bad value is refused at load with the file, the key and the reason; each setting
the gateway reads is shown to act on a real call or a real socket."""

from __future__ import annotations

import asyncio
import shutil
import ssl
from pathlib import Path

import pytest

from carrier.call import Call
from carrier.errors import ConfigError
from carrier.gateway import Gateway
from carrier.plugin import CallContext
from carrier.settings import Settings, SipSettings, load_settings
from carrier.sip.endpoint import CallFailedError
from carrier.tls_files import tls_files
from tests.gateway.phone import loop_settings, phone, running_gateway

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    dst = tmp_path / "config"
    shutil.copytree(REPO / "config", dst)
    return dst


def patch_yaml(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "key", "reason"),
    [
        ("carrier.yaml", "max_concurrent_calls: 200", "max_concurrent_calls: -1",
         "sip.max_concurrent_calls", "at least 1"),
        ("carrier.yaml", "max_calls_per_second: 50", "max_calls_per_second: 0",
         "sip.max_calls_per_second", "above 0"),
        ("carrier.yaml", "max_calls_per_second: 50", "max_calls_per_second: .nan",
         "sip.max_calls_per_second", "finite"),
        ("trunks.yaml", "calls_per_second: 10", "calls_per_second: 0",
         "trunks[0].calls_per_second", "above 0"),
        ("trunks.yaml", "calls_per_second: 10", "calls_per_second: .nan",
         "trunks[0].calls_per_second", "finite"),
        ("trunks.yaml", "max_concurrent_calls: 50", "max_concurrent_calls: 0",
         "trunks[0].max_concurrent_calls", "at least 1"),
        ("carrier.yaml", "tls_port: 5061", "tls_port: 5061\n  rtp_port_min: 20001",
         "sip.rtp_port_min", "even"),
        ("carrier.yaml", "tls_port: 5061",
         "tls_port: 5061\n  rtp_port_min: 30000\n  rtp_port_max: 30000",
         "sip.rtp_port_min", "room"),
        ("carrier.yaml", "bind_host: 127.0.0.1", "bind_host: 192.0.2.10",
         "sip.tls_cert", "non-loopback"),
    ],
)
def test_bad_values_are_refused_at_load(cfg: Path, file: str, old: str, new: str, key: str,
                                        reason: str) -> None:
    """Before: -1, 0 and NaN loaded, and TLS was silently off off loopback."""
    patch_yaml(cfg / file, old, new)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={})
    assert err.value.file == str(cfg / file)
    assert err.value.key == key
    assert reason in err.value.reason


def test_tls_off_or_with_files_loads_off_loopback(cfg: Path) -> None:
    patch_yaml(cfg / "carrier.yaml", "bind_host: 127.0.0.1\n", "bind_host: 192.0.2.10\n")
    patch_yaml(cfg / "carrier.yaml", "tls_port: 5061", "tls_port: null")
    assert load_settings(cfg, env={}).sip.tls_port is None


async def test_loopback_without_certificate_gets_a_self_signed_tls_listener(
        tmp_path: Path) -> None:
    """Before: no TLS listener at all. Now a certificate is made in <data_dir>/tls (once)
    and a TLS client that trusts it completes a handshake."""
    settings = Settings(data_dir=str(tmp_path), sip=SipSettings(
        bind_host="127.0.0.1", udp_port=0, tcp_port=0, tls_port=0))
    gw = Gateway(settings)
    await gw.start()
    try:
        cert = tmp_path / "tls" / "sip-self-signed.pem"
        assert cert.is_file()
        assert (tmp_path / "tls" / "sip-self-signed.key").stat().st_mode & 0o077 == 0
        ctx = ssl.create_default_context(cafile=str(cert))
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", gw.endpoint.port("TLS"), ssl=ctx, server_hostname="127.0.0.1")
        assert writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        writer.close()
        await writer.wait_closed()
        del reader
    finally:
        await gw.close()
    made = cert.read_bytes()
    assert tls_files(settings) == (str(cert), str(tmp_path / "tls" / "sip-self-signed.key"))
    assert cert.read_bytes() == made  # reused while valid, not made again


async def test_rtp_port_range_is_where_calls_bind() -> None:
    """Before: ports came from 20000-59998 whatever the setting said."""
    held = asyncio.Event()

    async def handler(call: Call, ctx: CallContext) -> None:
        await held.wait()

    settings = loop_settings(rtp_port_min=41000, rtp_port_max=41003)  # two pairs
    async with running_gateway(settings, handler) as gw, phone() as a, phone() as b:
        first = await a.call_in(gw)
        second = await b.call_in(gw)
        assert sorted([a.gateway_rtp[1], b.gateway_rtp[1]]) == [41000, 41002]
        held.set()
        first.hangup()
        second.hangup()


async def test_max_concurrent_calls_acts() -> None:
    held = asyncio.Event()

    async def handler(call: Call, ctx: CallContext) -> None:
        await held.wait()

    async with running_gateway(loop_settings(max_concurrent_calls=1), handler) as gw, \
            phone() as a, phone() as b:
        first = await a.call_in(gw)
        with pytest.raises(CallFailedError) as err:
            await b.call_in(gw)
        assert err.value.status == 503
        held.set()
        first.hangup()


@pytest.mark.parametrize("where", ["gateway", "trunk"])
async def test_calls_per_second_acts(where: str) -> None:
    """The trunk's calls_per_second was never applied to calls from it (issue 11 item 8)."""
    async def handler(call: Call, ctx: CallContext) -> None:
        await call.ended.wait()

    settings = (loop_settings(max_calls_per_second=1) if where == "gateway"
                else loop_settings(trunk={"calls_per_second": 1}))
    async with running_gateway(settings, handler) as gw, phone() as a, phone() as b:
        first = await a.call_in(gw)
        with pytest.raises(CallFailedError) as err:
            await b.call_in(gw)
        assert err.value.status == 503
        first.hangup()
