"""``carrier user add/list/disable/reset-mfa`` as an operator runs them (subprocesses on a
real database); the printed password and TOTP URI sign in to the console."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pyotp
import pytest

from carrier.cli import main
from carrier.console.app import ConsoleContext, build_app
from carrier.records.crypto import LocalKek
from carrier.records.store import Records
from carrier.settings import Settings
from tests.console.conftest import Clock

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]


def _env(db_url: str, tmp_path: Path, kek: LocalKek) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRIER_")}
    env.update(CARRIER_DATABASE_URL=db_url, CARRIER_DATA_DIR=str(tmp_path / "var"),
               CARRIER_KEK=base64.b64encode(kek.secret).decode())
    return env


def carrier(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carrier.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


def _issued(out: str) -> tuple[str, str]:
    lines = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    return lines["one-time password"], lines["TOTP provisioning URI"]


def test_user_commands_end_to_end(db_url: str, tmp_path: Path, test_kek: LocalKek) -> None:
    env = _env(db_url, tmp_path, test_kek)
    added = carrier(env, "user", "add", "ada", "--role", "admin")
    assert added.returncode == 0, added.stderr
    password, uri = _issued(added.stdout)
    assert uri.startswith("otpauth://totp/Carrier%20console:ada?secret=")
    assert carrier(env, "user", "add", "sue", "--role", "supervisor").returncode == 0
    reset = carrier(env, "user", "reset-mfa", "sue")
    assert reset.returncode == 0, reset.stderr
    assert _issued(reset.stdout)[1] != uri
    assert carrier(env, "user", "disable", "sue").returncode == 0
    listed = json.loads(carrier(env, "user", "list", "--json").stdout)["operators"]
    assert [(o["name"], o["role"], o["state"]) for o in listed] == [
        ("ada", "admin", "active"), ("sue", "supervisor", "disabled")]
    assert asyncio.run(_signs_in(db_url, tmp_path, test_kek, "ada", password, uri)) == "admin"


def test_user_commands_refuse_in_one_line(db_url: str, tmp_path: Path, test_kek: LocalKek,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in _env(db_url, tmp_path, test_kek).items():
        if key.startswith("CARRIER_"):
            monkeypatch.setenv(key, value)
    assert main(["user", "add", "ada", "--role", "admin"]) == 0
    capsys.readouterr()
    assert main(["user", "add", "ada", "--role", "auditor"]) == 1
    assert capsys.readouterr().err == "carrier user: an operator named 'ada' exists already\n"
    assert main(["user", "add", "Bad Name!", "--role", "admin"]) == 1
    assert "operator name is 1-64 of a-z" in capsys.readouterr().err
    assert main(["user", "disable", "nobody"]) == 1
    assert capsys.readouterr().err == "carrier user: no operator named 'nobody'\n"
    assert main(["user", "list"]) == 0
    assert capsys.readouterr().out.startswith("ada                      admin       active")


async def _signs_in(db_url: str, tmp_path: Path, kek: LocalKek, name: str, password: str,
                    uri: str) -> str:
    records = await Records.open(db_url, kek, tmp_path / "spool")
    try:
        clock = Clock(dt.datetime.now(dt.UTC))
        ctx = ConsoleContext(Settings(data_dir=str(tmp_path / "var")), records=records,
                             now=clock)
        code = pyotp.parse_uri(uri).at(clock())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(ctx)),
                                     base_url="https://testserver") as client:
            r = await client.post("/api/v1/session",
                                  json={"name": name, "password": password, "totp": code})
            assert r.status_code == 200, r.text
            audit = await records.pool.fetch(
                "SELECT action, actor FROM audit_log WHERE action LIKE 'operator.%'"
                " ORDER BY seq")
            assert [a["action"] for a in audit] == [
                "operator.add", "operator.add", "operator.reset_mfa", "operator.disable"]
            assert all(a["actor"].startswith("operator:") for a in audit)  # --actor default
            return str(r.json()["role"])
    finally:
        await records.close()
