"""Issue 16 "Done when", end to end: an SIU^S12 sent by ``mllp_send`` (an independent MLLP
client) creates the appointment; ``carrier campaign run`` (a subprocess, the real stack:
records, the voice agent with real speech, STIR/SHAKEN, SIP) plans its reminders and dials
the due one; a scripted patient phone on loopback confirms by voice on the SIP call; the
confirmation goes back out as an HL7 SIU^S14 to a listening MLLP receiver and as a FHIR
Appointment update (both destinations configured at once). The no-show and cancellation
legs are in test_mllp_feed.py; the refill leg on a real SIP call in
test_refill_call_pjsua.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import sys
from pathlib import Path

import asyncpg
import hl7
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.scheduling.feed_apply import FeedCalendar
from agent.speech import TextToSpeech
from agent.speech.cache import PromptCache
from agent.speech.models import piper_voice_paths
from carrier.feeds.mllp import Hl7Listener
from carrier.feeds.store import FeedStore
from carrier.records.store import Records
from demo.phone import PatientPhone
from tests.call_story import call_story
from tests.conftest import TEST_KEK
from tests.dialer.test_campaign_run_e2e import REPO, command_env, midday_zone
from tests.feeds.conftest import TZ, ack_fields, mllp_send
from tests.feeds.fhir_r4_server import FhirR4Server
from tests.feeds.hl7_samples import siu
from tests.feeds.receiver import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.call_speech]
# The demo script without its two opening fillers (the call has a minute, see below).
# The phone answers with a greeting, as every other scripted call here does: the
# answering-machine check takes the first words. Without it this test passed only when
# that check timed out (its 3 s before base had decoded "Yes, this is Testa.") and left the
# words queued for the identity question; once the greeting went to the quick model the
# check took them, and every line after answered the question before.
SCRIPT = ("Hello?", "Yes, this is Testa.", "March fifth, nineteen eighty.",
          "Yes, I will be there. Confirm.")


async def _feed_s12(db_url: str, tmp_path: Path, start: dt.datetime) -> None:
    records = await Records.open(db_url, TEST_KEK, tmp_path / "feed-spool")
    try:
        listener = Hl7Listener(FeedStore(records, FeedCalendar(records),
                                         phone_is_consent=True), tz=TZ)
        server = await listener.start("127.0.0.1", 0)
        try:
            acks = await mllp_send(server.sockets[0].getsockname()[1], [siu(
                "S12", "E2E1", start=start, name="Patientson^Testa", phone="+15550100123",
                dob="19800305", sent=start - dt.timedelta(days=1))], tmp_path)
        finally:
            server.close()
            await server.wait_closed()
        assert ack_fields(acks[0])["MSA"][1:3] == ["AA", "E2E1"]
        await records.pool.execute(  # the clinic's address data: midday there now
            "UPDATE patients SET time_zone = $1", midday_zone(dt.datetime.now(dt.UTC)))
    finally:
        await records.close()


def _fhir(tmp_path: Path, start: dt.datetime) -> tuple[FhirR4Server, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "fhir-client.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    srv = FhirR4Server("carrier-e2e", key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)).start()
    srv.put({"resourceType": "Appointment", "id": "FL1", "status": "booked",
             "start": start.isoformat(), "end": (start + dt.timedelta(minutes=30)).isoformat(),
             "participant": [{"actor": {"reference": "Patient/MRN1001"},
                              "status": "needs-action"}]})
    return srv, pem


async def test_siu_to_confirmed_call_to_hl7_and_fhir_write_back(db_url: str, tmp_path: Path
                                                                ) -> None:
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).replace(second=0,
                                                                       microsecond=0)
    await _feed_s12(db_url, tmp_path, start)
    receiver = await Receiver().start()
    fhir, pem = _fhir(tmp_path, start)
    tts = TextToSpeech(PromptCache(tmp_path / "phone-tts", piper_voice_paths().voice_id))
    await tts.start()
    try:
        phone = PatientPhone(tts, "127.0.0.1", 0, SCRIPT)
        for line in SCRIPT:  # the patient's voice is ready before the phone rings
            await tts.synthesize(line)
        async with phone.endpoint:
            cfg = tmp_path / "config"
            shutil.copytree(REPO / "config", cfg)
            trunks = (cfg / "trunks.yaml").read_text()
            port = phone.endpoint.port("UDP")
            (cfg / "trunks.yaml").write_text(trunks.replace("port: 5080", f"port: {port}"))
            # The reminder takes ~50 s of the exempt call's minute, and on a loaded CI box
            # slower replies pushed it past (outcome length_limit, not confirmed). The
            # minute is tested in tests/agent/test_voice_media.py; this test is the feed's.
            rules = cfg / "calling_rules" / "federal.yaml"
            rules.write_text(rules.read_text().replace("max_call_seconds: 60",
                                                       "max_call_seconds: 120"))
            assert "max_call_seconds: 120" in rules.read_text()  # the rules file's key moved
            env = {**command_env(tmp_path),
                   "CARRIER_FEEDS__WRITEBACK_HL7": f"127.0.0.1:{receiver.port}",
                   "CARRIER_FEEDS__WRITEBACK_FHIR": "true",
                   "CARRIER_FEEDS__FHIR_BASE_URL": fhir.base,
                   "CARRIER_FEEDS__FHIR_TOKEN_URL": fhir.token_url,
                   "CARRIER_FEEDS__FHIR_CLIENT_ID": "carrier-e2e",
                   "CARRIER_FEEDS__FHIR_KEY_FILE": str(pem)}
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "carrier.cli", "--config-dir", str(cfg), "campaign",
                "run", "--database-url", db_url, "--data-dir", str(tmp_path / "var"),
                env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            # Bounded wait on the outside process: start-up (models) and one call.
            out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    finally:
        await tts.close()
        await receiver.close()
        fhir.close()
    text = out.decode()
    assert proc.returncode == 0, (text, err.decode()[-3000:])
    assert "leased 1, dialled 1" in text, text
    assert phone.log is not None
    assert phone.log.said
    conn = await asyncpg.connect(db_url)
    try:
        outreach = await conn.fetch("SELECT label, state FROM dialer_outreach"
                                    " WHERE appointment_id = 'feed:CLINIC:FL1'")
        status = await conn.fetchval(
            "SELECT status FROM sched_appointments WHERE id = 'feed:CLINIC:FL1'")
        outbox = await conn.fetch("SELECT destination, kind, status FROM feed_outbox"
                                  " ORDER BY destination")
    finally:
        await conn.close()
    assert {(r["label"], r["state"]) for r in outreach} >= {("2h", "done")}
    story = await call_story(db_url, tmp_path / "story-spool")
    assert status == "confirmed", (f"said {phone.log.said}, heard {phone.log.heard_turns}"
                                   f" agent turns, reply gaps {phone.log.reply_gaps}\n{story}\n"
                                   f"{err.decode()[-2000:]}")
    assert [tuple(r) for r in outbox] == [("fhir", "confirmed", "sent"),
                                          ("hl7", "confirmed", "sent")]
    [msg] = [hl7.parse(m) for m in receiver.got]
    assert str(msg.segment("MSH")[9]).startswith("SIU^S14")
    assert str(msg.segment("SCH")[2]) == "FL1"
    appt = fhir.resources["Appointment"]["FL1"]
    assert appt["participant"][0]["status"] == "accepted"
    assert "555" not in err.decode().replace(str(tmp_path), "")  # no numbers in the logs
