"""``carrier tasks list/show/done`` as an operator runs them: subprocesses on a real
database, over tasks the agent's own code paths created (a call-back after a failed
transfer, an unverified web chat's opt-out request, a refill request). The list names ids
only; ``show`` decrypts the number and is audited; ``done`` closes a task once."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.callback import create_callback_task
from agent.endings import OPT_OUT_REQUEST
from agent.scheduling.prescriptions import PostgresRefillDesk, Prescription
from carrier.records.crypto import LocalKek
from carrier.records.store import Records

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]
NUMBER = "+15555550142"
OWNER = "+15555550177"
AT = dt.datetime(2026, 3, 2, 14, 5, tzinfo=dt.UTC)


def _env(db_url: str, tmp_path: Path, kek: LocalKek) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARRIER_")}
    env.update(CARRIER_DATABASE_URL=db_url, CARRIER_DATA_DIR=str(tmp_path / "var"),
               CARRIER_KEK=base64.b64encode(kek.secret).decode(),
               PYTHONPATH=str(REPO), USER="frontdesk", LOGNAME="frontdesk")
    return env


def carrier(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carrier.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


def _clean_refusal(done: subprocess.CompletedProcess[str], message: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr == f"carrier tasks: {message}\n"
    assert "Traceback" not in done.stderr + done.stdout


async def _audit(records: Records, action: str) -> list[tuple[str, str]]:
    rows = await records.pool.fetch(
        "SELECT actor, record_id FROM audit_log WHERE action = $1 ORDER BY seq", action)
    return [(r["actor"], r["record_id"]) for r in rows]


async def test_tasks_commands_end_to_end(records: Records, db_url: str, tmp_path: Path,
                                         test_kek: LocalKek) -> None:
    callback = await create_callback_task(records, queue="front_desk", patient_id="p-0042",
                                          call_id="call-7f3a", number=NUMBER, now=AT)
    opt_out = await create_callback_task(records, queue="front_desk", patient_id=None,
                                         call_id="web-91c2", number=OWNER, now=AT,
                                         kind=OPT_OUT_REQUEST)
    desk = PostgresRefillDesk(records)
    rx = Prescription("rx-17", "p-0042", "Lisinopril 10 mg", "Elm Street Pharmacy")
    await desk.load([rx], AT)
    refill = (await desk.request(rx, call_id="call-7f3a", now=AT + dt.timedelta(minutes=1))).id
    env = _env(db_url, tmp_path, test_kek)

    listed = carrier(env, "tasks", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [str(callback), str(opt_out), str(refill)]
    assert lines[0].split()[1:5] == ["2026-03-02", "14:05:00Z", "callback", "open"]
    assert "call=call-7f3a patient=p-0042" in lines[0]
    assert "opt_out_request" in lines[1]
    assert "refill_request" in lines[2]
    for phi in (NUMBER, OWNER, "5550142", "5550177", "Lisinopril", "Elm Street"):
        assert phi not in listed.stdout
    doc = json.loads(carrier(env, "tasks", "list", "--kind", "callback", "--json").stdout)
    assert [(t["id"], t["kind"], t["status"], t["queue"], t["call_id"], t["patient_id"])
            for t in doc["tasks"]] == [(callback, "callback", "open", "front_desk",
                                        "call-7f3a", "p-0042")]
    assert NUMBER not in json.dumps(doc)
    assert await _audit(records, "staff_task.read") == []  # a list reads no PHI

    shown = carrier(env, "tasks", "show", str(callback))
    assert shown.returncode == 0, shown.stderr
    assert f"details: {NUMBER}" in shown.stdout.splitlines()
    assert await _audit(records, "staff_task.read") == [("operator:frontdesk", str(callback))]
    rx_shown = json.loads(carrier(env, "tasks", "show", str(refill), "--json").stdout)
    assert (rx_shown["medication"], rx_shown["pharmacy"]) == ("Lisinopril 10 mg",
                                                              "Elm Street Pharmacy")

    done = carrier(env, "tasks", "done", str(callback), "--note", "called back, booked")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"staff task {callback} (callback) done by operator:frontdesk")
    assert await _audit(records, "staff_task.done") == [("operator:frontdesk", str(callback))]
    row = await records.pool.fetchrow("SELECT * FROM staff_tasks WHERE id = $1", callback)
    assert (row["status"], row["done_by"]) == ("done", "operator:frontdesk")
    assert b"booked" not in bytes(row["note_ct"])  # the note is stored encrypted
    again = carrier(env, "tasks", "done", str(callback))
    _clean_refusal(again, f"staff task {callback} is already done (by operator:frontdesk at"
                          f" {row['done_at'].astimezone(dt.UTC):%Y-%m-%d %H:%M:%SZ})")
    assert await _audit(records, "staff_task.done") == [("operator:frontdesk", str(callback))]

    still_open = carrier(env, "tasks", "list").stdout.splitlines()
    assert [line.split()[0] for line in still_open] == [str(opt_out), str(refill)]
    closed = json.loads(carrier(env, "tasks", "list", "--status", "done", "--json").stdout)
    assert [t["id"] for t in closed["tasks"]] == [callback]
    assert "note: called back, booked" in carrier(env, "tasks", "show", str(callback)).stdout

    _clean_refusal(carrier(env, "tasks", "show", "99999"), "no staff task with id 99999")
    _clean_refusal(carrier(env, "tasks", "done", "99999"), "no staff task with id 99999")
    typo = carrier(env, "tasks", "done", "12a")
    assert typo.returncode == 2
    assert "is not a task id" in typo.stderr
    assert "Traceback" not in typo.stderr
