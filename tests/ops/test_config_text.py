"""Config files as editors leave them: a key given twice, bytes that are not UTF-8, a UTF-8
byte-order mark, CRLF line ends, a tab. Run as an operator runs the commands.

Before, only ``carrier config check`` (and so ``serve``) named a key given twice; every
other command read the file with YAML's rule (the last one wins, silently) and acted on
it, and a file that was not UTF-8 ended any command but ``config check`` in a
UnicodeDecodeError traceback. Now every reader refuses both with exit 78 and one line
naming the file, the dotted key (or the byte) and why. A byte-order mark and CRLF line
ends are read as any editor means them.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from carrier.errors import ConfigError
from carrier.settings import load_settings
from tests.ops.live import REPO, carrier, one_line_error, operator_env

# Commands that read the settings before doing anything (none reaches a database here).
COMMANDS = [("audit", "verify-chain"), ("keys", "rotate"), ("campaign", "status"),
            ("db", "status"), ("consent", "show", "00000000-0000-0000-0000-000000000001")]
SECOND_LOGGING = "\nlogging:\n  level: DEBUG\n"


def _folder(tmp_path: Path, name: str = "config") -> Path:
    cfg = tmp_path / name
    shutil.copytree(REPO / "config", cfg)
    return cfg


def _append(path: Path, data: bytes) -> None:
    path.write_bytes(path.read_bytes() + data)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_key_given_twice_is_refused_by_every_command(tmp_path: Path,
                                                       command: tuple[str, ...]) -> None:
    cfg = _folder(tmp_path)
    _append(cfg / "carrier.yaml", SECOND_LOGGING.encode())
    done = carrier(*command, config=cfg, cwd=tmp_path, env=operator_env())
    line = one_line_error(done)
    assert done.code == ConfigError.exit_code, line
    assert str(cfg / "carrier.yaml") in line, line
    assert "logging: given twice" in line, line


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_file_that_is_not_utf8_is_one_line_not_a_traceback(tmp_path: Path,
                                                             command: tuple[str, ...]) -> None:
    cfg = _folder(tmp_path)
    _append(cfg / "carrier.yaml", b"# Cl\xednica (saved as Latin-1)\n")
    done = carrier(*command, config=cfg, cwd=tmp_path, env=operator_env())
    line = one_line_error(done)
    assert done.code == ConfigError.exit_code, line
    assert "not UTF-8" in line, line


def test_a_nested_key_given_twice_is_named_with_its_path(tmp_path: Path) -> None:
    cfg = _folder(tmp_path)
    text = (cfg / "carrier.yaml").read_text()
    (cfg / "carrier.yaml").write_text(text.replace("sip:\n", "sip:\n  udp_port: 5999\n", 1))
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert err.value.key == "sip.udp_port"
    assert "given twice" in err.value.reason


@pytest.mark.parametrize("name", ["clinic.yaml", "calling_rules/states.yaml"])
def test_the_other_config_files_refuse_a_key_given_twice(tmp_path: Path, name: str) -> None:
    cfg = _folder(tmp_path)
    path = cfg / name
    top = next(line for line in path.read_text().splitlines()
               if line and not line.startswith(("#", " ", "-")))
    _append(path, f"\n{top.split(':')[0]}: {{}}\n".encode())  # the first section, again
    done = carrier("config", "check", config=cfg, cwd=tmp_path, env=operator_env())
    assert done.code != 0, done.out
    assert "given twice" in done.out + done.err, done.out + done.err
    assert "Traceback" not in done.err, done.err


def test_a_byte_order_mark_and_crlf_line_ends_are_read_as_meant(tmp_path: Path) -> None:
    cfg = _folder(tmp_path)
    text = (cfg / "carrier.yaml").read_text()
    (cfg / "carrier.yaml").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    plain = _folder(tmp_path, "plain")
    assert load_settings(cfg) == dataclasses.replace(load_settings(plain), config_dir=str(cfg))
