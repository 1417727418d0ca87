"""Fields far longer than any real value, inside a message under the size limit (an
attacker, or an interface that pastes a document into a name). Over MLLP into the
embedded Postgres. Before: all were applied: a 300,000-character name was stored (and
would be greeted by the voice agent and shown to staff), a 5,000-character control id,
MRN or appointment id became keys. Now each is refused with a data type error at its
field (AR for the control id: the message as such), and nothing is written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from carrier.feeds.hl7_in import MAX_ID, MAX_NAME
from carrier.records.store import Records
from tests.feeds.conftest import Listening, ack_fields, mllp_send, now_utc
from tests.feeds.hl7_samples import siu

pytestmark = pytest.mark.postgres


async def test_overlong_fields_are_refused_at_their_field(
        hl7_server: Listening, records: Records, tmp_path: Path) -> None:
    now = now_utc()
    start = (now + dt.timedelta(days=2)).replace(microsecond=0, second=0)
    acks = await mllp_send(hl7_server.port, [
        siu("S12", "L1", start=start, appt="LA1", mrn="LM1", name="Testa^" + "Q" * 300_000),
        siu("S12", "L2", start=start, appt="LA2", mrn="M" * (MAX_ID + 1)),
        siu("S12", "L3", start=start, appt="A" * (MAX_ID + 1), mrn="LM3"),
        siu("S12", "C" * (MAX_ID + 1), start=start, appt="LA4", mrn="LM4"),
        siu("S12", "L5", start=start, appt="LA5", mrn="LM5",
            name="T" * MAX_NAME + "^" + "P" * MAX_NAME),  # at the limit: taken
        siu("S12", "L6", start=start, appt="LA6", mrn="LM6"),  # the connection goes on
    ], tmp_path)
    got = [(ack_fields(a)["MSA"][1], ack_fields(a).get("ERR", ["", "", ""])[2]) for a in acks]
    assert got[:5] == [("AE", "PID^1^5"), ("AE", "PID^1^3"), ("AE", "SCH^1^2"),
                       ("AR", "MSH^1^10"), ("AA", "")]
    assert all(ack_fields(a)["ERR"][3].startswith("102^") for a in acks[:4])
    assert await records.pool.fetchval("SELECT count(*) FROM patients") <= 2
    assert await records.pool.fetchval(
        "SELECT max(length(name_ct)) FROM patients") < 2 * MAX_NAME + 100
    assert {r["ref"] for r in await records.pool.fetch("SELECT ref FROM feed_appointments")
            } <= {"LA5", "LA6"}
