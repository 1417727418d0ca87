"""Fixtures for the operator tests: ``operator`` runs ``carrier`` against a real database."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import TEST_KEK
from tests.ops.live import REPO, Done, carrier, certificate, operator_env


class Operator:
    def __init__(self, cfg: Path, cwd: Path, env: dict[str, str]) -> None:
        self.cfg, self.cwd, self.env = cfg, cwd, env

    def run(self, *args: str, env: dict[str, str] | None = None) -> Done:
        return carrier(*args, config=self.cfg, cwd=self.cwd, env=env or self.env)


@pytest.fixture
def operator(db_url: str, tmp_path: Path) -> Operator:
    cfg = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg)
    doc = yaml.safe_load((cfg / "carrier.yaml").read_text())
    doc["data_dir"] = str(tmp_path / "var")
    doc["database"]["url"] = db_url
    (cfg / "carrier.yaml").write_text(yaml.safe_dump(doc))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "short.key").write_bytes(b"0123456789")
    (tmp_path / "garbage.jsonl").write_text("not a bundle\n")
    certificate(tmp_path / "cert.pem")
    return Operator(cfg, cwd, operator_env(CARRIER_KEK=base64.b64encode(TEST_KEK.secret).decode()))
