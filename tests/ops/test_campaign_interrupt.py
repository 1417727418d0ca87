"""Ctrl-C (SIGINT) and SIGTERM to ``carrier campaign run`` in the middle of a pass.

As an operator runs it: ``carrier campaign run`` in a subprocess with three reminders due
(three synthetic patients), the demo trunk pointed at a pjsua2 phone and limited to one
call at a time, so the first call is up (answered, or still ringing) while the other two
wait for the trunk. Then the signal. Before, the pass went on as if nothing had come: the
call in flight ran to its end (up to the call-length limit) and the two others were dialled
one after the other before the command exited. Now the pass stops dialling at once: the
call ringing is cancelled, the call answered gets ``sip.drain_timeout_s`` and then a BYE,
each with its dial decision, attempt and CDR written; the reminders never dialled stay
pending and the next run calls them, and only them (nobody is called twice).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import signal
import sys
from pathlib import Path

import asyncpg
import pytest

from carrier.records.store import Channel, ConsentKind, Records
from tests.conftest import TEST_KEK
from tests.dialer.test_campaign_run_e2e import command_env, midday_zone
from tests.dialer.test_integration_records import add_appointment
from tests.ops.live import REPO
from tests.peers.client import PjsuaPeer, needs_pjsua2

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.models, pytest.mark.pjsua2,
              needs_pjsua2, pytest.mark.timeout(1200)]
PHONES = ("+15550100131", "+15550100132", "+15550100133")
START_UP_S = 400  # bound on the outside process starting (database, speech models, SIP)


async def _seed(db_url: str, tmp_path: Path, now: dt.datetime) -> list[str]:
    records = await Records.open(db_url, TEST_KEK, tmp_path / "seed-spool")
    ids = []
    try:
        for n, phone in enumerate(PHONES):
            pid = await records.add_patient(f"Testa Patientson{n}", phone, actor="test",
                                            reason="seed")
            await records.pool.execute("UPDATE patients SET state = 'NY', time_zone = $2"
                                       " WHERE id = $1", pid, midday_zone(now))
            await records.consent_grant(pid, Channel.VOICE, ConsentKind.TCPA_EXPRESS_WRITTEN,
                                        source="intake", evidence_ref=f"form-{n}", actor="test")
            await add_appointment(records.pool, f"appt-{n}", str(pid),
                                  now + dt.timedelta(hours=2), updated=now)
            ids.append(str(pid))
    finally:
        await records.close()
    return ids


def _config(tmp_path: Path, phone_port: int) -> Path:
    cfg = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg)
    trunks = (cfg / "trunks.yaml").read_text()
    trunks = trunks.replace("port: 5080", f"port: {phone_port}")
    (cfg / "trunks.yaml").write_text(trunks.replace("max_concurrent_calls: 50",
                                                    "max_concurrent_calls: 1"))
    return cfg


async def _campaign_run(cfg: Path, db_url: str, tmp_path: Path
                        ) -> asyncio.subprocess.Process:
    env = {**command_env(tmp_path), "CARRIER_SIP__DRAIN_TIMEOUT_S": "2"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "carrier.cli", "--config-dir", str(cfg), "campaign", "run",
        "--database-url", db_url, "--data-dir", str(tmp_path / "var"), env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def _finish(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    try:
        async with asyncio.timeout(300):  # bounded: the outside process's stop
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(), err.decode()


async def _outreach(db_url: str) -> dict[str, tuple[str, int, str | None]]:
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch("SELECT patient_id, state, dials, outcome FROM dialer_outreach"
                                " WHERE label = '2h'")
    finally:
        await conn.close()
    return {r["patient_id"]: (r["state"], r["dials"], r["outcome"]) for r in rows}


@pytest.mark.parametrize(("sig", "code", "answer"),
                         [(signal.SIGINT, 130, 200), (signal.SIGTERM, 0, 180)],
                         ids=["SIGINT-answered", "SIGTERM-ringing"])
async def test_a_signal_mid_pass_stops_dialling_and_records_the_call_in_flight(
    db_url: str, tmp_path: Path, sig: int, code: int, answer: int
) -> None:
    now = dt.datetime.now(dt.UTC)
    ids = await _seed(db_url, tmp_path, now)
    async with PjsuaPeer.start("udp", name="patients", user="patients") as phone:
        cfg = _config(tmp_path, phone.ports["udp"])
        proc = await _campaign_run(cfg, db_url, tmp_path)
        try:
            first = await phone.wait_incoming(timeout=START_UP_S)
            await phone.answer(first["call"], code=answer)
            await phone.wait_state("CONFIRMED" if answer == 200 else "EARLY", call=first["call"],
                                   timeout=30)
            proc.send_signal(sig)
            ended = await phone.wait_state("DISCONNECTED", call=first["call"], timeout=60)
        finally:
            returncode, out, err = await _finish(proc)
        # No other phone rang: the two reminders waiting for the trunk were not dialled.
        assert len(phone.events("incoming")) == 1, phone.events("incoming")
    assert returncode == code, (out, err[-3000:])
    assert "Traceback" not in err, err[-3000:]
    if answer == 200:
        assert ended["msg"].startswith("BYE"), ended["msg"][:200]  # the carrier hung up
    else:
        assert ended["code"] == 487, ended  # CANCELled while ringing

    first_number = first["to"].split("sip:")[1].split("@")[0]
    called = ids[PHONES.index(first_number)]
    state = await _outreach(db_url)
    # The call in flight: its outcome written (answered: done; ringing: no answer, retried).
    if answer == 200:
        assert state[called] == ("done", 1, "answered"), state
    else:
        assert state[called][:2] == ("pending", 1), state
        assert "no_answer" in (state[called][2] or ""), state
    for pid in ids:
        if pid != called:  # never dialled: pending again, no dial counted
            assert state[pid][:2] == ("pending", 0), state
    conn = await asyncpg.connect(db_url)
    try:
        cdr = await conn.fetchrow("SELECT hangup_cause, gate_ref FROM call_details"
                                  " WHERE call_id = $1", first["sip_call_id"])
        decisions = await conn.fetch("SELECT record_id, reason FROM audit_log"
                                     " WHERE action = 'dial.decision'")
        open_attempts = await conn.fetchval("SELECT count(*) FROM dialer_attempts"
                                            " WHERE allowed AND outcome IS NULL")
    finally:
        await conn.close()
    assert cdr is not None, "no CDR for the call in flight"
    assert cdr["gate_ref"] is not None
    assert decisions
    assert all(d["reason"] == "allowed" for d in decisions)
    assert open_attempts == 0  # every attempt begun has its outcome

    if answer != 200:
        return
    # The next run calls the two others, once each, and not the patient already reached.
    async with PjsuaPeer.start("udp", name="patients-2", user="patients") as phone:
        cfg = _config(tmp_path / "again", phone.ports["udp"])
        proc = await _campaign_run(cfg, db_url, tmp_path)
        try:
            for _ in range(2):
                call = await phone.wait_incoming(timeout=START_UP_S)
                await phone.answer(call["call"], code=200)
                await phone.wait_state("CONFIRMED", call=call["call"], timeout=30)
                await phone.hangup(call["call"])
        finally:
            returncode, out, err = await _finish(proc)
        numbers = sorted(e["to"].split("sip:")[1].split("@")[0]
                         for e in phone.events("incoming"))
    assert returncode == 0, (out, err[-3000:])
    assert numbers == sorted(p for p in PHONES if p != first_number), numbers
    state = await _outreach(db_url)
    assert all(s[:2] == ("done", 1) for s in state.values()), state
