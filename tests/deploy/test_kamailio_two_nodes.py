"""Two gateway nodes behind Kamailio, for real.

Debian's ``kamailio`` runs ``deploy/kamailio/kamailio.cfg`` (the shipped file; only its
defines for the listen address, the node list and the probe interval are set on the
command line) in front of two ``carrier serve`` processes on loopback that share one
PostgreSQL. SIPp places calls through Kamailio; a second SIPp plays the trunk the dialers
call out through. The test shows:

* calls are spread over both nodes (round robin);
* with node A killed (SIGKILL, no goodbye), new calls all go to node B and succeed;
* node A restarted, the dispatcher's OPTIONS probes bring it back and calls reach it again;
* outreach seeded in the shared database is dialled exactly once although both nodes run
  their dialer (row leases), also after node A's restart.

The nodes host a tiny test application (``tests.deploy.node_app``) instead of the voice
agent, so two processes do not each load the speech models on a 2-core machine; it writes
one line per call naming the node that took it.

Kamailio cannot listen on port 0, so its port and the nodes' (which Kamailio must name)
are picked free in 27000-27999.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import yaml

from bench._kamailio import KAMAILIO_CFG, command, port_free
from carrier.records.patients import PatientAddress
from carrier.records.store import Channel, ConsentKind, Records
from tests.conftest import TEST_KEK

REPO = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).with_name("uac_via_proxy.xml")
PING_INTERVAL_S = 1
PATIENTS = 4

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.peer,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("kamailio") is None, reason="kamailio is not installed"),
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) is not installed"),
]


def pick_ports(count: int) -> list[int]:
    """``count`` ports in 27000-27999, each the first of four free ones (SIPp also binds
    its media port + 2), from a random start so parallel runs rarely meet."""
    start = random.randrange(250)  # spreading, not security
    found: list[int] = []
    for i in range(250):
        port = 27000 + 4 * ((start + i) % 250)
        if all(port_free(port + k) for k in range(4)):
            found.append(port)
            if len(found) == count:
                return found
    pytest.skip("no free ports in 27000-27999")


def test_shipped_kamailio_config_checks_clean(tmp_path: Path) -> None:
    """`kamailio -c` on the shipped file, as shipped and with the test's defines."""
    shipped = REPO / "deploy" / "kamailio" / "dispatcher.list"
    for defines in ([], ["-A", "LISTEN=udp:127.0.0.1:27000", "-A", "PING_INTERVAL=1"]):
        done = subprocess.run(
            ["kamailio", "-c", "-f", str(KAMAILIO_CFG),
             "-A", f'DISPATCHER_LIST="{shipped}"', *defines],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        )
        out = done.stdout + done.stderr
        assert done.returncode == 0, out
        assert "config file ok" in out
        assert not [line for line in out.splitlines()
                    if " ERROR: " in line or " WARNING: " in line], out


# --------------------------------------------------------------------------- the rig


