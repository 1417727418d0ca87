"""The container's PID 1 reaps the orphans: the image's ENTRYPOINT starts an init (tini)
that runs ``carrier``, and neither Compose nor Kubernetes replaces that ENTRYPOINT.

Before: ``carrier`` was the ENTRYPOINT, so PID 1 of the container. A process orphaned in
the container (the embedded PostgreSQL's postmaster: pg_ctl starts it and exits) is
reparented to PID 1, and carrier waits only for the children it knows: each one that
ended stayed a zombie for the container's life.

That Compose (rendered by ``docker-compose config``) and the Kubernetes manifest keep the
ENTRYPOINT is checked in test_deploy_files.py. The behaviour is checked for real: the
ENTRYPOINT as the Containerfile writes it runs as PID 1 of a new PID namespace
(``unshare``), with a stand-in for ``carrier`` that leaves an orphan the way pg_ctl does
and then looks whether it was reaped once it ended. The init is Debian's tini, the package
the image installs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTAINERFILE = REPO / "deploy" / "container" / "Containerfile"
CARRIER = "/opt/carrier/.venv/bin/carrier"
# What carrier does when the embedded database starts: a child (pg_ctl) starts a process
# (the postmaster) and exits; the orphan ends later. Then: was it reaped?
STAND_IN = """
import os, sys, time
r, w = os.pipe()
child = os.fork()
if child == 0:
    if os.fork() == 0:
        os.close(w)
        os.read(r, 1)  # until the stand-in closes its end
        os._exit(0)
    os._exit(0)
os.close(r)
os.waitpid(child, 0)
orphans = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())
           and "python" in open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace")]
assert len(orphans) == 1, orphans
os.close(w)  # the orphan ends now
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        state = open(f"/proc/{orphans[0]}/stat").read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        print("reaped")
        sys.exit(0)
    time.sleep(0.01)
print("zombie", state)
sys.exit(1)
"""


def _entrypoint() -> list[str]:
    lines = [line for line in CONTAINERFILE.read_text().splitlines()
             if line.startswith("ENTRYPOINT ")]
    assert len(lines) == 1, lines
    argv: list[str] = json.loads(lines[0].removeprefix("ENTRYPOINT "))  # exec form only
    return argv


def test_the_entrypoint_is_an_init_the_image_installs_running_carrier() -> None:
    argv = _entrypoint()
    assert argv[-1] == CARRIER
    assert argv[0] != CARRIER, "carrier would be PID 1: nothing reaps orphans"
    assert Path(argv[0]).name == "tini", argv
    text = CONTAINERFILE.read_text()
    assert "apt-get install -y --no-install-recommends tini" in text


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="needs root and unshare for a PID namespace")
def test_an_orphan_in_the_container_is_reaped() -> None:
    argv = _entrypoint()
    if argv[0] != CARRIER and not Path(argv[0]).exists():
        pytest.skip(f"{argv[0]} is not installed here (Debian package tini)")
    run = [sys.executable, "-c", STAND_IN] if argv[0] == CARRIER else [
        *argv[:-1], sys.executable, "-c", STAND_IN]
    done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", *run],
                          capture_output=True, text=True, timeout=120, check=False)
    if "Operation not permitted" in done.stderr:
        pytest.skip("no PID namespaces here")
    assert done.stdout.strip() == "reaped", done.stdout + done.stderr
    assert done.returncode == 0, done.stderr
