"""The dialer presents a number the clinic owns, signed with full attestation.

Before: ``dialer.caller_id`` had only to be E.164. A typo or a number copied from
another site (``+15550100177``, delivered by none of the clinic's trunks) loaded, and
every reminder went out showing a number the clinic does not own (the Truth in Caller
ID Act's misleading caller ID), signed with attestation C because it was not among
``stir.own_numbers``: the terminating carriers label such calls as likely spam. Now the
settings refuse it at load (``carrier serve``, ``carrier campaign run``, ``config
check`` all load them), naming the key.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from carrier.errors import ConfigError
from carrier.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg)
    return cfg


def test_a_caller_id_no_trunk_delivers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(_config(tmp_path), env={"CARRIER_DIALER__CALLER_ID": '"+15550100177"'})
    assert err.value.key == "dialer.caller_id"
    assert "demo" in err.value.reason


def test_a_caller_id_of_the_failover_trunk_is_taken(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    trunks = cfg / "trunks.yaml"
    text = trunks.read_text()
    assert "  - name: demo\n" in text
    trunks.write_text(text.replace("  - name: demo\n", "  - name: demo\n    failover: spare\n", 1)
                      + "  - name: spare\n    host: 127.0.0.1\n    port: 5090\n"
                        "    region: local\n    auth: ip\n    numbers: [\"+15550100177\"]\n")
    env = {"CARRIER_DIALER__CALLER_ID": '"+15550100177"',
           "CARRIER_STIR__OWN_NUMBERS": '["+15550100100", "+15550100177"]'}
    assert load_settings(cfg, env=env).dialer.caller_id == "+15550100177"


def test_a_caller_id_that_would_be_signed_c_is_refused(tmp_path: Path) -> None:
    env = {"CARRIER_DIALER__CALLER_ID": '"+15550100101"'}  # the trunk's, not in own_numbers
    with pytest.raises(ConfigError) as err:
        load_settings(_config(tmp_path), env=env)
    assert err.value.key == "stir.own_numbers"
    assert "attestation" in err.value.reason


def test_the_shipped_configuration_loads(tmp_path: Path) -> None:
    s = load_settings(_config(tmp_path), env={})
    assert s.dialer.caller_id in s.stir.own_numbers
