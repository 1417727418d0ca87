"""Operator input the records and config commands cannot act on: one line, non-zero, no
traceback. Each case runs ``carrier`` as an operator does (a subprocess, its own config
folder naming a real database and a data folder under tmp).

Before: ``--from yesterday`` and ``--transcript-days 0`` ended in tracebacks, ``consent
grant`` recorded consent for any UUID and any control characters, ``retention run
--target patients:created_at:1`` deleted patients, a bad key file or an unwritable export
path was reported as "database unreachable", an unknown trunk was a ``KeyError``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from uuid import uuid4

import pytest
import yaml

from tests.ops.conftest import Operator
from tests.ops.live import carrier, carrier_command, one_line_error

pytestmark = pytest.mark.postgres


GRANT = ("consent", "grant", str(uuid4()), "--channel", "voice", "--kind", "tcpa_express")
GIVEN = ("--source", "web_form", "--evidence", "form-1")
T = "{tmp}"  # replaced by the test's tmp folder

# (id, argv, words the one line must hold)
CASES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("from-yesterday", ("audit", "export", "--from", "yesterday", "--to", "2026-01-01",
                        f"{T}/out.jsonl"), ("argument --from: not an ISO date",)),
    ("from-after-to", ("audit", "export", "--from", "2026-02-01", "--to", "2026-01-01",
                       f"{T}/out.jsonl"), ("--from must be before --to",)),
    ("export-no-folder", ("audit", "export", "--from", "2026-01-01", "--to", "2026-02-01",
                          f"{T}/nowhere/out.jsonl"), ("no such folder",)),
    ("transcript-days-0", ("retention", "run", "--transcript-days", "0"), ("at least 1 day",)),
    ("days-not-a-number", ("retention", "run", "--audit-days", "six"), ("whole number",)),
    ("target-patients", ("retention", "run", "--target", "patients:created_at:1"),
     ("not covered by the retention policy",)),
    ("target-audit", ("retention", "run", "--target", "audit_log:at:1"),
     ("not covered by the retention policy",)),
    ("target-other-column", ("retention", "run", "--target", "call_transcripts:turn_at:5"),
     ("expires by created_at",)),
    ("grant-unknown-patient", (*GRANT, *GIVEN), ("no patient with the id given",)),
    ("grant-escape-sequence", (*GRANT, "--source", "web\x1b[2Jform", "--evidence", "f"),
     ("control or invisible characters",)),
    ("grant-newline", (*GRANT, "--source", "web", "--evidence", "a\nforged line"),
     ("control or invisible characters",)),
    ("grant-bidi", (*GRANT, "--source", "web\u202eform", "--evidence", "f"),
     ("control or invisible characters",)),
    ("grant-empty-actor", (*GRANT, *GIVEN, "--actor", " "), ("must not be empty",)),
    # Kept in clear in the append-only consent ledger: no PHI (the text is never echoed).
    ("grant-evidence-phone", (*GRANT, "--source", "web_form", "--evidence",
                              "Testa 555-0142"), ("--evidence", "phone, member or record")),
    ("grant-evidence-dob", (*GRANT, "--source", "web_form", "--evidence", "dob 02/03/1980"),
     ("--evidence", "a date")),
    ("grant-source-email", (*GRANT, "--source", "testa@example.org", "--evidence", "f"),
     ("--source", "e-mail")),
    ("retire-not-a-number", ("keys", "retire", "one"), ("not a data-key version",)),
    ("retire-unknown", ("keys", "retire", "7"), ("no data key version 7",)),
    ("retire-no-keys-yet", ("keys", "retire", "1"), ("no data key version 1",)),
    ("show-not-a-uuid", ("consent", "show", "12"), ("argument patient_id: not a patient id",)),
    ("show-unknown-patient", ("consent", "show", str(uuid4())), ("no patient with the id given",)),
    ("public-key-is-a-certificate", ("audit", "verify", "--public-key", f"{T}/cert.pem"),
     ("is not an Ed25519 public key",)),
    ("public-key-missing", ("audit", "verify", "--public-key", f"{T}/none.pem"),
     ("no such file",)),
    ("bundle-garbage", ("audit", "verify", f"{T}/garbage.jsonl"), ("INVALID",)),
    ("checkpoints-missing", ("audit", "verify", "--checkpoints", f"{T}/none.jsonl"),
     ("no such file",)),
    ("new-kek-not-configured", ("keys", "rotate", "--new-kek-file", f"{T}/a-file/kek"),
     ("--new-kek-file", "a-file/kek", "not the configured key-encryption key")),
    ("old-kek-under-a-file", ("keys", "rotate", "--old-kek-file", f"{T}/a-file/kek"),
     ("--old-kek-file", "a-file/kek")),
    ("old-kek-short", ("keys", "rotate", "--old-kek-file", f"{T}/short.key"),
     ("32-byte key",)),
    ("database-unreachable", ("db", "status", "--database-url",
                              "postgresql://carrier@127.0.0.1:1/carrier"),
     ("database unreachable",)),
    ("database-url-not-a-url", ("db", "status", "--database-url", "db.internal"),
     ("database.url",)),
    ("unknown-trunk", ("call", "+15550100100", "--trunk", "nope"),
     ("--trunk: no trunk of the name given",)),
]


@pytest.mark.parametrize(("argv", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_operator_input_is_one_line(operator: Operator, tmp_path: Path,
                                        argv: tuple[str, ...], words: tuple[str, ...]) -> None:
    done = operator.run(*(a.replace(T, str(tmp_path)) for a in argv))
    line = one_line_error(done)
    for word in words:
        assert word in line, line


def test_bad_kek_and_config_folder(operator: Operator, tmp_path: Path) -> None:
    bad = {**operator.env, "CARRIER_KEK": "not base64!"}
    assert "$CARRIER_KEK" in one_line_error(operator.run("consent", "show", str(uuid4()),
                                                         env=bad))
    assert operator.run("keys", "rotate").code == 0  # data keys under the configured KEK
    other = {**operator.env, "CARRIER_KEK": base64.b64encode(os.urandom(32)).decode()}
    line = one_line_error(operator.run("consent", "show", str(uuid4()), env=other))
    assert "not by the configured key-encryption key" in line
    line = one_line_error(carrier("db", "status", config=tmp_path / "nope", cwd=operator.cwd))
    assert "config folder not found" in line


def test_without_a_config_folder_only_an_explicit_database_will_do(
    operator: Operator, db_url: str, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"  # no ./config here, no --config-dir, no CARRIER_CONFIG_DIR
    bare.mkdir()
    line = one_line_error(carrier("db", "status", config=None, cwd=bare, env=operator.env))
    assert "config folder not found" in line
    assert not (bare / "var").exists()  # it did not quietly start a database in ./var
    done = carrier("db", "status", "--database-url", db_url, config=None, cwd=bare,
                   env=operator.env)
    assert done.code == 0, done.err


def test_signing_key_that_is_a_certificate(operator: Operator, tmp_path: Path) -> None:
    doc = yaml.safe_load((operator.cfg / "carrier.yaml").read_text())
    doc.setdefault("keys", {})["audit_signing_key"] = str(tmp_path / "cert.pem")
    (operator.cfg / "carrier.yaml").write_text(yaml.safe_dump(doc))
    line = one_line_error(operator.run("audit", "checkpoint"))
    assert "keys.audit_signing_key" in line
    assert "not an Ed25519 private key" in line


def test_version_and_json(operator: Operator) -> None:
    done = operator.run("--version")
    assert done.code == 0
    assert done.out.startswith("carrier ")
    status = operator.run("db", "status", "--json")
    assert status.code == 0, status.err
    assert json.loads(status.out)["database"] == "external"
    for argv in (("consent", "verify", "--json"), ("audit", "verify-chain", "--json"),
                 ("audit", "verify", "--json")):
        done = operator.run(*argv)
        assert done.code == 0, done.err
        assert json.loads(done.out)["ok"] is True


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to run as a uid with no passwd entry")
def test_a_uid_without_a_passwd_entry_can_run_carrier() -> None:
    # A container's numeric runAsUser: getpass.getuser() raised KeyError while the parser
    # was built, so every command (even --version) ended in a traceback.
    for argv in (("--version",), ("consent", "grant", "--help")):
        done = subprocess.run(
            ["setpriv", "--reuid=4242", "--regid=4242", "--clear-groups", *carrier_command(),
             *argv], env={"PATH": "/usr/bin:/bin", "HOME": "/"}, cwd="/", capture_output=True,
            text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    assert "operator:uid4242" in done.stdout
