"""``carrier config check`` on bad config folders, run as an operator runs it.

Each case writes one mistake into a copy of the shipped config and expects exit 78, one
line on stderr naming the file and the key (and line/column where the YAML has them) and
why, never a traceback. Before: YAML turned ``+1555...`` into a number silently, routes to
missing workflows, unset digest passwords, empty hosts, trunk ports out of range and
repeated DIDs passed; region typos had no hint; a YAML error gave only a line; an error
was blamed on an unrelated ``CARRIER_*`` variable.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.ops.live import REPO, carrier, certificate, one_line_error, operator_env

Edit = Callable[[Path], None]


def merge(**sections: object) -> Edit:
    def edit(cfg: Path) -> None:
        doc = yaml.safe_load((cfg / "carrier.yaml").read_text())
        for name, value in sections.items():
            if isinstance(value, dict) and isinstance(doc.get(name), dict):
                doc[name].update(value)
            else:
                doc[name] = value
        (cfg / "carrier.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return edit


def trunks(text: str) -> Edit:
    def edit(cfg: Path) -> None:
        (cfg / "trunks.yaml").write_text(text)
    return edit


def main_text(text: str) -> Edit:
    def edit(cfg: Path) -> None:
        (cfg / "carrier.yaml").write_text(text)
    return edit


def workflow_text(name: str, text: str) -> Edit:
    def edit(cfg: Path) -> None:
        (cfg / "workflows" / name).write_bytes(text.encode("latin-1"))
    return edit


def cert_as_stir_key(cfg: Path) -> None:
    cert = certificate(cfg / "sp-cert.pem")
    merge(stir={"key_file": str(cert), "x5u": "https://127.0.0.1/sp.pem"})(cfg)


TRUNK = "trunks:\n  - name: demo\n    host: 127.0.0.1\n    region: local\n"
DIGEST = ("trunks:\n  - {name: demo, host: sip.example.com, region: us-east, auth: digest,"
          " username: clinic, password_env: CARRIER_TEST_UNSET_PASSWORD,"
          " numbers: [\"+15550100100\", \"+15550100101\"]}\n")

# (id, edit, file, key, words the reason must hold)
CASES: list[tuple[str, Edit, str, str, tuple[str, ...]]] = [
    ("yaml-syntax", main_text("sip:\n  udp_port: [5060, 5061\n"), "carrier.yaml", "-",
     ("not valid YAML", "line 3", "column")),
    ("unquoted-trunk-number", trunks(TRUNK + "    numbers: [+15550100100]\n"), "trunks.yaml",
     "trunks[0].numbers[0]", ("quote it", "line 5")),
    ("unquoted-route", main_text("agent:\n  routes:\n    +15550100100: patient_intake\n"),
     "carrier.yaml", "agent.routes.+15550100100", ("the number 15550100100",)),
    ("not-e164", merge(dialer={"caller_id": "555-0100"}), "carrier.yaml", "dialer.caller_id",
     ("E.164",)),
    ("route-to-missing-workflow", merge(agent={"routes": {"+15550100100": "patient_intak"}}),
     "carrier.yaml", "agent.routes.+15550100100", ("patient_intak", "patient_intake")),
    # One broken workflow file: its YAML error (file, line, reason), not "route to a
    # workflow the folder does not define" (before).
    ("workflow-yaml-syntax", workflow_text("patient_intake.yaml",
                                           "workflow: patient_intake\nsteps: [1, 2\n"),
     "workflows/patient_intake.yaml", "-", ("not valid YAML", "line 3", "column")),
    ("workflow-not-utf8", workflow_text("patient_intake.yaml", "workflow: caf\xe9\n"),
     "workflows/patient_intake.yaml", "-", ("not UTF-8",)),
    ("digest-password-unset", trunks(DIGEST), "trunks.yaml", "trunks[0].password_env",
     ("$CARRIER_TEST_UNSET_PASSWORD is not set",)),
    ("digest-without-password-env",
     trunks(DIGEST.replace(" password_env: CARRIER_TEST_UNSET_PASSWORD,", "")), "trunks.yaml",
     "trunks[0].password_env", ("required for auth digest",)),
    ("empty-host", trunks(TRUNK.replace("host: 127.0.0.1", "host: ''")
                          + "    numbers: [\"+15550100100\"]\n"), "trunks.yaml",
     "trunks[0].host", ("empty",)),
    ("trunk-port", trunks(TRUNK + "    port: 70000\n"), "trunks.yaml", "trunks[0].port",
     ("70000", "out of range")),
    ("sip-port", merge(sip={"udp_port": 65536}), "carrier.yaml", "sip.udp_port",
     ("out of range",)),
    ("region-typo", trunks(TRUNK.replace("host: 127.0.0.1", "host: sip.example.com")
                           .replace("region: local", "region: us_east")),
     "trunks.yaml", "trunks[0].region", ("outside the allowed regions", "'us-east'")),
    ("duplicate-did", trunks(TRUNK + "    numbers: [\"+15550100100\", \"+15550100100\"]\n"),
     "trunks.yaml", "trunks[0].numbers[1]", ("listed twice",)),
    ("duplicate-yaml-key", main_text("agent:\n  routes:\n    '+15550100100': patient_intake\n"
                                     "    '+15550100100': appointment_reminder\n"),
     "carrier.yaml", "agent.routes.+15550100100", ("given twice", "line 4")),
    ("certificate-as-key", cert_as_stir_key, "carrier.yaml", "stir.key_file",
     ("holds a certificate, not a private key",)),
    ("transcript-days-0", merge(retention={"transcript_days": 0}), "carrier.yaml",
     "retention.transcript_days", ("at least 1 day",)),
    ("call-record-days-below-tcpa", merge(retention={"call_record_days": 365}), "carrier.yaml",
     "retention.call_record_days", ("legal minimum of 1461 days", "TCPA")),
    ("dial-evidence-outlives-audit", merge(retention={"dial_evidence_days": 3000}),
     "carrier.yaml", "retention.dial_evidence_days", ("longer than retention.audit_days",)),
]


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    dst = tmp_path / "config"
    shutil.copytree(REPO / "config", dst)
    merge(data_dir=str(tmp_path / "var"))(dst)
    return dst


@pytest.mark.parametrize(("edit", "file", "key", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_config_is_one_line_naming_file_and_key(
    cfg: Path, tmp_path: Path, edit: Edit, file: str, key: str, words: tuple[str, ...]
) -> None:
    edit(cfg)
    done = carrier("config", "check", config=cfg, cwd=tmp_path)
    line = one_line_error(done)
    assert done.code == 78
    assert f"{cfg / file}: {key}: " in line, line
    for word in words:
        assert word in line, line


def test_an_error_is_not_blamed_on_an_unrelated_variable(cfg: Path, tmp_path: Path) -> None:
    merge(sip={"tls_port": 99999})(cfg)
    env = operator_env(CARRIER_SIP__UDP_PORT="5070")
    line = one_line_error(carrier("config", "check", config=cfg, cwd=tmp_path, env=env))
    assert f"{cfg / 'carrier.yaml'}: sip.tls_port: port 99999 is out of range" in line
    assert "CARRIER_SIP__UDP_PORT" not in line


def test_a_region_typo_that_is_allowed_warns_and_strict_fails(cfg: Path, tmp_path: Path) -> None:
    trunks(TRUNK.replace("host: 127.0.0.1", "host: sip.example.com")
           .replace("region: local", "region: us-esat")
           + "    numbers: [\"+15550100100\", \"+15550100101\", \"+15550100102\"]\n")(cfg)
    done = carrier("config", "check", "--json", config=cfg, cwd=tmp_path)
    assert done.code == 0, done.err
    doc = json.loads(done.out)
    assert doc["ok"]
    assert [w["key"] for w in doc["warnings"]] == ["trunks[0].region"]
    assert "typo of 'us-east'" in doc["warnings"][0]["reason"]
    strict = carrier("config", "check", "--strict", config=cfg, cwd=tmp_path)
    assert one_line_error(strict)
    assert strict.code == 78


def test_a_public_node_without_its_stir_key_warns(cfg: Path, tmp_path: Path) -> None:
    """Before: a node on a public address with stir enabled and no key passed clean, and
    signed every outbound call with the development CA's x5u on 127.0.0.1."""
    merge(sip={"bind_host": "192.0.2.10", "tls_port": None})(cfg)
    done = carrier("config", "check", "--json", config=cfg, cwd=tmp_path)
    assert done.code == 0, done.err
    warned = {w["key"]: w["reason"] for w in json.loads(done.out)["warnings"]}
    assert "no other carrier can fetch" in warned["stir.key_file"]


def test_the_shipped_config_checks_clean(cfg: Path, tmp_path: Path) -> None:
    done = carrier("config", "check", "--json", "--strict", config=cfg, cwd=tmp_path)
    assert done.code == 0, done.err + done.out
    doc = json.loads(done.out)
    assert doc["settings"]["routes"]["+15550100100"] == "patient_intake"
    assert doc["errors"] == []
    assert doc["warnings"] == []
