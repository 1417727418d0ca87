"""``carrier stir`` sub-commands: dev-ca, sign, verify."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stir_shaken import cli

ORIG, DEST = "12025550100", "12025550101"


def _run(argv: list[str], stdin: str = "", monkeypatch: pytest.MonkeyPatch | None = None
         ) -> int:
    parser = argparse.ArgumentParser(prog="carrier")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["stir", *argv])
    if monkeypatch is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return int(args.func(args))


@pytest.fixture
def pki_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "dev"
    assert _run(["dev-ca", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "x5u:                 https://127.0.0.1:8443/sp.pem" in printed
    return out


def _sign(pki_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    code = _run(["sign", "--orig", ORIG, "--dest", DEST, "--key", str(pki_dir / "sp-key.pem"),
                 "--x5u", "https://127.0.0.1:8443/sp.pem", *extra])
    assert code == 0
    return capsys.readouterr().out


def test_dev_ca_writes_the_pki(pki_dir: Path) -> None:
    for name in ("ca.pem", "ca-key.pem", "sp.pem", "sp-key.pem", "tls.pem", "tls-key.pem"):
        assert (pki_dir / name).exists()
    assert (pki_dir / "sp-key.pem").stat().st_mode & 0o077 == 0


def test_sign_then_verify_offline(pki_dir: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = _sign(pki_dir, capsys, "--attest", "B")
    assert out.startswith("Identity: ey")
    assert ";info=<https://127.0.0.1:8443/sp.pem>;alg=ES256;ppt=shaken" in out
    verify = ["verify", "--from", ORIG, "--to", DEST, "--trust", str(pki_dir / "ca.pem"),
              "--cert", str(pki_dir / "sp.pem")]
    assert _run(verify, out, monkeypatch) == 0
    report = capsys.readouterr().out
    assert "status: passed" in report
    assert "verstat: TN-Validation-Passed" in report
    assert "attest: B" in report
    wrong = ["verify", "--from", ORIG, "--to", "12025550102", "--trust",
             str(pki_dir / "ca.pem"), "--cert", str(pki_dir / "sp.pem")]
    assert _run(wrong, out, monkeypatch) == 1
    report = capsys.readouterr().out
    assert "sip_code: 438" in report
    assert 'reason: STIR ;cause=438 ;text="Invalid Identity Header"' in report


def test_sign_several_ppts_and_pasted_sip_message(pki_dir: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = _sign(pki_dir, capsys, "--ppt", "shaken", "rcd", "--name", "Dev Clinic")
    assert out.count("Identity: ") == 2
    message = ("INVITE sip:12025550101@example.test SIP/2.0\nFrom: <sip:x@y>\n"
               + out + "Content-Length: 0\n")
    verify = ["verify", "--from", ORIG, "--to", DEST, "--trust", str(pki_dir / "ca.pem"),
              "--cert", str(pki_dir / "sp.pem")]
    assert _run(verify, message, monkeypatch) == 0
    assert "rcd: Dev Clinic" in capsys.readouterr().out


def test_verify_without_identity(pki_dir: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    base = ["verify", "--from", ORIG, "--to", DEST, "--trust", str(pki_dir / "ca.pem"),
            "--cert", str(pki_dir / "sp.pem")]
    assert _run(base, "", monkeypatch) == 0
    assert "verstat: No-TN-Validation" in capsys.readouterr().out
    assert _run([*base, "--require"], "", monkeypatch) == 1
    assert "sip_code: 428" in capsys.readouterr().out


def test_verify_json_for_scripts(pki_dir: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``--json`` (issue 13): one object with the status, code and verstat."""
    base = ["verify", "--json", "--from", ORIG, "--to", DEST, "--trust",
            str(pki_dir / "ca.pem"), "--cert", str(pki_dir / "sp.pem")]
    assert _run([*base, "--require"], "", monkeypatch) == 1
    doc = json.loads(capsys.readouterr().out)
    assert (doc["status"], doc["sip_code"]) == ("failed", 428)
    headers = _sign(pki_dir, capsys)
    assert _run(base, headers, monkeypatch) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["status"], doc["sip_code"], doc["verstat"]) == (
        "passed", None, "TN-Validation-Passed")


def test_usage_errors_exit_2(pki_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(["sign", "--orig", ORIG, "--dest", DEST, "--ppt", "div", "--key",
                 str(pki_dir / "sp-key.pem"), "--x5u", "https://127.0.0.1:8443/sp.pem"])
    assert code == 2
    assert "--div" in capsys.readouterr().err
    code = _run(["sign", "--orig", ORIG, "--dest", DEST, "--key", str(pki_dir / "sp-key.pem"),
                 "--x5u", "http://127.0.0.1/sp.pem"])
    assert code == 2
    code = _run(["sign", "--orig", ORIG, "--dest", DEST, "--key", str(pki_dir / "missing.pem"),
                 "--x5u", "https://127.0.0.1:8443/sp.pem"])
    assert code == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_dev_ca_serves_and_verify_fetches(tmp_path: Path) -> None:
    """The operator flow end to end, as separate processes over HTTPS on loopback."""
    port = _free_port()
    out = tmp_path / "dev"
    runner = [sys.executable, "-m", "stir_shaken.cli"]
    server = subprocess.Popen(
        [*runner, "dev-ca", "--out", str(out), "--port", str(port), "--serve"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert server.stdout is not None
        for _ in range(10):  # bounded: the banner comes within a few lines
            if server.stdout.readline().startswith("serving"):
                break
        else:
            pytest.fail("dev-ca server did not start")
        x5u = f"https://127.0.0.1:{port}/sp.pem"
        signed = subprocess.run(
            [*runner, "sign", "--orig", ORIG, "--dest", DEST, "--key", str(out / "sp-key.pem"),
             "--x5u", x5u, "--allow-port", str(port)],
            capture_output=True, text=True, timeout=60, check=True).stdout
        verified = subprocess.run(
            [*runner, "verify", "--from", ORIG, "--to", DEST, "--trust", str(out / "ca.pem"),
             "--tls-ca", str(out / "ca.pem"), "--allow-port", str(port)],
            input=signed, capture_output=True, text=True, timeout=60, check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "verstat: TN-Validation-Passed" in verified.stdout
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