@dataclass
class Node:
    name: str
    port: int
    data_dir: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class Rig:
    base: Path
    config_dir: Path
    db_url: str
    calls_log: Path
    kamailio_port: int
    caller_port: int
    caller_media_port: int
    trunk_port: int
    nodes: dict[str, Node]

    def node_env(self, node: Node) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARRIER_")}
        env.update(
            CARRIER_CONFIG_DIR=str(self.config_dir),
            CARRIER_DATA_DIR=str(node.data_dir),
            CARRIER_DATABASE_URL=self.db_url,
            CARRIER_SIP__BIND_HOST="127.0.0.1",
            CARRIER_SIP__UDP_PORT=str(node.port),
            CARRIER_SIP__TCP_PORT=str(node.port),
            CARRIER_SIP__TLS_PORT="0",
            CARRIER_CONSOLE__PORT="0",  # two nodes on one host: the console on any port
            CARRIER_KEK=base64.b64encode(TEST_KEK.secret).decode(),
            DEPLOY_NODE_NAME=node.name,
            DEPLOY_NODE_LOG=str(self.calls_log),
            PYTHONPATH=str(REPO),
            HF_HUB_OFFLINE="1",
        )
        return env

    async def start(self, node: Node) -> None:
        carrier = Path(sys.executable).with_name("carrier")
        out = node.log.open("ab")
        node.proc = subprocess.Popen(  # noqa: ASYNC220 - a long-running peer, not awaited here
            [str(carrier), "serve"], cwd=self.base, env=self.node_env(node),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        out.close()
        marker = f"tcp/{node.port}".encode()
        # Bounded wait on a real outside process: the node prints one line once serving.
        for _ in range(600):
            if marker in node.log.read_bytes() and b"serving SIP" in node.log.read_bytes():
                return
            if node.proc.poll() is not None:
                break
            await asyncio.sleep(0.1)  # bounded poll of real outside processes (Kamailio, nodes)
        raise AssertionError(f"node {node.name} did not start:\n{tail(node.log)}")

    def kill(self, node: Node) -> None:
        if node.proc is not None and node.proc.poll() is None:
            os.killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait(timeout=30)

    def answered(self, direction: str) -> list[tuple[str, str, str]]:
        """(node, Call-ID, patient id) of every call the nodes' handler took."""
        if not self.calls_log.exists():
            return []
        rows = [line.split() for line in self.calls_log.read_text().splitlines()]
        return [(r[0], r[2], r[3]) for r in rows if len(r) == 4 and r[1] == direction]

    async def place_calls(self, count: int) -> list[str]:
        """Place ``count`` calls one after another through Kamailio; the nodes that took them."""
        before = len(self.answered("inbound"))
        done = await asyncio.to_thread(
            subprocess.run,
            ["sipp", f"127.0.0.1:{self.kamailio_port}", "-sf", str(SCENARIO),
             "-s", "+15550100100", "-i", "127.0.0.1", "-p", str(self.caller_port),
             "-mp", str(self.caller_media_port),
             "-m", str(count), "-l", "1", "-r", "5", "-nostdin",
             "-timeout", "40s", "-timeout_error", "-trace_err",
             "-error_file", str(self.base / "sipp_errors.log")],
            cwd=self.base, capture_output=True, timeout=120, check=False,
        )
        assert done.returncode == 0, (
            f"sipp: {count} calls through Kamailio did not all succeed "
            f"(exit {done.returncode}):\n{done.stdout.decode(errors='replace')[-2000:]}")
        taken = [node for node, _, _ in self.answered("inbound")[before:]]
        assert len(taken) == count
        return taken


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


@contextlib.contextmanager
def running(cmd: list[str], cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)


def write_config(dest: Path, trunk_port: int) -> Path:
    """The shipped config/, with the test application and the trunk on the SIPp port."""
    shutil.copytree(REPO / "config", dest)
    main = yaml.safe_load((dest / "carrier.yaml").read_text())
    main["agent"]["application"] = "tests.deploy.node_app.handler:application"
    main["agent"]["seed_demo"] = False
    main["stir"]["enabled"] = False  # each node would run its own dev CA; not what is tested
    (dest / "carrier.yaml").write_text(yaml.safe_dump(main))
    trunks = yaml.safe_load((dest / "trunks.yaml").read_text())
    (demo,) = [t for t in trunks["trunks"] if t["name"] == "demo"]
    demo["port"] = trunk_port
    (dest / "trunks.yaml").write_text(yaml.safe_dump(trunks))
    # The gate's calling window is tested in tests/dialer with a pinned clock; real
    # `carrier serve` reads the wall clock, so here the window spans the whole day (rules
    # are data: an operator's change of reading is a change of this file).
    federal = yaml.safe_load((dest / "calling_rules" / "federal.yaml").read_text())
    federal["window"] = {"start": "00:00", "end": "23:59"}
    (dest / "calling_rules" / "federal.yaml").write_text(yaml.safe_dump(federal))
    return dest


async def seed_due_outreach(records: Records, db_url: str, now: dt.datetime) -> list[str]:
    """Synthetic patients (New York numbers, no state rules) each with an appointment in
    two hours: the 2-hour reminder is due now, so each node's first dialer pass wants it."""
    ids = []
    for i in range(PATIENTS):
        pid = await records.add_patient(
            f"Synthetic Patient {i}", f"+1212555{150 + i:04d}", actor="test", reason="seed",
            address=PatientAddress("NY", "America/New_York"))
        await records.consent_grant(pid, Channel.VOICE, ConsentKind.TCPA_EXPRESS,
                                    source="test", evidence_ref="seed", actor="test")
        ids.append(str(pid))
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("INSERT INTO sched_providers (id, name) VALUES ('dr1', 'Dr Test')")
        for i, pid in enumerate(ids):
            start = now + dt.timedelta(hours=2) - dt.timedelta(minutes=1)
            await conn.execute(
                "INSERT INTO sched_appointments (id, patient_id, provider_id, start_at, end_at,"
                " status, updated_at) VALUES ($1, $2, 'dr1', $3, $4, 'booked', $5)",
                f"appt-{i}", pid, start, start + dt.timedelta(minutes=20), now)
    finally:
        await conn.close()
    return ids


async def wait_outreach_done(db_url: str, count: int, within_s: float) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        # Bounded wait on the two real dialers.
        for _ in range(int(within_s / 0.2)):
            done = await conn.fetchval(
                "SELECT count(*) FROM dialer_outreach WHERE dials > 0 AND state <> 'leased'")
            if done >= count:
                return
            await asyncio.sleep(0.2)  # bounded poll of real outside processes (Kamailio, nodes)
        rows = await conn.fetch("SELECT state, dials, outcome, last_rule FROM dialer_outreach")
        raise AssertionError(f"outreach not dialled in {within_s} s: {[dict(r) for r in rows]}")
    finally:
        await conn.close()


@pytest.fixture
async def rig(db_url: str, records: Records, tmp_path: Path) -> AsyncIterator[Rig]:
    kport, a_port, b_port, trunk_port, trunk_media, caller_port, caller_media = pick_ports(7)
    base = tmp_path
    rig = Rig(
        base=base, config_dir=write_config(base / "config", trunk_port), db_url=db_url,
        calls_log=base / "calls.log", kamailio_port=kport, caller_port=caller_port,
        caller_media_port=caller_media, trunk_port=trunk_port,
        nodes={name: Node(name, port, base / f"node-{name}", base / f"node-{name}.log")
               for name, port in (("a", a_port), ("b", b_port))},
    )
    listing = base / "dispatcher.list"
    listing.write_text("".join(f"1 sip:127.0.0.1:{n.port} 0 0\n" for n in rig.nodes.values()))
    trunk_cmd = ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(trunk_port), "-nostdin",
                 "-mp", str(trunk_media)]
    with running(trunk_cmd, base, base / "trunk.log"):
        try:
            yield rig
        finally:
            for node in rig.nodes.values():
                rig.kill(node)


