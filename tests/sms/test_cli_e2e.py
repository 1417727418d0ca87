"""`carrier sms send` / `carrier sms status` as an operator runs them (subprocess), through
the npm-registry SMSC; the settings they read act: rate, campaign id, template, enabled."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from carrier.errors import ConfigError
from carrier.records.store import Records
from carrier.settings import load_settings
from tests.peers.smsc_peer import Smsc

pytestmark = pytest.mark.postgres
CONFIG = Path(__file__).parents[2] / "config"
PHONE = "+12125550171"


def config_dir(tmp_path: Path, **sms: object) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(CONFIG, folder)
    trunks = yaml.safe_load((folder / "trunks.yaml").read_text())
    trunks["trunks"][0]["campaign_id"] = "CDEMO01"
    (folder / "trunks.yaml").write_text(yaml.safe_dump(trunks))
    main = yaml.safe_load((folder / "carrier.yaml").read_text()) or {}
    main["sms"] = {"enabled": True, **sms}
    (folder / "carrier.yaml").write_text(yaml.safe_dump(main))
    return folder


async def carrier(*argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "carrier.cli", *argv, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)  # a real process: bounded
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_send_and_status(tmp_path: Path, db_url: str, records: Records, smsc: Smsc) -> None:
    pid = await records.add_patient("Test Patient A", PHONE, actor="t", reason="t")
    await records.consent_grant(pid, "sms", "tcpa_express", source="intake",
                                evidence_ref="form-1", actor="t")
    # The command reads the wall clock: give the patient a zone where it is midday now,
    # so quiet hours (which act: 06:00 in New York is refused as window.federal) pass.
    offset = 12 - dt.datetime.now(dt.UTC).hour
    zone = "Etc/GMT" + (f"+{-offset}" if offset < 0 else f"-{offset}") if offset else "UTC"
    await records.pool.execute("UPDATE patients SET time_zone = $1 WHERE id = $2", zone, pid)
    folder = config_dir(tmp_path, smsc_port=smsc.port, system_id=smsc.system_id,
                        brand="Demo Clinic")
    env = {**os.environ, "CARRIER_KEK": base64.b64encode(bytes(range(32))).decode(),
           "CARRIER_SMPP_PASSWORD": smsc.password, "CARRIER_CONFIG_DIR": str(folder)}
    common = ["--database-url", db_url, "--data-dir", str(tmp_path / "data")]
    rc, out, err = await carrier("sms", "send", "--patient", str(pid), "--text",
                                 "Demo Clinic: see you Tuesday at 9 AM", "--json", *common,
                                 env=env)
    assert rc == 0, out + err
    doc = json.loads(out)
    assert doc["sent"]
    assert doc["parts"] == 1
    assert doc["exempt"]
    got = await smsc.wait("submit")
    assert (got["dest"], got["source"]) == (PHONE, "+15550100100")
    rc, out, err = await carrier("sms", "send", "--patient", str(pid), "--text", "x" * 161,
                                 "--json", *common, env=env)
    # Refused by the compliance gate (the daily exempt cap; the first text counted): 77 as
    # `carrier call` refused by the gate, the rule on stderr, never the number. Before: 3.
    assert rc == 77, err
    assert json.loads(out)["rule"] == "cap.exempt.daily"
    assert err.strip().splitlines()[-1] == (
        "carrier sms: refused by the compliance gate: cap.exempt.daily (nothing sent)"), err
    assert PHONE not in out + err
    assert PHONE[2:] not in out + err
    rc, out, err = await carrier("sms", "status", "--json", *common, env=env)
    assert rc == 0, err
    rows = {(r["direction"], r["status"]): r["n"] for r in json.loads(out)}
    assert rows == {("out", "sent"): 1, ("out", "refused"): 1}


def test_settings_are_validated(tmp_path: Path) -> None:
    ok = load_settings(config_dir(tmp_path / "a", rate_per_s=3.5, stop_revokes="sms"))
    assert (ok.sms.rate_per_s, ok.sms.stop_revokes) == (3.5, "sms")
    assert ok.trunks[0].campaign_id == "CDEMO01"
    bad = [
        ({"rate_per_s": 0}, "sms.rate_per_s"),
        ({"enquire_link_s": 0}, "sms.enquire_link_s"),
        ({"smsc_port": 0}, "sms.smsc_port"),
        ({"smsc_host": "10.1.2.3"}, "sms.smsc_region"),
        ({"smsc_host": "10.1.2.3", "smsc_region": "eu-west"}, "sms.smsc_region"),
        ({"reminder_template": "{clinic} {day} {time} for your {reason}"}, "sms.reminder_template"),
        ({"reminder_template": "{clinic} " + "x" * 150 + " {day} {time}"}, "sms.reminder_template"),
        ({"from_number": "+15550109999"}, "sms.from_number"),
    ]
    for i, (sms, key) in enumerate(bad):
        with pytest.raises(ConfigError) as err:
            load_settings(config_dir(tmp_path / f"b{i}", **sms))
        assert err.value.key == key, sms
    folder = config_dir(tmp_path / "c")
    trunks = yaml.safe_load((folder / "trunks.yaml").read_text())
    trunks["trunks"][0]["campaign_id"] = "campaign-1"
    (folder / "trunks.yaml").write_text(yaml.safe_dump(trunks))
    with pytest.raises(ConfigError) as err:
        load_settings(folder)
    assert err.value.key == "trunks[0].campaign_id"
    del trunks["trunks"][0]["campaign_id"]
    (folder / "trunks.yaml").write_text(yaml.safe_dump(trunks))
    with pytest.raises(ConfigError) as err:  # enabled, but the number has no campaign
        load_settings(folder)
    assert err.value.key == "sms.from_number"
