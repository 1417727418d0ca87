"""No cell of the call records CSV starts a spreadsheet formula, however it is dressed.

The CDR's text fields carry what callers and trunks sent (the SIP Call-ID, a transfer
target, an outcome name). Before, only a cell whose very first character was = + - @ tab
or CR was quoted with a leading apostrophe: the same formula behind spaces, a line break,
an invisible character or a full-width sign went out bare, and spreadsheets that trim or
normalise the cell ran it. Now the cell is judged as a spreadsheet reads it."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from carrier.records.cdr import CallDetail, cdr_csv

T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def _exported(value: str) -> str:
    detail = CallDetail(value, "inbound", T0, T0 + dt.timedelta(seconds=5), "remote_bye",
                        transfer_target=value)
    row = next(csv.DictReader(io.StringIO(cdr_csv([detail]), newline="")))
    assert row["call_id"] == row["transfer_target"]
    return row["call_id"]


@pytest.mark.parametrize("value", ["  @SUM(1)", "\u3000=1", "\ufe6b1", "\u2060-1+1",
                                   "\r\n+1", "\ufe62cmd", "=1"])
def test_a_formula_however_dressed_is_quoted(value: str) -> None:
    assert _exported(value) == "'" + value


@pytest.mark.parametrize("value", ["call-1@10.0.0.1", "sip:desk@clinic.example", "remote_bye",
                                   "a-b", "Testa 1+2"])
def test_plain_text_is_left_as_it_is(value: str) -> None:
    assert _exported(value) == value
