"""Does health tell the on-call engineer the truth when the node breaks the way production
breaks? Each test breaks one thing under a stack built as ``carrier serve`` builds it
(``running_stack`` on the embedded PostgreSQL) and reads what ``/health`` would answer
(:func:`carrier.health.render`) and what ``/metrics`` would expose."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import asyncpg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from carrier import metrics, stack_watch
from carrier.health import render
from carrier.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]


def cert_ending(path: Path, end: dt.datetime) -> Path:
    """A self-signed certificate (PEM) whose notAfter is ``end``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(end - dt.timedelta(days=400)).not_valid_after(end)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return path


def settings_for(tmp_path: Path, db_url: str, cert: Path) -> Settings:
    cfg = tmp_path / "config"
    if not cfg.exists():
        shutil.copytree(REPO / "config", cfg)
    s = load_settings(cfg, env={})
    return dataclasses.replace(
        s, data_dir=str(tmp_path / "var"),
        database=dataclasses.replace(s.database, url=db_url, pool_min=1, pool_max=2),
        keys=dataclasses.replace(s.keys, kek_file=str(tmp_path / "kek.bin"),
                                 kek_env="HEALTH_TRUTH_UNSET_KEK",
                                 checkpoints_file=str(tmp_path / "checkpoints.jsonl")),
        console=dataclasses.replace(s.console, tls=True, cert_file=str(cert),
                                    key_file=str(cert.with_suffix(".key"))),
        agent=dataclasses.replace(s.agent, seed_demo=False),
        dialer=dataclasses.replace(s.dialer, enabled=False))


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.mark.postgres
async def test_an_expired_console_certificate_fails_health_and_is_a_metric(
        db_url: str, tmp_path: Path) -> None:
    """Before: nothing read any certificate's dates. The console's certificate ran out and
    /health still said 200 ok (while browsers and `carrier health` were refused); no
    metric to alert on before it happened. Now ``cert.console`` fails (503) and
    ``carrier_certificate_expiry_timestamp_seconds{cert}`` is each notAfter."""
    from carrier.app import running_stack  # noqa: PLC0415 - loads the application

    end = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=2)
    cert = cert_ending(tmp_path / "console.pem", end)
    async with running_stack(settings_for(tmp_path, db_url, cert), speech=False,
                             sip=False) as stack:
        report = {c.name: c for c in stack.health.report()}
        assert not report["cert.console"].ok
        assert "expired 2 days ago" in report["cert.console"].detail
        assert report["cert.stir"].ok  # the development STI-CA's, made at start
        status, _ = render(list(report.values()))
        assert status == 503
        got = scrape()
        key = ("carrier_certificate_expiry_timestamp_seconds", (("cert", "console"),))
        assert got[key] == end.timestamp()
        assert ("carrier_certificate_expiry_timestamp_seconds", (("cert", "stir"),)) in got

        # Renewed on disk while serving, 10 days left: healthy, and it says to renew.
        cert_ending(cert, dt.datetime.now(dt.UTC) + dt.timedelta(days=10, hours=1))
        console = {c.name: c for c in stack.health.report()}["cert.console"]
        assert console.ok
        assert console.detail.startswith("renew: expires in 10.0 days")


