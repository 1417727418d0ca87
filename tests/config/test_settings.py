"""Settings: typed loading, env overrides, refusal with file, key and reason."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from carrier.errors import ConfigError
from carrier.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    dst = tmp_path / "config"
    shutil.copytree(REPO / "config", dst)
    return dst


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_shipped_config_loads(cfg: Path) -> None:
    s = load_settings(cfg, env={})
    assert s.database.url is None
    assert s.sip.udp_port == 5060
    assert s.trunk("demo").acl == ("127.0.0.0/8",)
    assert s.agent.routes["+15550100100"] == "patient_intake"
    assert s.retention.audit_days >= 2190


def test_env_overrides(cfg: Path) -> None:
    s = load_settings(cfg, env={
        "CARRIER_DATABASE_URL": "postgresql://u@127.0.0.1:5432/db",
        "CARRIER_SIP__UDP_PORT": "5070",
        "CARRIER_SPEECH__STT_WORKERS": "3",
    })
    assert s.database.url == "postgresql://u@127.0.0.1:5432/db"
    assert s.sip.udp_port == 5070
    assert s.speech.stt_workers == 3


def test_env_override_wrong_type_names_variable(cfg: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={"CARRIER_SIP__UDP_PORT": "five"})
    assert err.value.file == "$CARRIER_SIP__UDP_PORT"
    assert err.value.key == "sip.udp_port"


@pytest.mark.parametrize(
    ("patch", "key", "reason"),
    [
        ("sip:\n  udp_port: 70000\n", "sip.udp_port", "out of range"),
        ("sip:\n  udp_prot: 5060\n", "sip.udp_prot", "unknown setting"),
        ("speech:\n  stt_device: tpu\n", "speech.stt_device", "must be one of"),
        ("retention:\n  audit_days: 30\n", "retention.audit_days", "six years"),
        ("stir:\n  enabled: maybe\n", "stir.enabled", "true or false"),
    ],
)
def test_bad_setting_names_file_key_reason(cfg: Path, patch: str, key: str, reason: str) -> None:
    write(cfg / "carrier.yaml", patch)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={})
    assert err.value.file.endswith("carrier.yaml")
    assert err.value.key == key
    assert reason in err.value.reason


def test_missing_required_trunk_key(cfg: Path) -> None:
    write(cfg / "trunks.yaml", "trunks:\n  - name: t1\n    region: us-east\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={})
    assert err.value.file.endswith("trunks.yaml")
    assert err.value.key == "trunks[0].host"
    assert "missing" in err.value.reason


def test_invalid_yaml_names_line(cfg: Path) -> None:
    write(cfg / "carrier.yaml", "sip:\n  udp_port: [\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={})
    assert err.value.key.startswith("line ")


def test_residency_refuses_non_us_trunk(cfg: Path) -> None:
    write(cfg / "trunks.yaml", "trunks:\n  - {name: demo, host: sip.example.eu, region: eu-west}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={})
    assert err.value.key == "trunks[0].region"
    assert "eu-west" in err.value.reason


def test_residency_refuses_external_database_region(cfg: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={"CARRIER_DATABASE_URL": "postgresql://db.example.com/x",
                                "CARRIER_DATABASE__REGION": "ap-south"})
    assert err.value.key == "database.region"


def test_local_region_only_for_loopback(cfg: Path) -> None:
    write(cfg / "trunks.yaml", "trunks:\n  - {name: demo, host: sip.example.com, region: local}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={})
    assert "loopback" in err.value.reason


def test_us_region_accepted(cfg: Path) -> None:
    write(cfg / "trunks.yaml",
          "trunks:\n  - {name: demo, host: sip.example.com, region: us-east,"
          " numbers: [\"+15550100100\"]}\n")
    assert load_settings(cfg, env={}).trunk("demo").region == "us-east"


def test_cli_prints_one_line_not_traceback(cfg: Path) -> None:
    write(cfg / "carrier.yaml", "sip:\n  udp_port: -1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "carrier.cli", "--config-dir", str(cfg), "config", "check"],
        capture_output=True, text=True, check=False, cwd=REPO,
    )
    assert proc.returncode == 78
    assert "Traceback" not in proc.stderr
    assert "carrier.yaml: sip.udp_port: port -1 is out of range" in proc.stderr


def test_an_inbound_call_limit_under_a_minute_is_refused(cfg: Path) -> None:
    """`sip.max_inbound_call_s` (tests/gateway/test_gateway_calls.py proves it acts): a
    limit under a minute would cut patients off mid-greeting; the shipped hour loads."""
    assert load_settings(cfg, env={}).sip.max_inbound_call_s == 3600
    text = (cfg / "carrier.yaml").read_text(encoding="utf-8")
    write(cfg / "carrier.yaml", text.replace("max_inbound_call_s: 3600", "max_inbound_call_s: 30"))
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={})
    assert (err.value.key, err.value.reason) == ("sip.max_inbound_call_s",
                                                 "must be at least 60 seconds")
