"""Helpers to run ``carrier`` as an operator does: a subprocess, its own config folder and
data folder, a working directory of its own, no ``CARRIER_*`` variables from the test run."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[2]
MODELS = Path(os.environ.get("CARRIER_TEST_MODEL_CACHE", "/tmp/carrier-test-models"))


def carrier_command() -> list[str]:
    """The installed ``carrier`` script beside this interpreter (else ``-m carrier.cli``)."""
    script = Path(sys.executable).with_name("carrier")
    return [str(script)] if script.exists() else [sys.executable, "-m", "carrier.cli"]


def operator_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRIER_")}
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str


def carrier(*args: str, config: Path | None, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 120) -> Done:
    pre = ["--config-dir", str(config)] if config is not None else []
    done = subprocess.run([*carrier_command(), *pre, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env or operator_env(), check=False)
    return Done(done.returncode, done.stdout, done.stderr)


async def acarrier(*args: str, config: Path | None, cwd: Path,
                   env: dict[str, str] | None = None, limit: float = 120) -> Done:
    """``carrier`` from a coroutine (``limit``: seconds before the process is killed)."""
    return await asyncio.to_thread(carrier, *args, config=config, cwd=cwd, env=env,
                                   timeout=limit)


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (SIP listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP")


def config_folder(dest: Path, data_dir: Path, **sections: dict[str, Any]) -> Path:
    """A copy of the shipped config with ``data_dir`` (absolute) and sections merged in."""
    shutil.copytree(REPO / "config", dest)
    main = yaml.safe_load((dest / "carrier.yaml").read_text())
    main["data_dir"] = str(data_dir)
    for name, values in sections.items():
        main.setdefault(name, {}).update(values)
    (dest / "carrier.yaml").write_text(yaml.safe_dump(main, sort_keys=False))
    return dest


def one_line_error(done: Done) -> str:
    """The failure's stderr, checked to be one line (after a misused command's usage) and
    no traceback."""
    assert done.code != 0, done.out
    assert "Traceback" not in done.err, done.err
    lines = done.err.strip().splitlines()
    if done.code == 2 and lines[0].startswith("usage: "):  # misuse: the command's usage first
        lines = lines[1:]
        while lines and lines[0].startswith(" "):  # a usage wrapped over several lines
            lines = lines[1:]
    assert len(lines) == 1, done.err
    return lines[0]


def certificate(path: Path) -> Path:
    """A self-signed EC certificate (PEM) at ``path``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path
