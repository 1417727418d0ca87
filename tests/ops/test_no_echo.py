"""What an operator typed in the wrong place (a patient's phone number, a name) is not
repeated in the error line: the terminal, a CI log or the journal would keep it. The line
names the argument instead.

Before: ``carrier consent show "Testa Patientson"`` said ``'Testa Patientson' is not a
patient id``, an unknown patient id was quoted back, argparse's "invalid choice" and
"unrecognized arguments" lines quoted the value, and a command's own type check (``calls
list --since``, ``tasks``, ``retention``) quoted it too.
"""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest

from tests.ops.conftest import Operator
from tests.ops.live import carrier, one_line_error
from tests.privacy.phi_scan import find

NAME = "Testa Patientson"
PHONE = "+15555550142"
UNKNOWN = str(uuid4())

# (id, argv, the argument the line must name)
CASES: list[tuple[str, tuple[str, ...], str]] = [
    ("name-as-patient-id", ("consent", "show", NAME), "patient_id"),
    ("phone-as-patient-id", ("consent", "show", PHONE), "patient_id"),
    ("name-as-channel", ("consent", "grant", UNKNOWN, "--channel", NAME, "--kind",
                         "tcpa_express", "--source", "s", "--evidence", "e"), "--channel"),
    ("phone-as-command", (PHONE, "show"), "COMMAND"),
    ("stray-values", ("db", "status", PHONE, NAME), "unrecognized arguments"),
    ("stray-option-value", ("db", "status", f"--who={PHONE}"), "--who"),
    ("phone-as-date", ("calls", "list", "--since", PHONE), "--since"),
    ("name-as-date", ("audit", "export", "--from", NAME, "--to", "2026-01-01", "out.jsonl"),
     "--from"),
    ("name-as-days", ("retention", "run", "--audit-days", NAME), "--audit-days"),
    ("phone-as-task-id", ("tasks", "done", PHONE), "task"),
]


@pytest.mark.parametrize(("argv", "named"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_value_typed_in_the_wrong_place_is_not_repeated(tmp_path: Path,
                                                          argv: tuple[str, ...],
                                                          named: str) -> None:
    done = carrier(*argv, config=None, cwd=tmp_path)
    assert done.code == 2, done.err
    line = one_line_error(done)
    assert named in line, line
    assert find(done.err + done.out) == [], done.err
    for typed in (NAME, "Testa", PHONE, PHONE[2:], "5550142"):
        assert typed not in done.err, done.err


@pytest.mark.postgres
def test_an_unknown_patient_id_is_not_repeated(operator: Operator) -> None:
    line = one_line_error(operator.run("consent", "show", UNKNOWN))
    assert "no patient" in line, line
    assert "patient_id" in line, line
    assert UNKNOWN not in line, line


def test_misuse_still_names_the_option_and_the_choices(tmp_path: Path) -> None:
    line = one_line_error(carrier("consent", "grant", UNKNOWN, "--channel", "fax", "--kind",
                                  "tcpa_express", "--source", "s", "--evidence", "e",
                                  config=None, cwd=tmp_path))
    assert "argument --channel: invalid choice (choose from" in line, line
    assert "'voice'" in line, line
    assert "'fax'" not in line, line
