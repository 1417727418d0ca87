"""A broken workflow is refused with its file, line and reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.workflow.loader import WorkflowLoadError, load_workflow, parse_workflow

from .helpers import ROOT

GOOD = """\
workflow: tiny
scope: [patient:identity, appointment:read, appointment:write]
start: hello
prompts:
  hello: Hello, this is {org_name}. Is this {patient.first_name}?
  ask_dob: Please tell me your date of birth.
  details: {text: "Your appointment is on {appointment.day}.", phi: true}
  bye: Goodbye.
states:
  hello:
    say: hello
    accept:
      - {intent: affirm, goto: ask_dob}
      - {intent: deny, goto: bye}
  ask_dob:
    say: ask_dob
    accept:
      - {slot: dob, type: dob, goto: check}
  check:
    verify:
      checks: [{slot: dob, field: patient.dob, kind: dob}]
      ok: details
      fail: ask_dob
      locked: bye
  details:
    say: details
    next: confirm
  confirm:
    action: {name: confirm_appointment, then: {ok: bye, default: bye}}
  bye:
    say: bye
    end: done
"""


def _refused(text: str) -> WorkflowLoadError:
    with pytest.raises(WorkflowLoadError) as info:
        parse_workflow(text, "broken.yaml")
    return info.value


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_good_workflow_loads() -> None:
    wf = parse_workflow(GOOD, "good.yaml")
    assert wf.start == "hello"
    assert len(wf.states) == 6 + 2  # plus the generated step-up pair of its verify (issue 12)


@pytest.mark.parametrize(
    ("old", "new", "needle", "reason"),
    [
        ("goto: bye}\n  ask_dob", "goto: byee}\n  ask_dob", "goto: byee", "unknown state 'byee'"),
        ("    say: ask_dob\n", "    say: ask_dobb\n", "say: ask_dobb", "missing prompt 'ask_dobb'"),
        ("type: dob, goto", "type: birthday, goto", "type: birthday", "unknown slot type"),
        ("{name: confirm_appointment,", "{name: read_clinical_notes,", "read_clinical_notes",
         "outside the workflow's scope"),
        ("{intent: deny, goto: bye}", "{intent: maybe, goto: bye}", "intent: maybe",
         "unknown intent 'maybe'"),
        ("{intent: deny, goto: bye}", "{dtmf: '9', goto: bye}", "dtmf: '9'", "opt-out key"),
        ("scope: [patient:identity,", "scope: [patient:everything,", "scope:", "unknown scope"),
        ("    end: done\n", "    end: done\n    colour: red\n", "colour", "unknown key 'colour'"),
        ("then: {ok: bye, default: bye}", "on: {ok: bye, default: bye}", "confirm_appointment",
         "unknown action key"),
    ],
)
def test_broken_workflow_names_file_line_and_reason(old: str, new: str, needle: str,
                                                    reason: str) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    err = _refused(text)
    assert any(reason in r and line == _line_of(text, needle) for line, r in err.problems), (
        err.problems)
    assert str(err).startswith("broken.yaml: line ")


def test_unreachable_state_is_refused_at_its_line() -> None:
    text = GOOD + "  orphan:\n    say: bye\n    end: done\n"
    err = _refused(text)
    assert (_line_of(text, "orphan:"), "state 'orphan' is unreachable from 'hello'") in err.problems


def test_phi_prompt_before_verification_is_refused() -> None:
    text = GOOD.replace("{intent: affirm, goto: ask_dob}", "{intent: affirm, goto: details}")
    err = _refused(text)
    assert any("speaks PHI" in r and "'details'" in r for _, r in err.problems)
    line = next(ln for ln, r in err.problems if "speaks PHI" in r)
    assert line == _line_of(text, "    say: details")


def test_phi_template_field_without_phi_mark_is_caught_too() -> None:
    text = GOOD.replace("Hello, this is {org_name}.",
                        "Hello from {org_name} about {appointment.day}.")
    err = _refused(text)
    assert any("prompt 'hello' speaks PHI" in r for _, r in err.problems)


def test_last_name_before_verification_is_phi() -> None:
    text = GOOD.replace("Is this {patient.first_name}?", "Is this {patient.last_name}?")
    assert any("speaks PHI" in r for _, r in _refused(text).problems)


def test_yaml_syntax_error_has_a_line() -> None:
    text = GOOD.replace("  bye: Goodbye.", "  bye: [Goodbye.")
    err = _refused(text)
    assert err.problems[0][1].startswith("YAML syntax")
    assert err.problems[0][0] >= _line_of(text, "bye: [Goodbye.")


def test_duplicate_key_is_refused() -> None:
    text = GOOD.replace("  bye: Goodbye.\n", "  bye: Goodbye.\n  bye: Again.\n")
    err = _refused(text)
    assert err.problems == [(_line_of(text, "bye: Again."), "duplicate key 'bye'")]


def test_state_doing_nothing_and_branch_without_default() -> None:
    text = GOOD.replace("    say: details\n    next: confirm\n",
                        "    say: details\n    branch:\n      - when: {var: slots.dob, set: true}\n"
                        "        goto: confirm\n")
    err = _refused(text)
    assert any("last branch must have no 'when'" in r for _, r in err.problems)
    text = GOOD.replace("    say: details\n    next: confirm\n", "    say: details\n")
    assert any("does nothing" in r for _, r in _refused(text).problems)


def test_cli_validate_prints_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("say: ask_dob\n", "say: nope\n"), encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text(GOOD, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "carrier.cli", "workflow", "validate",
                           str(good), str(bad)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, check=False)
    assert proc.returncode == 1, proc.stderr
    assert f"{good}: ok (tiny, 8 states)" in proc.stdout  # 6 written + 2 step-up (issue 12)
    assert f"{bad}:{_line_of(GOOD, 'say: ask_dob')}: state 'ask_dob': missing prompt 'nope'" in (
        proc.stderr)


def test_cli_validate_json_names_each_file(tmp_path: Path) -> None:
    """``--json`` for scripts (issue 13): before, validate had only its text output."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("say: ask_dob\n", "say: nope\n"), encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text(GOOD, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "carrier.cli", "workflow", "validate", "--json",
                           str(good), str(bad)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, check=False)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False
    assert doc["files"][0] == {"file": str(good), "ok": True, "id": "tiny", "states": 8}
    assert doc["files"][1]["ok"] is False
    assert any("missing prompt 'nope'" in e for e in doc["files"][1]["errors"])


