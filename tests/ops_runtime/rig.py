"""A real ``carrier serve`` for the operations tests, and the outside peers around it.

The node runs as a subprocess with its own config folder, data folder and database (on
the session's embedded cluster), hosting :mod:`tests.ops_runtime.ops_app`. Around it:
SIPp as a registrar for a trunk with ``auth: register`` (``registrar.xml``), a small UDP
responder that answers (and counts) the OPTIONS keepalives of the other trunk, and SIPp
callers. Ports come from 28000-28999 (the node's SIP and console ports must be known to
the tests and to ``carrier health``).
"""

from __future__ import annotations

import base64
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.conftest import TEST_KEK

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
CALLER = "+12125550199"  # the synthetic caller SIPp dials from (never in a log line)


def _free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def pick_ports(count: int) -> list[int]:
    """``count`` bases in 28000-28999, each the first of four free ports."""
    start = random.randrange(250)  # spreading parallel runs, not security
    found: list[int] = []
    for i in range(250):
        port = 28000 + 4 * ((start + i) % 250)
        if all(_free(port + k) for k in range(4)):
            found.append(port)
            if len(found) == count:
                return found
    raise RuntimeError("no free ports in 28000-28999")


class OptionsResponder:
    """Answers SIP OPTIONS with 200 on a UDP port and counts them (a trunk's far end)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.count = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            text = data.decode(errors="replace")
            if not text.startswith("OPTIONS "):
                continue
            self.count += 1
            keep = [line for line in text.split("\r\n")
                    if re.match(r"(?i)(via|from|to|call-id|cseq):", line)]
            reply = "\r\n".join(["SIP/2.0 200 OK", *keep, "Content-Length: 0", "", ""])
            self.sock.sendto(reply.encode(), addr)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@dataclass
class Node:
    base: Path
    config_dir: Path
    data_dir: Path
    db_url: str
    sip_port: int
    console_port: int
    registrar_port: int
    keepalive_port: int
    calls_log: Path
    stdout: Path
    stderr: Path
    proc: subprocess.Popen[bytes] | None = None
    responder: OptionsResponder | None = None
    peers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARRIER_")}
        env.update(
            CARRIER_CONFIG_DIR=str(self.config_dir),
            CARRIER_DATA_DIR=str(self.data_dir),
            CARRIER_DATABASE_URL=self.db_url,
            OPS_KEK=base64.b64encode(TEST_KEK.secret).decode(),
            OPS_TRUNK_PASSWORD="secret",
            OPS_CALLS_LOG=str(self.calls_log),
            PYTHONPATH=str(REPO),
            HF_HUB_OFFLINE="1",
        )
        return env

    @staticmethod
    def carrier_cmd(*args: str) -> list[str]:
        return [str(Path(sys.executable).with_name("carrier")), *args]

    def carrier(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.carrier_cmd(*args), cwd=self.base, env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def start(self) -> None:
        exe = Path(sys.executable).with_name("carrier")
        with self.stdout.open("ab") as out, self.stderr.open("ab") as err:
            self.proc = subprocess.Popen([str(exe), "serve"], cwd=self.base, env=self.env(),
                                         stdout=out, stderr=err, start_new_session=True)
        # Bounded wait on a real outside process: it prints one line once serving.
        self.wait_for(lambda: b"serving SIP" in self.stdout.read_bytes(), 120, "start")

    def wait_for(self, ok: object, limit: float, what: str) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if ok():  # type: ignore[operator]
                return
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.1)  # bounded wait on the node (a real outside process)
        raise AssertionError(f"node: {what} did not happen:\n{self.tail()}")

    def tail(self) -> str:
        return (self.stdout.read_text(errors="replace")[-1500:] + "\n---\n"
                + self.stderr.read_text(errors="replace")[-3000:])

    def log_lines(self) -> list[str]:
        return [line for line in self.stderr.read_text().splitlines() if line.strip()]

    def call(self, scenario: str, *, hold_ms: int = 500, service: str = "+15550100100",
             echo: bool = True) -> subprocess.Popen[bytes]:
        """Start a SIPp caller (returns at once; ``wait()`` on it)."""
        port, media = pick_ports(2)  # SIPp binds the media port and the three after it
        cmd = ["sipp", f"127.0.0.1:{self.sip_port}", "-sf", str(HERE / scenario),
               "-s", service, "-i", "127.0.0.1", "-p", str(port), "-mp", str(media),
               "-m", "1", "-d", str(hold_ms), "-nostdin", "-timeout", "40s",
               "-timeout_error", "-trace_err",
               "-error_file", str(self.base / f"sipp_{port}_errors.log")]
        if echo:
            cmd.append("-rtp_echo")
        proc = subprocess.Popen(cmd, cwd=self.base, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        self.peers.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in [*self.peers, *([self.proc] if self.proc else [])]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


def write_config(node: Node, **sip: object) -> None:
    """The shipped config/, with the test application, two trunks and the node's ports."""
    dest = node.config_dir
    shutil.copytree(REPO / "config", dest)
    main = yaml.safe_load((dest / "carrier.yaml").read_text())
    main["agent"]["application"] = "tests.ops_runtime.ops_app:application"
    main["agent"]["seed_demo"] = False
    main["stir"]["enabled"] = False
    main["sip"].update(udp_port=node.sip_port, tcp_port=node.sip_port, tls_port=None,
                       drain_timeout_s=20, drain_retry_after_s=7)
    main["sip"].update(sip)
    main["console"] = {"bind_host": "127.0.0.1", "port": node.console_port,
                       "trusted_proxies": ["127.0.0.1"]}  # the test client plays the proxy
    main["logging"] = {"format": "json", "level": "INFO"}
    main["keys"] = {"kek_env": "OPS_KEK"}
    (dest / "carrier.yaml").write_text(yaml.safe_dump(main))
    trunks = yaml.safe_load((dest / "trunks.yaml").read_text())
    (demo,) = [t for t in trunks["trunks"] if t["name"] == "demo"]
    demo.update(port=node.keepalive_port, options_keepalive_s=1)
    trunks["trunks"].append({
        "name": "reg", "host": "127.0.0.1", "port": node.registrar_port, "region": "local",
        "auth": "register", "username": "opsuser", "password_env": "OPS_TRUNK_PASSWORD",
        "register_expires_s": 60, "options_keepalive_s": 0})
    (dest / "trunks.yaml").write_text(yaml.safe_dump(trunks))
    (dest / "greeting.txt").write_text("greeting-v1\n")