@pytest.mark.postgres
async def test_a_nearly_full_data_folder_fails_health(db_url: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: no check read the data folder's free space; the disk filled, the spool and
    the embedded database refused writes, /health said 200. Now ``disk.data`` fails under
    the floor and ``carrier_data_free_bytes`` is exposed. The floor is raised over this
    machine's real free space (the real ``statvfs`` is read)."""
    from carrier.app import running_stack  # noqa: PLC0415 - loads the application

    cert = cert_ending(tmp_path / "console.pem", dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    async with running_stack(settings_for(tmp_path, db_url, cert), speech=False,
                             sip=False) as stack:
        report = {c.name: c for c in stack.health.report()}
        assert report["disk.data"].ok, report["disk.data"]
        free = shutil.disk_usage(tmp_path).free
        assert abs(scrape()[("carrier_data_free_bytes", ())] - free) < 256 * 1024 * 1024
        assert stack.disk is not None
        stack.disk.min_free_bytes = free + 1024 ** 4  # "nearly full" against this floor
        disk = {c.name: c for c in stack.health.report()}["disk.data"]
        assert not disk.ok
        assert disk.detail.startswith("nearly full: ")
        assert render(stack.health.report())[0] == 503
        assert scrape()[("carrier_component_up", (("component", "disk.data"),))] == 0.0


@pytest.mark.postgres
async def test_every_health_check_is_a_metric(make_cluster, tmp_path: Path) -> None:
    """Before: only the writers and the dialer had an ``_up`` level; the database, the
    application's speech, SIP, registrations had none, so an alert had to parse /health's
    JSON. Now ``carrier_component_up{component}`` is each check. The PostgreSQL under the
    node is stopped and the database check's own passes fail."""
    import asyncio  # noqa: PLC0415

    from carrier.app import running_stack  # noqa: PLC0415 - loads the application

    cluster = make_cluster()
    cert = cert_ending(tmp_path / "console.pem", dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    async with running_stack(settings_for(tmp_path, cluster.uri(), cert), speech=False,
                             sip=False) as stack:
        names = {c.name for c in stack.health.report()}
        got = scrape()
        assert {n for n in names
                if ("carrier_component_up", (("component", n),)) in got} == names
        await asyncio.to_thread(cluster.stop)
        for _ in range(2):  # what each ping pass of serve does
            try:
                await stack.records.pool.fetchval("SELECT 1")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                stack.database.failure(exc)
        assert scrape()[("carrier_component_up", (("component", "database"),))] == 0.0
        await asyncio.to_thread(cluster.start)


def test_certificate_watch_follows_its_clock(tmp_path: Path) -> None:
    """Unit: the days left, the renew window, expired, and an unreadable file."""
    end = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    cert = cert_ending(tmp_path / "c.pem", end)
    now = [end.timestamp() - 30 * 86400]
    watch = stack_watch.CertificateWatch({"c": cert, "gone": tmp_path / "none.pem"},
                                         clock=lambda: now[0])
    c, gone = watch.health()
    assert (c.ok, c.detail) == (True, "expires in 30 days (2027-01-01 00:00 UTC)")
    assert (gone.ok, gone.detail) == (False, "unreadable (FileNotFoundError)")
    now[0] = end.timestamp() - 3 * 86400
    assert watch.health()[0].detail.startswith("renew: expires in 3.0 days")
    now[0] = end.timestamp() + 1
    assert not watch.health()[0].ok
    now[0] = end.timestamp() - 1  # the clock stepped back: healthy again, from the file
    assert watch.health()[0].ok


@pytest.mark.postgres
async def test_a_growing_spool_says_how_much_and_how_long(make_cluster, tmp_path: Path) -> None:
    """Before: with the database gone, the writers spooled and ``records.*`` said ok with
    an empty detail, and no metric said how long the spool had been filling (only its
    depth). Now the detail names the rows spooled, for how long, and the outage, and
    ``carrier_spool_age_seconds{writer}`` is that age (the writers' clock is controlled);
    it goes back to 0 when the spool empties."""
    import asyncio  # noqa: PLC0415

    from carrier.app import running_stack  # noqa: PLC0415 - loads the application

    cluster = make_cluster()
    cert = cert_ending(tmp_path / "console.pem", dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    now = [1000.0]
    async with running_stack(settings_for(tmp_path, cluster.uri(), cert), speech=False,
                             sip=False) as stack:
        writer = stack.records.audit_writer
        writer.clock = lambda: now[0]
        await asyncio.to_thread(cluster.stop)
        await stack.records.audit("system", "health.probe", ("service", "carrier"), "test", {})
        assert writer.spooled >= 1
        now[0] += 95
        audit = {c.name: c for c in stack.health.report()}["records.audit"]
        assert audit.ok  # durable on disk: the database check is what fails an outage
        assert f"{writer.spooled} spooled for 95 s (database unreachable)" in audit.detail
        assert scrape()[("carrier_spool_age_seconds", (("writer", "audit"),))] == 95.0

        await asyncio.to_thread(cluster.start)
        assert await stack.records.drain_spool()
        assert scrape()[("carrier_spool_age_seconds", (("writer", "audit"),))] == 0.0
        audit = {c.name: c for c in stack.health.report()}["records.audit"]
        assert "spooled" not in audit.detail
        assert audit.detail.startswith("last error ")  # the outage's, named as past


@pytest.mark.postgres
async def test_a_sip_socket_closed_under_the_node_fails_health(db_url: str,
                                                               tmp_path: Path) -> None:
    """Before: the ``sip`` check said only that listeners had been opened at start, so with
    the UDP socket closed under the node (every INVITE and OPTIONS unanswered) /health
    still said 200. Now ``sip`` fails naming the closed listener, and
    ``carrier_sip_listener_up{transport}`` drops to 0."""
    from carrier.app import running_stack  # noqa: PLC0415 - loads the application
    from tests.ops.live import free_port  # noqa: PLC0415

    cert = cert_ending(tmp_path / "console.pem", dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    s = settings_for(tmp_path, db_url, cert)
    port = free_port()
    s = dataclasses.replace(s, sip=dataclasses.replace(s.sip, udp_port=port, tcp_port=port,
                                                       tls_port=None))
    async with running_stack(s, speech=False, sip=True) as stack:
        sip = {c.name: c for c in stack.health.report()}["sip"]
        assert (sip.ok, sip.detail) == (True, "UDP, TCP")
        udp = stack.gateway.endpoint.listeners["UDP"].udp
        assert udp is not None
        assert udp.transport is not None
        udp.transport.close()  # the socket goes away under the running node
        sip = {c.name: c for c in stack.health.report()}["sip"]
        assert (sip.ok, sip.detail) == (False, "closed: UDP")
        assert render(stack.health.report())[0] == 503
        got = scrape()
        assert got[("carrier_sip_listener_up", (("transport", "UDP"),))] == 0.0
        assert got[("carrier_sip_listener_up", (("transport", "TCP"),))] == 1.0


async def test_carrier_health_names_an_expired_console_certificate(tmp_path: Path) -> None:
    """Before: with the console's certificate expired, ``carrier health`` printed "health
    probe on ...:port -> no answer", as if the node were down, and sent the engineer to
    look for a dead process. Now it names why: "certificate refused: certificate has
    expired" (and ``console_error`` in ``--json``); it still exits 1. The console port is a
    TLS listener in this test serving that certificate."""
    import asyncio  # noqa: PLC0415
    import json  # noqa: PLC0415
    import ssl  # noqa: PLC0415

    from tests.ops.live import acarrier, config_folder, free_port, operator_env  # noqa: PLC0415

    cert = cert_ending(tmp_path / "console.pem", dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    port, sip_port = free_port(), free_port()
    cfg = config_folder(tmp_path / "config", tmp_path / "var",
                        console={"port": port, "tls": True, "cert_file": str(cert),
                                 "key_file": str(cert.with_suffix(".key"))},
                        sip={"udp_port": sip_port, "tcp_port": sip_port, "tls_port": None})
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, cert.with_suffix(".key"))

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", port, ssl=server_tls)
    env = operator_env(PYTHONPATH=str(REPO))
    try:
        done = await acarrier("health", "--timeout", "2", config=cfg, cwd=tmp_path, env=env)
        assert done.code == 1
        assert "-> no answer (certificate refused: certificate has expired)" in done.out
        done = await acarrier("health", "--json", "--timeout", "2", config=cfg,
                              cwd=tmp_path, env=env)
        report = json.loads(done.out)
        assert report["console_error"] == "certificate refused: certificate has expired"
        assert report["failed"] == ["sip", "console"]
    finally:
        server.close()


@pytest.mark.postgres
async def test_a_closed_sip_udp_socket_is_reopened(db_url: str, tmp_path: Path) -> None:
    from carrier.app import running_stack  # noqa: PLC0415 - loads the application
    from carrier.sip.endpoint import EndpointConfig, SipEndpoint  # noqa: PLC0415
    from tests.ops.live import free_port  # noqa: PLC0415

    cert = cert_ending(tmp_path / "console.pem", dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    s = settings_for(tmp_path, db_url, cert)
    port = free_port()
    s = dataclasses.replace(s, sip=dataclasses.replace(s.sip, udp_port=port, tcp_port=port,
                                                       tls_port=None))
    async with running_stack(s, speech=False, sip=True) as stack:
        udp = stack.gateway.endpoint.listeners["UDP"].udp
        assert udp is not None
        assert udp.transport is not None
        udp.transport.close()
        async with SipEndpoint(EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None)) as ep:
            try:
                status = await ep.options(f"sip:health@127.0.0.1:{port}", timeout=2.0)
            except TimeoutError:
                status = None
        assert status == 200


def test_disk_watch_floor() -> None:
    """Unit: under 512 MiB fails; 2% of a small disk fails; on a large disk the ratio asks
    no more than 4 GiB free (1.5% of 2 TiB is 30 GiB: fine)."""
    gib = 1024 ** 3

    def watch(total: int, free: int) -> bool:
        return stack_watch.DiskWatch(Path("/"), usage=lambda _: (total, total - free,
                                                                 free)).health().ok
    assert not watch(100 * gib, gib // 4)
    assert not watch(100 * gib, gib)  # 1%
    assert watch(100 * gib, 3 * gib)
    assert watch(2048 * gib, 30 * gib)
    assert not watch(2048 * gib, 3 * gib)
