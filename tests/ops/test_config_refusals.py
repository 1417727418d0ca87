"""Settings that parsed but would have been acted on wrongly (or not at all) are refused
by the loader, so ``carrier serve`` and every command stop at start with the file, the key
and why, and ``carrier config check`` reports the same.

Before, each of these loaded and ran: a text sender ``+1`` (not E.164), a reminder 5 hours
*after* the visit, a retry every 0 minutes, a campaign allowed 0 attempts, a console
lock-out of 0 seconds (no lock-out at all), a pool smaller at most than at least (serve
failed inside asyncpg), a health ping with 0 s to answer, a Whisper compute type no
decoder knows, an empty ``data_dir`` (the working directory), a transfer queue that is not
a SIP URI; ``config check`` was silent on a KEK path that is a folder.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from carrier import cli
from carrier.config_check import check_config
from carrier.errors import ConfigError
from carrier.settings import load_settings
from tests.ops.live import REPO, carrier, free_port, one_line_error, operator_env

# (id, section, values, key named, words the reason holds)
CASES: list[tuple[str, str, dict[str, object], str, str]] = [
    ("sms-from-too-short", "sms", {"from_number": "+1"}, "sms.from_number", "E.164"),
    ("sms-help-zero-cc", "sms", {"help_number": "+0155501001"}, "sms.help_number", "E.164"),
    ("offset-after-visit", "dialer", {"reminder_offsets_h": [72, -5]},
     "dialer.reminder_offsets_h", "above 0"),
    # a year ahead at most: 1e9 hours loaded and then overflowed in the dialer's plan
    ("offset-too-far", "dialer", {"reminder_offsets_h": [72, 1e9]},
     "dialer.reminder_offsets_h", "at most 8760"),
    # the same reminder twice: two outreaches for one moment
    ("offset-twice", "dialer", {"reminder_offsets_h": [24, 24.0]},
     "dialer.reminder_offsets_h", "twice"),
    ("no-show-negative", "dialer", {"no_show_delay_min": -5}, "dialer.no_show_delay_min",
     "0 or more"),
    ("retry-zero", "dialer", {"retry_delay_min": 0}, "dialer.retry_delay_min", "at least 1"),
    ("attempts-zero", "dialer", {"max_attempts": 0}, "dialer.max_attempts", "at least 1"),
    ("lockout-zero", "console", {"lockout_s": 0}, "console.lockout_s", "positive"),
    ("pool-upside-down", "database", {"pool_min": 20, "pool_max": 5}, "database.pool_max",
     "pool_min"),
    ("pool-zero", "database", {"pool_max": 0}, "database.pool_max", "at least 1"),
    ("pool-min-negative", "database", {"pool_min": -1}, "database.pool_min", "0 or more"),
    ("ping-zero", "database", {"command_timeout_s": 0}, "database.command_timeout_s",
     "positive"),
    ("compute-type", "speech", {"stt_compute_type": "int9"}, "speech.stt_compute_type",
     "int8"),
    ("queue-not-sip", "agent", {"queues": {"scheduling": "front desk"}},
     "agent.queues.scheduling", "sip:"),
    ("human-queue-not-sip", "agent", {"human_queue": "frontdesk"}, "agent.human_queue",
     "sip:"),
]


def folder(tmp_path: Path, section: str, values: object) -> Path:
    cfg = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg)
    doc = yaml.safe_load((cfg / "carrier.yaml").read_text())
    doc["data_dir"] = str(tmp_path / "var")
    if isinstance(values, dict) and isinstance(doc.get(section), dict):
        doc[section].update(values)
    else:
        doc[section] = values
    (cfg / "carrier.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return cfg


@pytest.mark.parametrize(("section", "values", "key", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_refused_at_load_and_by_check(tmp_path: Path, section: str, values: dict[str, object],
                                      key: str, words: str) -> None:
    cfg = folder(tmp_path, section, values)
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg, {})
    assert caught.value.key == key, caught.value
    assert caught.value.file == str(cfg / "carrier.yaml")
    assert words in caught.value.reason, caught.value
    report = check_config(cfg, {})
    assert [f.key for f in report.errors] == [key], report.errors


def test_empty_data_dir_is_refused(tmp_path: Path) -> None:
    cfg = folder(tmp_path, "data_dir", "")
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg, {})
    assert caught.value.key == "data_dir"


def test_check_names_a_kek_path_that_is_a_folder(tmp_path: Path) -> None:
    cfg = folder(tmp_path, "keys", {"kek_file": str(tmp_path)})
    report = check_config(cfg, {})
    assert [(f.key, f.level) for f in report.findings] == [("keys.kek_file", "error")]
    assert "Is a directory" in report.errors[0].reason


def test_serve_refuses_before_it_binds(tmp_path: Path) -> None:
    cfg = folder(tmp_path, "dialer", {"max_attempts": 0})
    done = carrier("serve", config=cfg, cwd=tmp_path, env=operator_env())
    line = one_line_error(done)
    assert done.code == 78
    assert "dialer.max_attempts" in line
    assert "carrier.yaml" in line
    assert not (tmp_path / "var").exists()  # nothing started: no database, no keys


def test_serve_refuses_what_config_check_calls_an_error(tmp_path: Path) -> None:
    # Before: serve started with a number routed to a workflow that does not exist (every
    # call to it would fail) and with a console certificate that is not there (a traceback
    # of the TaskGroup once the database was up).
    port = free_port()
    cfg = folder(tmp_path, "agent", {"routes": {"+15550100100": "patient_intak"}})
    merge(cfg, "sip", {"udp_port": port, "tcp_port": port, "tls_port": None})
    merge(cfg, "console", {"port": free_port(), "cert_file": str(tmp_path / "none.pem"),
                           "key_file": str(tmp_path / "none.key")})
    done = carrier("serve", "--for", "1", config=cfg, cwd=tmp_path, env=operator_env(),
                   timeout=300)
    assert done.code == 78, done.out
    assert "Traceback" not in done.err
    lines = done.err.strip().splitlines()
    assert len(lines) == 3, done.err
    assert "agent.routes.+15550100100" in lines[0]
    assert "did you mean 'patient_intake'" in lines[0]
    assert "console.cert_file" in lines[1]
    assert "console.key_file" in lines[2]
    assert not (tmp_path / "var").exists()  # nothing started


def merge(cfg: Path, section: str, values: dict[str, object]) -> None:
    doc = yaml.safe_load((cfg / "carrier.yaml").read_text())
    doc.setdefault(section, {}).update(values)
    (cfg / "carrier.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def test_an_operator_error_inside_a_task_group_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # serve runs its services in a TaskGroup: a ConfigError raised by one of them arrived
    # as an ExceptionGroup, which main() let through as a traceback.
    def boom(args: argparse.Namespace) -> int:
        raise ExceptionGroup("services", [ExceptionGroup("inner", [
            ConfigError("carrier.yaml", "console.cert_file", "file x.pem not found")])])

    monkeypatch.setattr(cli, "build_parser", lambda *_: _with(boom))
    assert cli.main(["boom"]) == ConfigError.exit_code
    assert capsys.readouterr().err == (
        "carrier boom: carrier.yaml: console.cert_file: file x.pem not found\n")

    def other(args: argparse.Namespace) -> int:  # anything else in the group is a bug: raised
        raise ExceptionGroup("services", [ConfigError("f", "k", "r"), KeyError("bug")])

    monkeypatch.setattr(cli, "build_parser", lambda *_: _with(other))
    with pytest.raises(ExceptionGroup):
        cli.main(["boom"])


def _with(func: object) -> argparse.ArgumentParser:
    p = cli.OperatorParser(prog="carrier")
    p.add_subparsers(dest="command").add_parser("boom").set_defaults(func=func)
    return p


def test_a_config_folder_without_carrier_yaml_is_refused(tmp_path: Path) -> None:
    # Before: a folder whose settings file was named carrier.yml (or not there at all) was
    # read as the built-in defaults: serve started the embedded database in ./var, with
    # none of the operator's trunks, routes or keys.
    cfg = folder(tmp_path, "dialer", {})
    (cfg / "carrier.yaml").rename(cfg / "carrier.yml")
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg, {})
    assert caught.value.file == str(cfg / "carrier.yaml")
    assert "not found" in caught.value.reason
    assert "carrier.yml" in caught.value.reason
    assert [f.file for f in check_config(cfg, {}).errors] == [str(cfg / "carrier.yaml")]
    done = carrier("serve", config=cfg, cwd=tmp_path, env=operator_env())
    assert done.code == 78
    assert "carrier.yml" in one_line_error(done)
    assert not (tmp_path / "var").exists()


CLINIC_CASES = [("yaml-error", lambda t: "{{{", "-", "not valid YAML"),
                ("zone-typo", lambda t: t.replace("America/New_York", "America/New_Yrok"),
                 "clinic.timezone", "unknown time zone 'America/New_Yrok'"),
                ("a-list", lambda t: "- a\n", "-", "mapping")]


@pytest.mark.parametrize(("edit", "key", "words"), [c[1:] for c in CLINIC_CASES],
                         ids=[c[0] for c in CLINIC_CASES])
def test_a_broken_clinic_file_is_named(tmp_path: Path, edit: Callable[[str], str], key: str,
                                       words: str) -> None:
    # Before: serve started the database, then ended in a yaml ParserError or a
    # ZoneInfoNotFoundError traceback; config check said ok.
    from agent.workflow.records import ClinicFileSource  # noqa: PLC0415 - the agent's reader

    cfg = folder(tmp_path, "dialer", {})
    clinic = cfg / "clinic.yaml"
    clinic.write_text(edit(clinic.read_text()))
    with pytest.raises(ConfigError) as caught:
        ClinicFileSource(clinic)
    assert (caught.value.file, caught.value.key) == (str(clinic), key)
    assert words in caught.value.reason
    found = [(f.file, f.key) for f in check_config(cfg, {}).errors]
    assert found == [(str(clinic), key)]
    assert words in check_config(cfg, {}).errors[0].reason


def test_check_reads_the_kek_every_command_reads(tmp_path: Path) -> None:
    """``config check`` used to look at ``keys.kek_file`` (or its default) whatever the
    environment said: a ``$CARRIER_KEK_FILE`` open to other users, or two sources naming
    different keys, passed the check and failed at start. It now reads the same source."""
    legacy = tmp_path / "legacy.bin"
    legacy.write_bytes(bytes(32))
    legacy.chmod(0o644)
    cfg = folder(tmp_path, "data_dir", str(tmp_path / "var"))
    report = check_config(cfg, {"CARRIER_KEK_FILE": str(legacy)})
    assert [f.key for f in report.errors] == ["keys.kek_file"], report.errors
    assert "chmod 600" in report.errors[0].reason
    legacy.chmod(0o600)
    assert not check_config(cfg, {"CARRIER_KEK_FILE": str(legacy)}).errors
    both = check_config(cfg, {"CARRIER_KEK_FILE": str(legacy), "CARRIER_KEK": "x"})
    assert "$CARRIER_KEK_FILE" in both.errors[0].reason
    bad = check_config(cfg, {"CARRIER_KEK": "not base64!"})
    assert [f.key for f in bad.errors] == ["keys.kek_env"], bad.errors
