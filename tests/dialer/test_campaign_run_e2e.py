"""`carrier campaign run` as an operator runs it: a subprocess against the configured stack.

The test seeds one synthetic patient (written consent, a time zone where it is midday
now) with an appointment two hours away, so its 2 h reminder is due. The command starts
the stack (records on the embedded Postgres, the voice agent with real speech, STIR/
SHAKEN, the SIP gateway on ephemeral ports), makes one pass, and the reminder rings a
scripted patient phone on loopback (the demo trunk points at it), which answers by voice.
Before: `run` without `--dry-run` looked up `carrier.app.open_dialer`, which did not
exist, and always failed.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import shutil
import sys
from pathlib import Path

import asyncpg
import pytest

from agent.speech import TextToSpeech
from agent.speech.cache import PromptCache
from agent.speech.models import piper_voice_paths
from carrier.records.store import Channel, ConsentKind, Records
from demo.call import DEMO_SCRIPT
from demo.phone import PatientPhone
from tests.conftest import TEST_KEK
from tests.dialer.test_integration_records import add_appointment

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
MODELS = Path(os.environ.get("CARRIER_TEST_MODEL_CACHE", "/tmp/carrier-test-models"))
PATIENT = "+15550100123"


def midday_zone(now: dt.datetime) -> str:
    """A fixed-offset zone where it is about noon now (inside every calling window)."""
    hours = (12 - now.hour) % 24
    hours = hours - 24 if hours > 12 else hours
    return "Etc/UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"


async def seed(db_url: str, tmp_path: Path, now: dt.datetime) -> str:
    records = await Records.open(db_url, TEST_KEK, tmp_path / "seed-spool")
    try:
        pid = await records.add_patient("Testa Patientson", PATIENT, actor="test",
                                        reason="e2e seed")
        await records.pool.execute("UPDATE patients SET state = 'NY', time_zone = $2"
                                   " WHERE id = $1", pid, midday_zone(now))
        await records.consent_grant(pid, Channel.VOICE, ConsentKind.TCPA_EXPRESS_WRITTEN,
                                    source="intake", evidence_ref="form-1", actor="test")
        await add_appointment(records.pool, "appt-e2e", str(pid), now + dt.timedelta(hours=2),
                              updated=now)
    finally:
        await records.close()
    return str(pid)


def command_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "CARRIER_KEK": base64.b64encode(bytes(range(32))).decode(),
            "HF_HUB_OFFLINE": "1", "CARRIER_SIP__UDP_PORT": "0", "CARRIER_SIP__TCP_PORT": "0",
            "CARRIER_SIP__TLS_PORT": "0", "CARRIER_CONSOLE__PORT": "0",
            "CARRIER_AGENT__SEED_DEMO": "false", "CARRIER_SPEECH__STT_WORKERS": "1",
            "CARRIER_SPEECH__STT_MODEL_DIR": str(MODELS / "whisper"),
            "CARRIER_SPEECH__TTS_CACHE_DIR": str(tmp_path / "tts")}


async def test_campaign_run_dials_the_due_reminder_and_records_it(
    db_url: str, tmp_path: Path
) -> None:
    now = dt.datetime.now(dt.UTC)
    pid = await seed(db_url, tmp_path, now)
    tts = TextToSpeech(PromptCache(tmp_path / "phone-tts", piper_voice_paths().voice_id))
    await tts.start()
    try:
        phone = PatientPhone(tts, "127.0.0.1", 0, DEMO_SCRIPT)
        for line in DEMO_SCRIPT:  # the patient's voice is ready before the phone rings
            await tts.synthesize(line)
        async with phone.endpoint:
            cfg = tmp_path / "config"
            shutil.copytree(REPO / "config", cfg)
            trunks = (cfg / "trunks.yaml").read_text()
            port = phone.endpoint.port("UDP")
            (cfg / "trunks.yaml").write_text(trunks.replace("port: 5080", f"port: {port}"))
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "carrier.cli", "--config-dir", str(cfg), "campaign",
                "run", "--database-url", db_url, "--data-dir", str(tmp_path / "var"),
                env=command_env(tmp_path), cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            # Bounded wait on the outside process: start-up (models) and one call.
            out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    finally:
        await tts.close()
    text = out.decode()
    assert proc.returncode == 0, (text, err.decode()[-3000:])
    assert "leased 1, dialled 1" in text, text
    assert phone.call_id
    assert phone.log is not None
    assert phone.log.said  # the phone spoke
    conn = await asyncpg.connect(db_url)
    try:
        attempt = await conn.fetchrow("SELECT trunk, outcome FROM dialer_attempts")
        outreach = await conn.fetchrow("SELECT state, dials FROM dialer_outreach"
                                       " WHERE appointment_id = 'appt-e2e' AND label = '2h'")
        decision = await conn.fetchval("SELECT reason FROM audit_log WHERE action ="
                                       " 'dial.decision'")
        signed = await conn.fetchval("SELECT count(*) FROM audit_log WHERE record_id = $1"
                                     " AND action = 'stir.sign'", phone.call_id)
        record = await conn.fetchrow("SELECT patient_id FROM call_records WHERE call_id = $1",
                                     phone.call_id)
    finally:
        await conn.close()
    assert attempt["trunk"] == "demo"
    assert attempt["outcome"] in {"answered", "confirmed", "machine"}
    assert (outreach["state"], outreach["dials"]) == ("done", 1)
    assert decision == "allowed"
    assert signed == 1  # the INVITE carried its Identity header, audited with the call
    assert phone.invite_identity
    # The agent's call record, when the conversation ended inside the exempt call's 60 s
    # limit (on a loaded machine it may be cut at the limit first).
    assert record is None or str(record["patient_id"]) == pid
    assert "555" not in err.decode().replace(str(tmp_path), "")  # no numbers in the logs
