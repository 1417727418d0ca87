"""``carrier redact --patient``, run as an operator runs it (a subprocess).

Before: an id that is no clinic patient was quoted back (``no patient with id 'Testa
Patientson'``): what an operator types there by mistake is a name or a number, and the
terminal, a CI log or the journal keeps it. A clinic patient whose stored date of birth
is not a date ended in a ``ValueError`` traceback. Now both are one line naming the
argument (or the clinic file and the field), never the value.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.ops.live import REPO, Done, carrier_command, one_line_error, operator_env
from tests.privacy.phi_scan import find

NAME = "Testa Patientson"


def _redact(tmp_path: Path, *args: str, text: str = "call me back\n") -> Done:
    import subprocess  # noqa: PLC0415

    done = subprocess.run([*carrier_command(), "--config-dir", str(REPO / "config"), "redact",
                           *args], input=text, cwd=tmp_path, env=operator_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    return Done(done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize("typed", [NAME, "+15555550142", "pat-9999"])
def test_an_unknown_patient_is_not_repeated(tmp_path: Path, typed: str) -> None:
    done = _redact(tmp_path, "--patient", typed)
    line = one_line_error(done)
    assert "--patient" in line, line
    assert "no patient" in line, line
    assert typed not in done.err + done.out
    assert find(done.err + done.out) == [], done.err


def test_a_patient_with_a_damaged_date_of_birth_is_one_line(tmp_path: Path) -> None:
    clinic = yaml.safe_load((REPO / "config" / "clinic.yaml").read_text())
    clinic["patients"][0]["dob"] = "03/05/1980"
    (tmp_path / "clinic.yaml").write_text(yaml.safe_dump(clinic))
    done = _redact(tmp_path, "--patient", clinic["patients"][0]["id"],
                   "--clinic", str(tmp_path / "clinic.yaml"))
    line = one_line_error(done)
    assert "dob" in line, line
    assert "03/05/1980" not in done.err
    assert find(done.err + done.out) == [], done.err


def test_a_known_patient_is_redacted_and_not_echoed(tmp_path: Path) -> None:
    done = _redact(tmp_path, "--patient", "pat-1001",
                   text="This is Testa Patientson, my number is 555 010 0123\n")
    assert done.code == 0, done.err
    assert "Patientson" not in done.out
    assert "0123" not in done.out
    assert done.err == ""
