"""EHR message sequences end to end through ``mllp_send`` on 127.0.0.1 into the embedded
Postgres: a clinic's clocks going back (MSH-7 without a zone in the repeated hour), HL7
nulls (``""``: the sender deleted the field), an MRN merged away by an A40 and reused,
PID-15 by name, SIU booking/reschedule/cancel out of order, a resend after a reconnect,
MSH-18 character sets, PID-3 repeated under two authorities.

``vectors/ehr_sequences_held_out.json`` was written before the fixes it scores and never
used to change them; its score is printed (``-s``). Each message goes on its own
connection with the listener's clock set to when it ``arrived``."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from carrier.feeds.mllp import Hl7Listener
from carrier.feeds.store import FeedStore
from carrier.records.store import Records
from tests.feeds.conftest import Clock, send_at, stored_appt, stored_patient

pytestmark = pytest.mark.postgres
VECTORS = Path(__file__).parent / "vectors"


async def _case_misses(case: dict[str, Any], port: int, clock: Clock, store: FeedStore,
                       records: Records, tmp: Path) -> list[str]:
    got = []
    for m in case["messages"]:
        data = ("\r".join(m["segments"]) + "\r").encode(m["charset"])
        fields = await send_at(port, clock, data, dt.datetime.fromisoformat(m["arrived"]), tmp)
        got.append(fields["MSA"][1])
    out = [] if got == case["acks"] else [f"acks {got}"]
    if want := case.get("patient"):
        p = await stored_patient(store, records, want["mrn"])
        if p is None:
            return [*out, "no patient"]
        if want.get("name_has_no_quotes") and '"' in p["name"]:
            out.append("name holds quotes")
        out += [f"{k} {p[k]!r}" for k in ("name", "phone", "dob", "language_feed")
                if k in want and p[k] != want[k]]
    if want := case.get("appt"):
        a = await stored_appt(records, want["ref"])
        if a is None or a["status"] != want["status"] or (
                "start" in want and a["start_at"] != dt.datetime.fromisoformat(want["start"])):
            out.append(f"appointment {a}")
    if want := case.get("patients_for_phone"):
        n = await records.pool.fetchval(
            "SELECT count(*) FROM patients WHERE phone_bidx = $1",
            records.keys.phone_index(want["phone"]))
        if n != want["count"]:
            out.append(f"{n} patients for one phone")
    return out


async def test_held_out_ehr_sequences(clocked: tuple[Hl7Listener, Clock, int],
                                      feed_store: FeedStore, records: Records,
                                      tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    _, clock, port = clocked
    cases = json.loads((VECTORS / "ehr_sequences_held_out.json").read_text())["cases"]
    missed = {}
    with caplog.at_level(logging.DEBUG):
        for case in cases:
            if misses := await _case_misses(case, port, clock, feed_store, records, tmp_path):
                missed[case["why"]] = misses
    with capsys.disabled():
        print(f"\nheld-out EHR sequences: {len(cases) - len(missed)}/{len(cases)}")
        for why, misses in missed.items():
            print(f"  missed: {why}: {misses}")
    assert "Testa" not in caplog.text  # no name reaches a log line
    assert len(missed) <= HELD_OUT_MISSES_ALLOWED


HELD_OUT_MISSES_ALLOWED = 0  # before the fixes: 10 missed (12/22)
