"""``CARRIER_*`` environment overrides, as an operator (or a unit file) sets them.

Before: a value that was not YAML (``[1``, a password holding ``[`` or ``{``) ended every
command in a yaml ParserError traceback; a database URL urllib could not split (a ``[``
in its password) ended them in "ValueError: Invalid IPv6 URL" (``config check`` too); an
error was blamed on whichever variable of the section sorted last, or on a variable when
the wrong value sat in carrier.yaml. Now: one line naming the variable that set the key
(or the file, when the file did), exit 78, the URL never shown.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.ops.live import REPO, carrier, one_line_error, operator_env

CASES = [
    ("not-yaml", {"CARRIER_SIP__UDP_PORT": "[1"}, None, "$CARRIER_SIP__UDP_PORT: sip.udp_port"),
    ("the-right-variable", {"CARRIER_SIP__UDP_PORT": "5070", "CARRIER_SIP__TCP_PORT": "70000"},
     None, "$CARRIER_SIP__TCP_PORT: sip.tcp_port"),
    ("the-file-not-the-variable", {"CARRIER_SIP__UDP_PORT": "5070"},
     ("tcp_port: 5060", "tcp_port: 70000"), "carrier.yaml: sip.tcp_port"),
    ("url-with-a-bracket", {"CARRIER_DATABASE__URL": "postgresql://u:pw[1@db.example/x"},
     None, "$CARRIER_DATABASE__URL: database.url: not a URL"),
]


@pytest.mark.parametrize(("env", "edit", "named"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", [("config", "check"), ("audit", "verify-chain")],
                         ids=["config-check", "audit"])
def test_an_override_error_names_its_variable_in_one_line(
    tmp_path: Path, env: dict[str, str], edit: tuple[str, str] | None, named: str,
    command: tuple[str, ...]
) -> None:
    cfg = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg)
    if edit is not None:
        text = (cfg / "carrier.yaml").read_text()
        assert edit[0] in text
        (cfg / "carrier.yaml").write_text(text.replace(edit[0], edit[1], 1))
    done = carrier(*command, config=cfg, cwd=tmp_path, env=operator_env(**env))
    assert "Traceback" not in done.err, done.err
    assert done.code == 78, done.out + done.err
    text = done.err if command[0] != "config" else done.out + done.err
    assert named in text, text
    assert "pw[1" not in text  # a URL's password is never shown
    if command[0] != "config":
        one_line_error(done)
