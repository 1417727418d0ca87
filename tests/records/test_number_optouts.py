"""The spool of STOPs taken by number in an outage, when its file is damaged.

A line of ``optouts.jsonl`` that fails its checksum (a disk fault) may be a STOP: the
consent and do-not-call answers stay "not known yet" (the gate refuses) and nothing
raises into the dialer or the SMS service; the file is kept for an operator."""

from __future__ import annotations

import pytest

from carrier.records.store import Records

pytestmark = pytest.mark.postgres


async def test_a_damaged_optouts_spool_keeps_every_decision_unknown(records: Records) -> None:
    records.optouts.path.parent.mkdir(parents=True, exist_ok=True)
    records.optouts.path.write_bytes(b"0" * 64 + b' {"phone_bidx":"00"}\n' + b"1" * 64 + b" {}\n")
    assert not await records.consent_settled()
    assert not await records.dnc_settled()
    records.optout_waiting_for("+15555550142")  # answers, never raises
    assert records.optouts.path.exists()