def test_load_workflow_reads_file(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(GOOD.replace("goto: bye}\n  ask_dob", "goto: gone}\n  ask_dob"),
                    encoding="utf-8")
    with pytest.raises(WorkflowLoadError) as info:
        load_workflow(path)
    assert info.value.file == str(path)
    assert info.value.lines()[0].startswith(f"{path}:")


def _mutants() -> list[str]:
    base = (ROOT / "config" / "workflows" / "appointment_reminder.yaml").read_text(
        encoding="utf-8")
    return [GOOD, base]


@settings(max_examples=250, deadline=None)
@given(which=st.sampled_from([0, 1]), data=st.data())
def test_any_damaged_workflow_is_refused_cleanly(which: int, data: st.DataObject) -> None:
    lines = _mutants()[which].splitlines()
    action = data.draw(st.sampled_from(["drop", "dup", "garble", "indent"]))
    i = data.draw(st.integers(0, len(lines) - 1))
    if action == "drop":
        del lines[i]
    elif action == "dup":
        lines.insert(i, lines[i])
    elif action == "garble":
        lines[i] = data.draw(st.sampled_from(["  x: [", "- 1", "states: 3", "  say: 7",
                                              "    accept: {}", "    action: []",
                                              "    verify: x", "    branch: [{}]",
                                              "      - {slot: 1}", "    then: [1]",
                                              "      checks: 5", "      checks: [5]",
                                              "    max_attempts: lots", "scope: [[1]]",
                                              "      - {intent: affirm, goto: x, set: 5}",
                                              "    branch: [{when: {all: 5}, goto: bye}]",
                                              "      max_failures: two", "prompts: [1]"]))
    else:
        lines[i] = " " + lines[i]
    problems: list[tuple[int, str]] = []
    try:
        parse_workflow("\n".join(lines) + "\n", "mutant.yaml")
    except WorkflowLoadError as exc:  # refused cleanly; anything else fails the test
        problems = exc.problems
    assert all(line >= 1 for line, _ in problems)


def test_outbound_opening_must_name_org_callback_and_opt_out() -> None:
    text = "direction: outbound\n" + GOOD
    err = _refused(text)
    assert err.problems == [(_line_of(text, "    say: hello"), "outbound opening 'hello' lacks "
                             "{callback_number}, an opt-out offer (say stop or press 9)")]
    fixed = text.replace("Is this {patient.first_name}?", "Call us at {callback_number}; say "
                         "stop or press 9 to opt out. Is this {patient.first_name}?")
    assert parse_workflow(fixed, "ok.yaml").start == "hello"


def test_prompt_reading_record_data_outside_scope_is_refused() -> None:
    text = GOOD.replace("scope: [patient:identity, appointment:read, appointment:write]",
                        "scope: [patient:identity, appointment:write]")
    err = _refused(text)
    assert (_line_of(text, "  details: {text:"), "prompt 'details' reads {appointment.day} but "
            "the workflow's scope lacks appointment:read") in err.problems
