"""Kamailio in front of several gateway processes on one machine, for the benches.

Debian's ``kamailio`` runs the shipped ``deploy/kamailio/kamailio.cfg`` (only its defines
for the listen address, the node list and the probe interval are set on the command line,
as ``tests/deploy/test_kamailio_two_nodes.py`` does): new INVITEs go round robin to the
nodes, in-dialog requests follow Record-Route to the node that took the call, and RTP
flows between the caller and that node directly. Why not ``SO_REUSEPORT`` on one port:
the kernel spreads UDP by the 4-tuple hash, so every datagram from one trunk address
(one source IP and port) lands on the same process; a dispatcher that reads Call-IDs is
what spreads one trunk's calls, and Kamailio is the kept one.

Kamailio cannot listen on port 0, so its port and the nodes' are picked free.
"""

from __future__ import annotations

import random
import socket
import subprocess
import time
from pathlib import Path

from bench._common import descendants, process_cpu

REPO = Path(__file__).resolve().parents[1]
KAMAILIO_CFG = REPO / "deploy" / "kamailio" / "kamailio.cfg"


def port_free(port: int) -> bool:
    """Nothing listens on ``port`` of 127.0.0.1, UDP or TCP."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def pick_ports(count: int, low: int = 28000, high: int = 28999) -> list[int]:
    """``count`` free ports in ``low..high``, from a random start (spreading, not security)."""
    span = (high - low) // 2
    start = random.randrange(span)
    found: list[int] = []
    for i in range(span):
        port = low + 2 * ((start + i) % span)
        if port_free(port):
            found.append(port)
            if len(found) == count:
                return found
    raise RuntimeError(f"no {count} free ports in {low}-{high}")


def command(workdir: Path, port: int, listing: Path, ping_interval_s: int) -> list[str]:
    """The dispatcher on ``127.0.0.1:port`` in the foreground, its nodes in ``listing``
    (the shipped config; only its defines set here). ``tests/deploy`` runs the same."""
    return ["kamailio", "-f", str(KAMAILIO_CFG), "-DD", "-E", "-m", "64", "-M", "8",
            "-w", str(workdir), "-A", f"LISTEN=udp:127.0.0.1:{port}",
            "-A", f'DISPATCHER_LIST="{listing}"', "-A", f"PING_INTERVAL={ping_interval_s}"]


class Kamailio:
    """The dispatcher process, started with a node list, stopped on ``close``."""

    def __init__(self, workdir: Path, port: int, nodes: list[int]) -> None:
        self.port = port
        listing = workdir / "dispatcher.list"
        listing.write_text("".join(f"1 sip:127.0.0.1:{p} 0 0\n" for p in nodes))
        self.log = workdir / "kamailio.log"
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(command(workdir, port, listing, 2), cwd=workdir,
                                         stdout=log, stderr=subprocess.STDOUT)
        # Bounded wait on a real outside process: it has bound its port once we cannot.
        deadline = time.monotonic() + 30
        while port_free(port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kamailio did not listen: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def cpu(self) -> float:
        """CPU seconds of Kamailio and every process it forked."""
        return sum(process_cpu(p) for p in [self.proc.pid, *descendants(self.proc.pid)])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