def kamailio_running(rig: Rig) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    return running(command(rig.base, rig.kamailio_port, rig.base / "dispatcher.list",
                           PING_INTERVAL_S), rig.base, rig.base / "kamailio.log")


async def wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    # Bounded wait on a real outside process: Kamailio has bound its port once we cannot.
    for _ in range(300):
        if not port_free(port):
            return
        assert proc.poll() is None, tail(log)
        await asyncio.sleep(0.1)  # bounded poll of real outside processes (Kamailio, nodes)
    raise AssertionError(f"kamailio did not listen:\n{tail(log)}")


@pytest.mark.timeout(420)
async def test_two_nodes_behind_kamailio(rig: Rig, records: Records) -> None:
    patients = await seed_due_outreach(records, rig.db_url, dt.datetime.now(dt.UTC))
    a, b = rig.nodes["a"], rig.nodes["b"]
    # Both dialers start together and race for the same due outreach.
    await asyncio.gather(rig.start(a), rig.start(b))
    with kamailio_running(rig) as kamailio:
        await wait_listening(rig.kamailio_port, kamailio, rig.base / "kamailio.log")

        # 1. Calls are spread across both nodes (round robin: 3 and 3, unless a probe
        # answer came late on a busy machine and a node sat out a second).
        taken = await rig.place_calls(6)
        assert set(Counter(taken)) == {"a", "b"}, taken

        # 2. Each due outreach is dialled once, by one of the two dialers.
        await wait_outreach_done(rig.db_url, PATIENTS, within_s=90)
        dialled = rig.answered("outbound")
        assert sorted(p for _, _, p in dialled) == sorted(patients), dialled

        # 3. Node A dies without a word: new calls all go to B, and none fails.
        rig.kill(a)
        taken = await rig.place_calls(4)
        assert set(taken) == {"b"}, taken

        # 4. Node A comes back; the dispatcher's probes find it and calls reach it again.
        await rig.start(a)
        back: list[str] = []
        # Bounded: a probe every PING_INTERVAL_S marks it active again.
        for _ in range(20):
            back += await rig.place_calls(2)
            if "a" in back:
                break
        assert "a" in back, back

    # No outreach was dialled twice, also after node A's restart (its dialer ran again).
    dialled = rig.answered("outbound")
    assert sorted(p for _, _, p in dialled) == sorted(patients), dialled
    conn = await asyncpg.connect(rig.db_url)
    try:
        rows = await conn.fetch(
            "SELECT o.patient_id, o.dials, o.state, count(t.id) FILTER (WHERE t.allowed) AS"
            " allowed, count(t.id) FILTER (WHERE t.allowed AND t.trunk IS NOT NULL) AS dials_made"
            " FROM dialer_outreach o LEFT JOIN dialer_attempts t ON t.outreach_id = o.id"
            " GROUP BY o.id ORDER BY o.patient_id")
    finally:
        await conn.close()
    dialled_rows = [r for r in rows if r["dials"] > 0]
    assert sorted(r["patient_id"] for r in dialled_rows) == sorted(patients)
    for r in dialled_rows:
        assert (r["dials"], r["allowed"], r["dials_made"]) == (1, 1, 1), dict(r)
