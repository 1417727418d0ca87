"""The records commands act on ``keys.*`` and ``retention.*`` from the settings (before, they
read ``CARRIER_KEK``/``CARRIER_KEK_FILE`` and their own defaults, whatever the settings
said), and ``carrier serve`` takes its key-encryption key the same way (``kek_for``)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from pathlib import Path

import pytest
import yaml

from carrier.errors import OperatorError
from carrier.records.cli_context import kek_for
from carrier.settings import KeySettings, Settings
from tests.ops.conftest import Operator


def _keys(tmp_path: Path, **values: str) -> Settings:
    return Settings(data_dir=str(tmp_path / "var"), keys=KeySettings(**values))


def test_kek_follows_the_keys_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CARRIER_KEK", "CARRIER_KEK_FILE", "CLINIC_KEK"):
        monkeypatch.delenv(name, raising=False)
    chosen = tmp_path / "kek" / "chosen.bin"
    kek = kek_for(_keys(tmp_path, kek_file=str(chosen)))
    assert chosen.read_bytes() == kek.secret
    assert not (tmp_path / "var" / "keys" / "kek.bin").exists()
    monkeypatch.setenv("CARRIER_KEK_FILE", str(chosen))  # the same file: no doubt
    assert kek_for(_keys(tmp_path, kek_file=str(chosen))).secret == kek.secret
    monkeypatch.setenv("CARRIER_KEK_FILE", str(tmp_path / "legacy.bin"))  # another: refused
    with pytest.raises(OperatorError, match="name different key-encryption keys"):
        kek_for(_keys(tmp_path, kek_file=str(chosen)))
    monkeypatch.delenv("CARRIER_KEK_FILE")
    other = os.urandom(32)
    monkeypatch.setenv("CLINIC_KEK", base64.b64encode(other).decode())
    assert kek_for(_keys(tmp_path, kek_file=str(chosen), kek_env="CLINIC_KEK")).secret == other


def _configure(operator: Operator, **sections: dict[str, object]) -> None:
    path = operator.cfg / "carrier.yaml"
    doc = yaml.safe_load(path.read_text())
    for name, values in sections.items():
        doc.setdefault(name, {}).update(values)
    path.write_text(yaml.safe_dump(doc))


@pytest.mark.postgres
def test_retention_and_anchor_follow_the_settings(operator: Operator, tmp_path: Path) -> None:
    checkpoints = tmp_path / "elsewhere" / "heads.jsonl"
    chosen_kek = tmp_path / "kek.bin"
    _configure(operator, retention={"transcript_days": 7, "recording_days": 3},
               keys={"checkpoints_file": str(checkpoints), "kek_file": str(chosen_kek)})
    env = {k: v for k, v in operator.env.items() if k != "CARRIER_KEK"}
    done = operator.run("retention", "run", "--json", env=env)
    assert done.code == 0, done.err
    cutoffs = {r["table"]: dt.datetime.fromisoformat(r["cutoff"])
               for r in json.loads(done.out)["results"]}
    now = dt.datetime.now(dt.UTC)
    assert abs((now - cutoffs["call_transcripts"]) - dt.timedelta(days=7)) < dt.timedelta(hours=1)
    assert abs((now - cutoffs["call_recordings"]) - dt.timedelta(days=3)) < dt.timedelta(hours=1)
    assert chosen_kek.exists()  # keys.kek_file, not <data_dir>/keys/kek.bin
    assert not (tmp_path / "var" / "keys" / "kek.bin").exists()
    done = operator.run("keys", "rotate", env=env)  # an audit entry: the head moves
    assert done.code == 0, done.err
    done = operator.run("audit", "checkpoint", env=env)
    assert done.code == 0, done.err
    assert "signed into " + str(checkpoints) in done.out
    assert checkpoints.exists()
    done = operator.run("audit", "verify", "--json", env=env)
    assert done.code == 0, done.err
    assert json.loads(done.out)["checkpoints_file"] == str(checkpoints)


def test_a_kek_file_other_users_can_read_is_refused(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The key-encryption key unlocks every data key. A key file group or others may read
    (a copy made with the default umask, 0644) used to be taken as it was; now every
    command and ``serve`` refuse it with one line saying how to fix it, and ``config
    check`` reports it."""
    for name in ("CARRIER_KEK", "CARRIER_KEK_FILE"):
        monkeypatch.delenv(name, raising=False)
    key = tmp_path / "kek.bin"
    key.write_bytes(os.urandom(32))
    key.chmod(0o644)
    settings = _keys(tmp_path, kek_file=str(key))
    for create in (True, False):
        with pytest.raises(OperatorError, match="chmod 600") as refused:
            kek_for(settings, create=create)
        assert "0644" in str(refused.value)
    from carrier.config_rules import _kek  # noqa: PLC0415 - the rule itself

    assert any("chmod 600" in f.reason for f in _kek(settings, "carrier.yaml"))
    key.chmod(0o600)
    assert kek_for(settings).secret == key.read_bytes()
    assert not list(_kek(settings, "carrier.yaml"))
