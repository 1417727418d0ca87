"""The ``feeds`` settings, each shown to act, and the operator commands run as an operator
would (``carrier hl7 serve`` fed by ``mllp_send``; ``carrier feeds outbox|send|retry``)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import ipaddress
import json
import os
import socket
import ssl
import sys
from pathlib import Path

import asyncpg
import hl7.mllp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from carrier.errors import ConfigError
from carrier.feeds.service import Feeds, destinations
from carrier.feeds.writeback import MllpDestination
from carrier.records.store import Channel, ConsentKind, Records
from carrier.settings import FeedsSettings, Settings, load_settings
from tests.feeds.conftest import ack_fields, mllp_send, now_utc
from tests.feeds.hl7_samples import siu
from tests.feeds.receiver import Receiver

REPO = Path(__file__).resolve().parents[2]


class _App:  # what Feeds.build needs of the application: its schedule feed
    def __init__(self, records: Records) -> None:
        from agent.scheduling.feed_apply import FeedCalendar  # noqa: PLC0415

        self.schedule_feed = FeedCalendar(records)


def _settings(**feeds: object) -> Settings:
    return dataclasses.replace(Settings(), feeds=FeedsSettings(**feeds))  # type: ignore[arg-type]


@pytest.mark.parametrize(("env", "key"), [
    ({"CARRIER_FEEDS__HL7_PORT": "70000"}, "feeds.hl7_port"),
    ({"CARRIER_FEEDS__HL7_TLS_CERT": "/x.pem"}, "feeds.hl7_tls_key"),
    ({"CARRIER_FEEDS__TIMEZONE": "Mars/Olympus"}, "feeds.timezone"),
    ({"CARRIER_FEEDS__WRITEBACK_HL7": "nohost"}, "feeds.writeback_hl7"),
    ({"CARRIER_FEEDS__WRITEBACK_FHIR": "true"}, "feeds.fhir_base_url"),
    ({"CARRIER_FEEDS__FHIR_BASE_URL": "http://h/fhir",
      "CARRIER_FEEDS__FHIR_TOKEN_URL": "http://h/token"}, "feeds.fhir_client_id"),
    ({"CARRIER_FEEDS__FHIR_POLL_S": "0"}, "feeds.fhir_poll_s"),
])
def test_bad_feeds_settings_are_refused(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(REPO / "config", env=env)
    assert key in str(err.value)


def test_writeback_settings_choose_destinations() -> None:
    got = destinations(FeedsSettings(writeback_hl7="127.0.0.1:2576",
                                     writeback_hl7_message="oru"))
    assert got == {"hl7": MllpDestination("127.0.0.1", 2576, "oru")}
    assert destinations(FeedsSettings()) == {}


@pytest.mark.postgres
async def test_timezone_and_phone_consent_settings_act(records: Records, tmp_path: Path
                                                      ) -> None:
    feeds = Feeds.build(_settings(timezone="America/Los_Angeles", phone_is_consent=True),
                        records, _App(records))
    start = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)
    msg = siu("S12", "TZ1", start=start).replace(b"+0000", b"")  # times without an offset
    ack = await feeds.listener.handle(msg)
    assert ack_fields(ack)["MSA"][1] == "AA"
    got = await records.pool.fetchval("SELECT start_at FROM sched_appointments")
    assert got == dt.datetime(2030, 1, 7, 17, 0, tzinfo=dt.UTC)  # 09:00 in Los Angeles
    assert await records.has_consent("+15555550101", Channel.VOICE, ConsentKind.TCPA_EXPRESS)


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                  serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return tmp / "c.pem", tmp / "k.pem"


@pytest.mark.postgres
async def test_hl7_enabled_listens_inside_serve_with_tls(records: Records, tmp_path: Path
                                                        ) -> None:
    cert, key = _self_signed(tmp_path)
    feeds = Feeds.build(_settings(hl7_enabled=True, hl7_port=0, hl7_tls_cert=str(cert),
                                  hl7_tls_key=str(key)), records, _App(records))
    stop = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    client = ssl.create_default_context(cafile=str(cert))
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(feeds.run(stop, started=bound.set_result))
        reader, writer = await hl7.mllp.open_hl7_connection(
            "127.0.0.1", await bound, ssl=client, server_hostname="127.0.0.1")
        writer.writeblock(siu("S12", "TLS1", start=now_utc() + dt.timedelta(days=1)))
        await writer.drain()
        reply = await reader.readblock()
        writer.close()
        stop.set()
    assert ack_fields(bytes(reply))["MSA"][1:3] == ["AA", "TLS1"]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "CARRIER_KEK": base64.b64encode(bytes(range(32))).decode(),
            "CARRIER_AGENT__SEED_DEMO": "false", **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _carrier(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "carrier.cli", "--config-dir", str(REPO / "config"), *args,
        env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)  # outside process
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.postgres
async def test_hl7_serve_command_on_the_configured_port(db_url: str, tmp_path: Path) -> None:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "carrier.cli", "--config-dir", str(REPO / "config"), "hl7",
        "serve", "--database-url", db_url, "--data-dir", str(tmp_path / "var"), "--for", "60",
        env=_env(CARRIER_FEEDS__HL7_PORT=str(port), CARRIER_FEEDS__HL7_HOST="127.0.0.1"),
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        # Bounded wait on the outside process: start-up until it says it listens.
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        assert line.decode().strip() == f"hl7 listening on 127.0.0.1:{port}"
        acks = await mllp_send(port, [siu("S12", "CLI1", start=now_utc()
                                          + dt.timedelta(days=1))], tmp_path)
        assert ack_fields(acks[0])["MSA"][1:3] == ["AA", "CLI1"]
    finally:
        proc.terminate()
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()
    assert "acknowledged: AA 1" in out.decode()


@pytest.mark.postgres
async def test_outbox_commands(db_url: str, tmp_path: Path) -> None:
    """A write-back the receiver refused is listed as failed, retried by the operator and
    delivered by ``carrier feeds send`` to the receiver the settings name."""
    records = await Records.open(db_url, __import__("tests.conftest").conftest.TEST_KEK,
                                 tmp_path / "spool")
    try:
        receiver = await Receiver(reply="AE").start()
        feeds = Feeds.build(_settings(writeback_hl7=f"127.0.0.1:{receiver.port}"), records,
                            _App(records))
        await feeds.listener.handle(siu("S12", "O1", start=now_utc() + dt.timedelta(days=1)))
        from carrier.call import Direction  # noqa: PLC0415
        from carrier.plugin import CallContext, CallOutcome, OutcomeKind  # noqa: PLC0415

        app_id, pid = await records.pool.fetchrow(
            "SELECT app_id, patient_id::text FROM feed_appointments")
        ctx = CallContext(Direction.OUTBOUND, patient_id=pid, appointment_id=app_id)
        await feeds.writeback.record(CallOutcome("c-9", OutcomeKind.CONFIRMED), ctx)
        await feeds.writeback.deliver_due()
    finally:
        await records.close()
    db = ["--database-url", db_url, "--data-dir", str(tmp_path / "var")]
    env = _env(CARRIER_FEEDS__WRITEBACK_HL7=f"127.0.0.1:{receiver.port}")
    code, out, err = await _carrier("feeds", "outbox", "--json", *db, env=env, cwd=tmp_path)
    assert code == 0, err
    (row,) = json.loads(out)
    assert (row["status"], row["kind"], row["destination"]) == ("failed", "confirmed", "hl7")
    receiver.reply = "AA"
    code, out, err = await _carrier("feeds", "retry", str(row["id"]), *db, env=env,
                                    cwd=tmp_path)
    assert code == 0, err
    code, out, err = await _carrier("feeds", "send", *db, env=env, cwd=tmp_path)
    assert (code, out.strip()) == (0, "delivered 1"), err
    await receiver.close()
    conn = await asyncpg.connect(db_url)
    try:
        assert await conn.fetchval("SELECT status FROM feed_outbox") == "sent"
        assert await conn.fetchval("SELECT count(*) FROM audit_log"
                                   " WHERE action = 'feed.writeback.retry'") == 1
    finally:
        await conn.close()
    assert len(receiver.got) == 2
