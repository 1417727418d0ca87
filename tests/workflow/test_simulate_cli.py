"""`carrier simulate` reads one caller turn per line from a pipe."""

from __future__ import annotations

import subprocess
import sys

from .helpers import CLINIC, ROOT


def _simulate(stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carrier.cli", "simulate", *args, "--clinic", str(CLINIC),
         "--now", "2026-11-23T15:00:00+00:00"],
        input=stdin, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)


def test_simulate_scripted_reminder_confirm() -> None:
    proc = _simulate("yes\nMarch fifth nineteen eighty\nconfirm\n", "appointment_reminder",
                     "--patient", "pat-1001")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "AGENT: Hello, this is Maple Grove Family Clinic" in out
    assert "CALLER: March fifth nineteen eighty" in out
    assert "Your appointment is confirmed" in out
    assert "[outcome: confirmed;" in out


def test_simulate_opt_out_by_key() -> None:
    proc = _simulate("#9\n", "appointment_reminder", "--patient", "pat-1001")
    assert "[consent revoked" in proc.stdout
    assert "[number added to the do-not-call list]" in (
        proc.stdout)
    assert "[outcome: opted_out;" in proc.stdout


def test_simulate_unknown_patient_is_one_line_error() -> None:
    proc = _simulate("", "appointment_reminder", "--patient", "pat-9999")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "carrier simulate: no patient with id 'pat-9999' in the clinic data"]
