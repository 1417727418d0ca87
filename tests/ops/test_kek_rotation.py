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

from carrier.records.store import Records
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
    assert "no patient with id" in done.err, done.err  # the data keys still unwrap


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
