"""Changing the key-encryption key (KEK) never leaves the data keys under a key no config names.

``carrier keys rotate --new-kek-file P`` used to create ``P`` and re-wrap every data key
under it at once: until the operator edited ``keys.kek_file``, every command (and a restart
of ``serve``) failed with "wrapped by ..., not by the configured key-encryption key". Now the
command re-wraps only to the KEK the settings name, with the previous one given explicitly
(``--old-kek-file``), in one transaction, and without a new data-key version, so a node still
running on the previous KEK keeps reading every record it could read before.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from uuid import uuid4

import pytest
import yaml

from carrier.records.cli_context import kek_for
from carrier.records.store import Records
from carrier.settings import load_settings
from tests.conftest import TEST_KEK
from tests.ops.conftest import Operator
from tests.ops.live import one_line_error, operator_env

pytestmark = [pytest.mark.postgres]


def test_a_new_kek_file_the_settings_do_not_name_is_refused(operator: Operator,
                                                            tmp_path: Path) -> None:
    new = tmp_path / "new-kek.bin"
    line = one_line_error(operator.run("keys", "rotate", "--new-kek-file", str(new)))
    assert "not the configured key-encryption key" in line, line
    assert "--old-kek-file" in line, line
    assert not new.exists()
    done = operator.run("consent", "show", str(uuid4()))
    assert "no patient with the id given" in done.err, done.err  # the data keys still unwrap


async def test_rotating_to_the_configured_kek_keeps_a_live_node_reading(
    operator: Operator, db_url: str, tmp_path: Path
) -> None:
    # The live node: records opened on the previous KEK, with a patient written.
    live = await Records.open(db_url, TEST_KEK, tmp_path / "live-spool")
    try:
        pid = await live.add_patient("Testa Patientson", "+15550100142", actor="test",
                                     reason="test")
        old, new = tmp_path / "old-kek.bin", tmp_path / "new-kek.bin"
        old.write_bytes(TEST_KEK.secret)
        new.write_bytes(os.urandom(32))
        new.chmod(0o600)
        doc = yaml.safe_load((operator.cfg / "carrier.yaml").read_text())
        doc.setdefault("keys", {})["kek_file"] = str(new)
        (operator.cfg / "carrier.yaml").write_text(yaml.safe_dump(doc))
        env = operator_env()  # no $CARRIER_KEK: keys.kek_file is the configured KEK

        # The config names the new KEK, the data keys are still under the old one: the
        # refusal says what to run.
        line = one_line_error(operator.run("consent", "show", str(pid), env=env))
        assert "--old-kek-file" in line, line

        done = operator.run("keys", "rotate", "--old-kek-file", str(old), env=env)
        assert done.code == 0, done.err
        assert "re-wrapped under" in done.out
        assert operator.run("consent", "show", str(pid), env=env).code == 0
        assert operator.run("keys", "rotate", "--old-kek-file", str(old), env=env).code == 0
        # The live node, still on the previous KEK, reads and writes on.
        await live.reload_keys()
        got = await live.get_patient(pid, actor="test", reason="test")
        assert got is not None
        assert got.name == "Testa Patientson"
        other = await live.add_patient("Testo Patientson", "+15550100143", actor="test",
                                       reason="test")
        assert operator.run("consent", "show", str(other), env=env).code == 0
        # A wrong old key is refused, nothing changes.
        wrong = tmp_path / "wrong.bin"
        wrong.write_bytes(os.urandom(32))
        stale = {**env, "CARRIER_KEK": base64.b64encode(TEST_KEK.secret).decode()}
        line = one_line_error(operator.run("keys", "rotate", "--old-kek-file", str(wrong),
                                           env=stale))
        assert "does not unwrap" in line, line
        assert operator.run("consent", "show", str(pid), env=env).code == 0
    finally:
        await live.close()


async def test_a_node_on_the_previous_kek_reads_data_keys_added_after_the_kek_changed(
    operator: Operator, db_url: str, tmp_path: Path
) -> None:
    """The operator moves to a new KEK (in place: the configured file now holds it) and then,
    before restarting ``serve``, adds a data-key version and re-encrypts the patients.
    Before, the node still running met a patient row under the new version, reloaded its
    keys with the KEK it had started with, found the new version wrapped by another KEK and
    failed every read of a patient (each call from a known patient) until restarted. Now it
    reads the configured KEK again when the keys moved under another one."""
    kek_file = tmp_path / "keys" / "kek.bin"
    kek_file.parent.mkdir()
    kek_file.write_bytes(TEST_KEK.secret)
    kek_file.chmod(0o600)
    doc = yaml.safe_load((operator.cfg / "carrier.yaml").read_text())
    doc.setdefault("keys", {})["kek_file"] = str(kek_file)
    (operator.cfg / "carrier.yaml").write_text(yaml.safe_dump(doc))
    settings = load_settings(operator.cfg)
    live = await Records.open(db_url, kek_for(settings), tmp_path / "live-spool",
                              kek_source=lambda: kek_for(settings))
    try:
        pid = await live.add_patient("Testa Patientson", "+15550100144", actor="test",
                                     reason="test")
        old = tmp_path / "old-kek.bin"
        old.write_bytes(TEST_KEK.secret)
        kek_file.write_bytes(os.urandom(32))  # the new KEK, where the settings name it
        env = operator_env()
        for step in (("keys", "rotate", "--old-kek-file", str(old), "--new-kek-file",
                      str(kek_file)), ("keys", "rotate"), ("keys", "reencrypt")):
            done = operator.run(*step, env=env)
            assert done.code == 0, (step, done.err)
        found = await live.find_patients_by_phone("+15550100144", actor="test", reason="test")
        assert [p.name for p in found] == ["Testa Patientson"]
        got = await live.get_patient(pid, actor="test", reason="test")
        assert got is not None
        assert got.phone == "+15550100144"
    finally:
        await live.close()


def test_the_legacy_kek_file_variable_is_the_configured_kek(operator: Operator,
                                                            tmp_path: Path) -> None:
    """``$CARRIER_KEK_FILE`` (before ``keys.kek_file``) names the KEK every command reads
    when ``keys.kek_file`` is not set. ``--new-kek-file`` used to be checked against
    ``keys.kek_file``'s default path instead: the file the variable names was refused, and
    the default path (a key nothing read) was accepted."""
    legacy = tmp_path / "legacy" / "kek.bin"
    legacy.parent.mkdir()
    legacy.write_bytes(TEST_KEK.secret)
    legacy.chmod(0o600)
    env = operator_env(CARRIER_KEK_FILE=str(legacy))
    default = tmp_path / "var" / "keys" / "kek.bin"
    line = one_line_error(operator.run("keys", "rotate", "--new-kek-file", str(default),
                                       env=env))
    assert "not the configured key-encryption key" in line, line
    assert "$CARRIER_KEK_FILE" in line, line
    # The KEK changed in place, where the variable names it: accepted.
    old = tmp_path / "old-kek.bin"
    old.write_bytes(TEST_KEK.secret)
    legacy.write_bytes(os.urandom(32))
    done = operator.run("keys", "rotate", "--old-kek-file", str(old), "--new-kek-file",
                        str(legacy), env=env)
    assert done.code == 0, done.err
    # the database opened under the new KEK (a wrong one would fail before the lookup)
    assert "no patient with the id given" in operator.run("consent", "show", str(uuid4()),
                                                          env=env).err


@pytest.mark.parametrize("other", ["kek_file", "env"])
def test_two_kek_sources_that_disagree_are_refused(operator: Operator, tmp_path: Path,
                                                   other: str) -> None:
    legacy = tmp_path / "legacy.bin"
    legacy.write_bytes(TEST_KEK.secret)
    legacy.chmod(0o600)
    env = operator_env(CARRIER_KEK_FILE=str(legacy))
    if other == "kek_file":
        doc = yaml.safe_load((operator.cfg / "carrier.yaml").read_text())
        doc.setdefault("keys", {})["kek_file"] = str(tmp_path / "elsewhere.bin")
        (operator.cfg / "carrier.yaml").write_text(yaml.safe_dump(doc))
    else:
        env["CARRIER_KEK"] = base64.b64encode(TEST_KEK.secret).decode()
    line = one_line_error(operator.run("keys", "rotate", env=env))
    assert "$CARRIER_KEK_FILE" in line, line
    assert not (tmp_path / "elsewhere.bin").exists()
