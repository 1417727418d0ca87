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


def test_simulate_unknown_patient_is_one_line_error_without_echo() -> None:
    # The operator may have typed a phone number or a name instead of an id: the error
    # says what was not found and never repeats what was typed.
    for typed in ("pat-9999", "555-0142", "Testa Patientson"):
        proc = _simulate("", "appointment_reminder", "--patient", typed)
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines() == [
            "carrier simulate: no patient with that id in the clinic data"]
        assert typed not in proc.stderr + proc.stdout


def test_simulate_question_before_identity_then_volunteered_birth_date() -> None:
    # Issue 12: "who is this?" before identity is answered without PHI and the question
    # asked again; a date of birth said with the "yes" is used, not met with "yes or no".
    proc = _simulate("who is this?\nyes, 3 5 1980\nwhat time was that?\nconfirm\n",
                     "appointment_reminder", "--patient", "pat-1001")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    before = out[:out.index("CALLER: yes, 3 5 1980")]
    assert "automated assistant of Maple Grove Family Clinic" in before
    assert "Is this Testa? Please say yes or no." in before
    for secret in ("Testwell", "10:30", "Patientson"):
        assert secret not in before
    after = out[out.index("CALLER: yes, 3 5 1980"):]
    assert "date of birth" not in after.split("CALLER: what time")[0]
    assert "Your appointment is on Tuesday, November 24 at 10:30 AM." in after
    assert "[outcome: confirmed;" in out


def test_simulate_intake_does_not_take_a_non_answer_as_the_callers_name() -> None:
    # "I don't know" was registered as the patient "Don't Know" and "why do you need
    # that" as "Why Do": the intake moved on and saved the phrase as the name.
    proc = _simulate("I don't know\nwhy do you need that\nTesta Patientson\n",
                     "patient_intake", "--patient", "pat-1001", "--verbose")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.count("welcome no_match") == 2
    assert out.count("AGENT: Please say your first and last name.") == 2
    assert "welcome input  {'name': '[NAME]'}" in out
    assert out.index("CALLER: Testa Patientson") < out.index("What is your date of birth?")


def test_simulate_intake_waits_when_the_caller_asks_for_a_moment() -> None:
    proc = _simulate("hold on\nTesta Patientson\nMarch fifth nineteen eighty\n",
                     "patient_intake", "--patient", "pat-1001", "--verbose")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "welcome global hold" in out
    assert "AGENT: Of course, take your time." in out
    assert "no_match" not in out
    assert "ask_dob input  {'dob': '[DOB]'}" in out
