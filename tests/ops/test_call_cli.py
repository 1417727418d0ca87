"""``carrier call`` given a name or a number in the wrong place, run as an operator runs it.

Before: a name typed as the number to call ran the command up to the records and ended
"the command failed (InvalidPhoneNumber); no detail is shown, as it may quote a record"
(exit 1, as if the records had failed); a name typed as ``--trunk`` was quoted back
("trunk 'Testa Patientson' is not defined"). Now the number is checked as an argument
(usage, exit 2, the argument named), and an unknown trunk names the option and the trunks
defined, never the value typed.
"""

from __future__ import annotations

from pathlib import Path

from tests.ops.live import REPO, carrier, one_line_error
from tests.privacy.phi_scan import find

NAME = "Testa Patientson"


def test_a_name_as_the_number_to_call_is_a_usage_error(tmp_path: Path) -> None:
    done = carrier("call", NAME, "--trunk", "demo", config=REPO / "config", cwd=tmp_path)
    line = one_line_error(done)
    assert done.code == 2, done.err
    assert "argument to: not a phone number" in line, line
    assert "Testa" not in done.err
    assert find(done.err + done.out) == [], done.err


def test_a_name_as_the_trunk_is_not_repeated(tmp_path: Path) -> None:
    done = carrier("call", "+15550100199", "--trunk", NAME, "--data-dir", str(tmp_path / "var"),
                   config=REPO / "config", cwd=tmp_path)
    line = one_line_error(done)
    assert line == "carrier call: --trunk: no trunk of the name given (trunks: demo)", line
    assert "Testa" not in done.err
