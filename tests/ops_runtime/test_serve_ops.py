"""Operations of a real ``carrier serve`` (issue 13, "Operations" and trunk keepalive).

One node runs for the whole module (starting one costs seconds on a 2-core box); the tests
run in order against it and the last one stops it:

* trunk REGISTER with a digest challenge, refreshed before its (2 s) expiry, and OPTIONS
  keepalives at the trunk's interval, both shown in ``carrier health``;
* a real call (SIPp with RTP echo), then ``/metrics`` on the console port: the series
  exist with plausible values and every name passes the exposition parser and the
  naming conventions;
* ``carrier health --json`` names every component (database, writers, dialer, the
  application, SIP, trunk registrations) and exits non-zero naming what failed;
* every log line is one JSON object; call lines carry the call_id; the synthetic caller's
  number and name never appear;
* SIGHUP during a live call: the call goes on, a new call uses the new greeting;
* SIGTERM during a live call: new calls get 503 with Retry-After, the live call ends
  normally, the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pyotp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from carrier.console.auth import ADDRESS_FAILURES
from tests.conftest import EmbeddedPostgres, cluster_dir
from tests.ops_runtime.rig import CALLER, Node, OptionsResponder, pick_ports, write_config

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.peer,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) is not installed"),
    pytest.mark.timeout(300),
]


async def _create_db(pg: EmbeddedPostgres, name: str) -> None:
    conn = await asyncpg.connect(pg.uri())
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()


@contextlib.contextmanager
def running_node(pg: EmbeddedPostgres, tag: str, **sip: object) -> Iterator[Node]:
    """A started node with its registrar and keepalive peer; ``sip`` overrides settings."""
    base = cluster_dir()
    name = f"ops_{tag}_{os.getpid()}"
    asyncio.run(_create_db(pg, name))
    sip_port, console, registrar, keepalive = pick_ports(4)
    n = Node(base=base, config_dir=base / "config", data_dir=base / "data",
             db_url=pg.uri(name), sip_port=sip_port, console_port=console,
             registrar_port=registrar, keepalive_port=keepalive,
             calls_log=base / "calls.log", stdout=base / "out.log", stderr=base / "err.log")
    write_config(n, **sip)
    n.responder = OptionsResponder(keepalive)
    n.peers.append(subprocess.Popen(
        ["sipp", "-sf", str(Path(__file__).with_name("registrar.xml")), "-i", "127.0.0.1",
         "-p", str(registrar), "-nostdin", "-trace_err",
         "-error_file", str(base / "registrar_errors.log")],
        cwd=base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    try:
        n.start()
        yield n
    finally:
        n.stop_all()
        n.responder.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def node(pg_cluster: EmbeddedPostgres) -> Iterator[Node]:
    with running_node(pg_cluster, "main") as n:
        yield n


def health(node: Node) -> tuple[int, dict[str, object]]:
    done = node.carrier("health", "--json", "--timeout", "3")
    return done.returncode, json.loads(done.stdout)


def components(report: dict[str, object]) -> dict[str, dict[str, object]]:
    return {c["name"]: c for c in report["components"]}  # type: ignore[union-attr,index]


def scrape(node: Node) -> str:
    # The console speaks HTTPS with the self-signed loopback certificate serve made.
    cert = node.data_dir / "console" / "tls" / "console-self-signed.pem"
    tls = ssl.create_default_context(cafile=str(cert))
    tls.check_hostname = False
    url = f"https://127.0.0.1:{node.console_port}/metrics"
    with urllib.request.urlopen(url, timeout=5, context=tls) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        return resp.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_trunk_registers_and_refreshes_and_keepalives_flow(node: Node) -> None:
    # The registrar grants 2 s: three granted REGISTERs (each after a 401 challenge
    # answered with a digest) need two refreshes, all within a few seconds.
    def refreshed() -> bool:
        reg = components(health(node)[1]).get("trunk.reg.registration")
        return reg is not None and reg["ok"] and int(
            str(reg["detail"]).split("(")[1].split()[0]) >= 3
    node.wait_for(refreshed, 30, "three granted registrations")
    reg = components(health(node)[1])["trunk.reg.registration"]
    assert "registered, expires 2 s" in str(reg["detail"])
    # OPTIONS keepalives every second to the demo trunk's far end.
    assert node.responder is not None
    responder = node.responder
    node.wait_for(lambda: responder.count >= 3, 20, "three OPTIONS keepalives")


def test_first_admin_signs_in_to_the_console_serve_runs(node: Node) -> None:
    """README's first steps: ``carrier user add`` beside a running ``carrier serve``, then
    sign in over HTTPS (password + TOTP) and call the API as that role."""
    added = node.carrier("user", "add", "first-admin", "--role", "admin")
    assert added.returncode == 0, added.stderr
    issued = dict(line.split(": ", 1) for line in added.stdout.splitlines() if ": " in line)
    code = pyotp.parse_uri(issued["TOTP provisioning URI"]).now()
    cert = node.data_dir / "console" / "tls" / "console-self-signed.pem"
    with httpx.Client(base_url=f"https://127.0.0.1:{node.console_port}",
                      verify=ssl.create_default_context(cafile=str(cert))) as web:
        assert web.get("/api/v1/trunks").status_code == 401
        # `console.trusted_proxies` as serve reads it: one forwarded address spraying
        # names is stopped (ADDRESS_FAILURES), the admin's own address is not.
        sprayer = {"X-Forwarded-For": "198.51.100.66"}
        tries = [web.post("/api/v1/session", headers=sprayer, json={
            "name": f"nobody{i}", "password": "Spring2026!", "totp": "000000"}).status_code
            for i in range(ADDRESS_FAILURES + 1)]
        assert tries == [401] * ADDRESS_FAILURES + [429]
        r = web.post("/api/v1/session", headers={"X-Forwarded-For": "203.0.113.20"}, json={
            "name": "first-admin", "password": issued["one-time password"], "totp": code})
        assert r.status_code == 200, r.text
        trunks = web.get("/api/v1/trunks").json()
        assert {t["name"] for t in trunks} >= {"demo", "reg"}
        assert web.get("/api/v1/live-calls").status_code == 403  # not the admin's to see
        assert web.get("/api/openapi.json").json()["info"]["title"] == "Carrier console API"


def test_a_call_shows_in_metrics(node: Node) -> None:
    before = samples(scrape(node))
    caller = node.call("uac_hold.xml", hold_ms=1500)
    assert caller.wait(timeout=60) == 0, node.tail()
    node.wait_for(lambda: "call ended" in node.stderr.read_text(), 20, "the call's end")
    inbound = (("direction", "inbound"),)
    # the log line comes from inside the call; the gauge drops when its task has finished
    # (after the call record is written), so a loaded box can scrape between the two
    node.wait_for(lambda: samples(scrape(node)).get(("carrier_active_calls", inbound)) == 0,
                  20, "the active-calls gauge back at 0")
    text = scrape(node)
    got = samples(text)
    attempts = got[("carrier_call_attempts_total", inbound)]
    assert attempts == before.get(("carrier_call_attempts_total", inbound), 0) + 1
    assert got[("carrier_call_setup_seconds_count", inbound)] >= 1
    setup_sum = got[("carrier_call_setup_seconds_sum", inbound)]
    assert 0 < setup_sum < 10  # seconds, not milliseconds
    assert got[("carrier_active_calls", inbound)] == 0  # up, then down again
    # SIPp echoed our tone: the leg received RTP and reported it at its end.
    assert got[("carrier_rtp_packets_received_total", ())] > 10
    assert got[("carrier_rtp_packets_lost_total", ())] >= 0
    assert got[("carrier_rtp_jitter_seconds_count", ())] >= 1
    assert got[("carrier_rtp_jitter_seconds_sum", ())] < 1.0
    for name in ("carrier_reply_latency_seconds_count", "carrier_stt_seconds_count",
                 "carrier_tts_seconds_count"):
        assert (name, ()) in got  # the speech series exist (this node runs no speech)
    assert got[("carrier_writer_up", (("writer", "audit"),))] == 1
    assert got[("carrier_spool_depth", (("writer", "audit"),))] == 0
    assert got[("carrier_dialer_up", ())] == 1
    assert got[("carrier_draining", ())] == 0
    # the application's own figures (carrier.plugin.MeasuredApplication), a counter
    app_calls = ("carrier_test_app_calls_total", ())
    assert got[app_calls] == before.get(app_calls, 0) + 1
    check_names(text)


def check_names(text: str) -> None:
    """What ``promtool check metrics`` asks of names, with the exposition parser."""
    families = list(text_string_to_metric_families(text))
    assert families
    for family in families:
        assert family.name.startswith("carrier_"), family.name
        assert family.documentation, family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
        assert not family.name.endswith(("_ms", "_milliseconds", "_count_total"))


def test_health_names_every_component_and_what_failed(node: Node) -> None:
    code, report = health(node)
    names = set(components(report))
    assert {"database", "records.audit", "records.consent", "dialer", "ops_app", "sip",
            "sip.rtp_ports", "trunk.reg.registration"} <= names, names
    assert code == 0, report
    assert report["ok"] is True
    assert report["sip_options"] == 200
    # Nothing answers on another console port: exit 1 naming the part.
    env_port = {"CARRIER_CONSOLE__PORT": str(node.console_port + 1)}
    done = subprocess.run(
        [*node.carrier_cmd("health", "--json", "--timeout", "1")],
        cwd=node.base, env={**node.env(), **env_port}, capture_output=True, text=True,
        timeout=60, check=False)
    assert done.returncode == 1
    assert json.loads(done.stdout)["failed"] == ["console"]
    assert "unhealthy: console" in done.stderr


def test_logs_are_json_with_call_id_and_no_phi(node: Node) -> None:
    lines = node.log_lines()
    assert lines
    docs = [json.loads(line) for line in lines]  # every line is one JSON object
    for doc in docs:
        assert {"time", "level", "logger", "message"} <= set(doc), doc
    call_lines = [d for d in docs if d["message"] in ("call answered", "call ended")]
    assert len(call_lines) >= 2
    assert all(d.get("call_id") for d in call_lines)
    text = node.stderr.read_text()
    assert CALLER not in text
    assert CALLER[2:] not in text
    assert "Synthetic Caller" not in text


def test_sighup_reloads_without_dropping_a_live_call(node: Node) -> None:
    first = node.call("uac_hold.xml", hold_ms=4000)
    node.wait_for(lambda: len(node.calls_log.read_text().splitlines()) >= 2, 30,
                  "the long call answered")
    (node.config_dir / "greeting.txt").write_text("greeting-v2\n")
    assert node.proc is not None
    node.proc.send_signal(signal.SIGHUP)
    node.wait_for(lambda: '"reloaded"' in node.stderr.read_text(), 20, "the reload")
    second = node.call("uac_hold.xml", hold_ms=300)
    assert second.wait(timeout=60) == 0, node.tail()
    assert first.wait(timeout=60) == 0, node.tail()  # the call up during SIGHUP went on
    greetings = [line.split()[1] for line in node.calls_log.read_text().splitlines()]
    assert greetings[-2:] == ["greeting-v1", "greeting-v2"]
    assert node.proc.poll() is None


def test_sigterm_drains_then_exits_zero(node: Node) -> None:
    live = node.call("uac_hold.xml", hold_ms=4000)
    count = len(node.calls_log.read_text().splitlines())
    node.wait_for(lambda: len(node.calls_log.read_text().splitlines()) > count, 30,
                  "the live call answered")
    assert node.proc is not None
    node.proc.send_signal(signal.SIGTERM)
    node.wait_for(lambda: '"draining"' in node.stderr.read_text(), 20, "the drain")
    before = samples(scrape(node)).get(
        ("carrier_call_failures_total", (("code", "503"), ("direction", "inbound"))), 0)
    refused = node.call("uac_refused.xml", echo=False)
    assert refused.wait(timeout=60) == 0, node.tail()  # 503 with a Retry-After
    got = samples(scrape(node))
    assert got[("carrier_call_failures_total", (("code", "503"), ("direction", "inbound")))] \
        == before + 1
    assert got[("carrier_draining", ())] == 1
    assert live.wait(timeout=60) == 0, node.tail()  # the live call ended normally
    assert node.proc.wait(timeout=60) == 0, node.tail()
    assert len(node.calls_log.read_text().splitlines()) == count + 1


def test_drain_limit_ends_a_call_that_outlasts_it(pg_cluster: EmbeddedPostgres) -> None:
    """``sip.drain_timeout_s``: a call still up when it runs out is ended, exit is 0."""
    with running_node(pg_cluster, "limit", drain_timeout_s=1) as n:
        n.call("uac_hold.xml", hold_ms=30000)
        n.wait_for(lambda: n.calls_log.exists() and n.calls_log.read_text(), 30,
                   "the long call answered")
        assert n.proc is not None
        n.proc.send_signal(signal.SIGTERM)
        # Well before the caller's 30 s: the 1 s limit, then the stack's close.
        assert n.proc.wait(timeout=20) == 0, n.tail()
        drained = [json.loads(line) for line in n.log_lines() if '"drained"' in line]
        assert drained[-1]["live_calls_left"] == 1
