"""Settings that act (issue 13, "every setting either acts or is removed"), and the two
small edge modules: JSON logs and metric names.

* ``keys.kek_env`` / ``keys.kek_file``: the key ``carrier serve`` opens the records with;
* ``retention.*``: the retention pass ``carrier serve`` runs at start and daily;
* ``database.command_timeout_s`` bounds the database health ping (tests in
  test_serve_ops show the ``database`` check); removed: ``stir.cert_file`` and
  ``dialer.national_dnc_max_age_days`` (nothing read them; the gate's registry age is
  in the calling rules), ``health.bind_host``/``health.port`` (now ``console.*``).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import json
import logging
from pathlib import Path

import pytest

from carrier import logs, metrics
from carrier.errors import ConfigError, OperatorError
from carrier.records.calls import CallRecord
from carrier.records.cli_context import kek_for
from carrier.records.store import Records
from carrier.settings import KeySettings, RetentionSettings, Settings, load_settings
from carrier.upkeep import retention_pass
from tests.conftest import TEST_KEK


def test_kek_env_names_the_variable_and_kek_file_the_file(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "elsewhere" / "kek.bin"
    s = Settings(data_dir=str(tmp_path / "data"),
                 keys=KeySettings(kek_env="OPS_TEST_KEK", kek_file=str(file)))
    monkeypatch.delenv("OPS_TEST_KEK", raising=False)
    made = kek_for(s)
    assert file.exists()  # created where keys.kek_file says, not in data_dir
    assert not (tmp_path / "data" / "keys" / "kek.bin").exists()
    assert kek_for(s).secret == made.secret  # and read back from there
    monkeypatch.setenv("OPS_TEST_KEK", base64.b64encode(TEST_KEK.secret).decode())
    assert kek_for(s).secret == TEST_KEK.secret  # the variable wins
    monkeypatch.setenv("OPS_TEST_KEK", "not base64!")
    with pytest.raises(OperatorError, match="OPS_TEST_KEK"):
        kek_for(s)


@pytest.mark.postgres
async def test_retention_days_decide_what_the_serve_pass_purges(records: Records) -> None:
    now = dt.datetime.now(dt.UTC)
    ten_days_ago = now - dt.timedelta(days=10)
    await records.record_call(CallRecord("ret-1", "inbound", ten_days_ago, ten_days_ago,
                                         outcome="completed"), [("agent", "hello")])
    async with records.pool.acquire() as conn:
        await conn.execute("UPDATE call_transcripts SET created_at = $1", ten_days_ago)
    kept = await retention_pass(records, Settings(), now)  # transcript_days 365
    assert {r.table: r.rows for r in kept}["call_transcripts"] == 0
    short = Settings(retention=RetentionSettings(transcript_days=7))
    purged = await retention_pass(records, short, now)
    assert {r.table: r.rows for r in purged}["call_transcripts"] == 1


def test_removed_settings_are_refused(tmp_path: Path) -> None:
    (tmp_path / "carrier.yaml").write_text("health:\n  port: 8180\n")
    with pytest.raises(ConfigError, match=r"health\.port"):
        load_settings(tmp_path, env={})
    (tmp_path / "carrier.yaml").write_text("console:\n  port: 9090\nlogging:\n  format: text\n")
    s = load_settings(tmp_path, env={})
    assert (s.console.port, s.logging.format) == (9090, "text")
    assert not any(f.name in ("cert_file", "national_dnc_max_age_days")
                   for cls in (type(s.stir), type(s.dialer)) for f in dataclasses.fields(cls))


def test_json_log_lines_mask_numbers_and_carry_the_call_id() -> None:
    out = io.StringIO()
    handler = logs.setup("json", "INFO", stream=out)
    try:
        token = logs.CALL_ID.set("abc@host")
        logging.getLogger("carrier.t").info("dialled %s", "+15551234567",
                                            extra={"to": "+1 555 123 4567"})
        logs.CALL_ID.reset(token)
        logging.getLogger("carrier.t").info("no call")
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["call_id"] == "abc@host"
    assert first["message"] == "dialled +1555***4567"
    assert first["to"] == "+1555***4567"
    assert "call_id" not in second
    assert logs.mask_numbers("port 5060, 2 calls") == "port 5060, 2 calls"


def test_metric_names_follow_the_conventions() -> None:
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    metrics.gate_decision(False, "dnc.internal")
    text = metrics.exposition().decode()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert "carrier_gate_decisions" in names  # the parser drops _total from counter names
    assert 'carrier_gate_decisions_total{decision="refuse",rule="dnc.internal"}' in text
    assert all(n.startswith("carrier_") for n in names)
