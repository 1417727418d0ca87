"""Every CDR field the console shows (issue 15, "Call records"), from where a call ends to
the row the console reads, through the spool as when Postgres is away: RTCP loss and jitter
(ours and the far end's), the answering-machine result, the transfer target, the consent
and gate references, for an answered call, a failed dial, a refused INVITE, a refusal
summary and a gate refusal. The calls themselves over SIP are tests/gateway/test_cdr_sip.py;
the outage itself is tests/records/test_cdr.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest

from carrier.call import DialFailure, DialOutcome, DialRequest, Direction
from carrier.cdr_points import (
    CallFacts,
    dial_failure_detail,
    live_detail,
    refused_detail,
    summary_detail,
)
from carrier.plugin import AmdResult, CallOutcome, OutcomeKind
from carrier.records.cdr import OPS, CallDetail, _to_record
from carrier.records.spool import Spool
from carrier.sip.refusal import RefusalSummary

T0 = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)


def answered_call() -> CallDetail:
    facts = CallFacts(started_at=T0, from_number="+15550100100", to_number="+15550100124",
                      trunk="t1", answered_at=T0 + dt.timedelta(seconds=4), attestation="A",
                      verstat="TN-Validation-Passed", transfer_target="tel:+15550100199",
                      transferred=True, gate_ref="0b5c7d7e-2f1e-4c36-9d7c-1c2f3a4b5c6d",
                      consent_ref="consent:42")
    stats = SimpleNamespace(packets_lost=3, jitter_ms=4.567, remote_fraction_lost=0.0625,
                            remote_jitter_ms=11.25)
    media = SimpleNamespace(stats=lambda: stats,
                            stream=SimpleNamespace(codec=SimpleNamespace(payload_type=8)))
    call = SimpleNamespace(call_id="ans-1", direction=Direction.OUTBOUND, end_reason="refer",
                           context=SimpleNamespace(purpose="appointment_reminder"))
    live = SimpleNamespace(call=call, facts=facts, leg=SimpleNamespace(media=media),
                           limit_reached=False)
    outcome = CallOutcome("ans-1", OutcomeKind.TRANSFERRED, workflow="reminder",
                          amd=AmdResult.HUMAN)
    return live_detail(live, outcome, T0 + dt.timedelta(seconds=64))  # type: ignore[arg-type]


def test_an_answered_call_s_cdr_has_rtcp_amd_transfer_and_references() -> None:
    d = answered_call()
    assert (d.codec, d.packets_lost, d.jitter_ms) == ("PCMA", 3, 4.57)
    assert (d.remote_loss_pct, d.remote_jitter_ms) == (6.25, 11.25)  # the far end's RTCP
    assert (d.amd, d.hangup_cause, d.transfer_target) == ("human", "transfer", "tel:***0199")
    assert (d.consent_ref, d.gate_ref) == ("consent:42", "0b5c7d7e-2f1e-4c36-9d7c-1c2f3a4b5c6d")
    assert (d.attestation, d.verstat, d.sip_status) == ("A", "TN-Validation-Passed", 200)
    assert (d.from_number, d.to_number) == ("***0100", "***0124")
    cut = _cut_at_the_limit()  # no outcome from the application: the carrier's own
    assert (cut.outcome, cut.hangup_cause, cut.amd, cut.codec) == (
        "length_limit", "length_limit", None, None)


def _cut_at_the_limit() -> CallDetail:
    stats = SimpleNamespace(packets_lost=0, jitter_ms=0.0, remote_fraction_lost=None,
                            remote_jitter_ms=None)
    media = SimpleNamespace(stats=lambda: stats, stream=SimpleNamespace(codec=None))
    call = SimpleNamespace(call_id="cut-1", direction=Direction.INBOUND,
                           end_reason="length-limit", context=SimpleNamespace(purpose=None))
    live = SimpleNamespace(call=call, facts=CallFacts(started_at=T0, answered_at=T0),
                           leg=SimpleNamespace(media=media), limit_reached=True)
    return live_detail(live, None, T0 + dt.timedelta(seconds=60))  # type: ignore[arg-type]


def every_ending() -> list[CallDetail]:
    req = DialRequest(to="+15550100124", from_number="+15550100100", trunk="t1",
                      origid="o-1", purpose="appointment_reminder",
                      gate_ref="0b5c7d7e-2f1e-4c36-9d7c-1c2f3a4b5c6e", consent_ref="consent:7")
    machine = dataclasses.replace(answered_call(), call_id="ans-machine", amd="machine",
                                  outcome="machine_message")
    return [
        answered_call(), machine, _cut_at_the_limit(),
        dial_failure_detail(req, DialFailure(DialOutcome.BUSY, 486, "Busy Here", "t1"),
                            call_id="busy-1", started=T0, attestation="A"),
        dial_failure_detail(req, DialFailure(DialOutcome.NO_ANSWER, None, "ring timeout"),
                            call_id="noans-1", started=T0, attestation="A"),
        refused_detail("ref-1", started=T0, status=403, cause="refused",
                       from_number="+15550100999", to_number="+15550100100", trunk="t1",
                       attestation="C", verstat="TN-Validation-Failed"),
        summary_detail(RefusalSummary("192.0.2.7", "udp", "acl", 403, 57, 5, 10.0, 70.0), T0),
        CallDetail(call_id="gate:x:1", direction="outbound", started_at=T0, ended_at=T0,
                   hangup_cause="gate_refused", to_number="+15550100124",
                   workflow="appointment_reminder", outcome="tcpa.consent.revoked",
                   gate_ref="0b5c7d7e-2f1e-4c36-9d7c-1c2f3a4b5c6f"),
    ]


@pytest.mark.postgres
async def test_every_ending_survives_the_spool_field_for_field(records, tmp_path: Path  # type: ignore[no-untyped-def]
                                                                ) -> None:
    """What the outbox spools while Postgres is away (one JSON line per record, fsync'd)
    is replayed into the same row, every field as written."""
    details = every_ending()
    by_id = {d.call_id: d for d in details}
    assert (by_id["noans-1"].sip_status, by_id["noans-1"].hangup_cause) == (487, "no_answer")
    assert (by_id["busy-1"].consent_ref, by_id["busy-1"].gate_ref) == (
        "consent:7", "0b5c7d7e-2f1e-4c36-9d7c-1c2f3a4b5c6e")
    spool = Spool(tmp_path / "outbox.jsonl")
    spool.append([{**_to_record(d), "op": "cdr"} for d in details])
    spool.close()
    (op,) = OPS
    async with records.pool.acquire() as conn:
        for record in Spool(tmp_path / "outbox.jsonl").read():
            await op.apply(conn, record)
            await op.apply(conn, record)  # a replay twice over changes nothing
    for d in details:
        assert await records.call_detail(d.call_id) == d, d.call_id
    assert await records.pool.fetchval("SELECT count(*) FROM call_details") == len(details)
