"""Where calls end, their call detail records (``carrier.records.cdr``) are made.

The gateway calls :class:`CdrWriter` at each way a call can end: an answered call when its
``LiveCall`` finishes (handler done, BYE either way, length limit, transfer), an outbound
INVITE that failed (busy, no answer, our ring timeout, rejected, trunk down), an inbound
INVITE we refused (STIR/SHAKEN, SDP) or answered and never saw ACKed (Timer H), a dial
the gateway refused (no clearance), and the endpoint's refusal summaries (ACL 403,
overload 503: a flood is one row per source, rule and window with its count, never a
row per packet). The compliance gate's own refusals are written by the dialer's
recorder (``carrier.dialer.records_adapter``), which holds the decision's audit id.

Writing goes through the records outbox (durable, spooled while Postgres is away); a
writer that cannot take it is logged, never allowed to break the call path.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from carrier.call import DialFailure, DialOutcome, DialRequest
from carrier.plugin import CallOutcome, OutcomeKind
from carrier.records.cdr import CallDetail
from carrier.records.dbedge import WriterStopped

if TYPE_CHECKING:
    from carrier.live_call import LiveCall
    from carrier.sip.refusal import RefusalSummary

log = logging.getLogger("carrier.gateway")

CdrSink = Callable[[CallDetail], Awaitable[None]]

# RFC 3551 static payload types (and what our SDP offers dynamically).
CODECS = {0: "PCMU", 8: "PCMA", 9: "G722"}
_ENDED = {"bye-received": "remote_bye", "bye-sent": "local_bye",
          "ack-timeout": "ack_timeout", "session-expired": "session_expired",
          "transport-error": "transport_error", "length-limit": "length_limit",
          "gateway-closed": "gateway_closed", "transfer-ended": "transfer",
          "bridge-ended": "transfer", "shutdown": "shutdown"}
_FAILED = {DialOutcome.BUSY: "busy", DialOutcome.NO_ANSWER: "no_answer",
           DialOutcome.REJECTED: "rejected", DialOutcome.TRUNK_DOWN: "trunk_down",
           DialOutcome.TOO_LATE: "too_late", DialOutcome.NO_MEDIA_PORT: "no_media_port",
           DialOutcome.STOPPED: "stopped", DialOutcome.WITHDRAWN: "gate_refused"}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class CallFacts:
    """What a call's CDR needs that the ``Call`` does not carry; filled as it goes."""

    started_at: dt.datetime
    from_number: str = ""
    to_number: str = ""
    trunk: str | None = None
    answered_at: dt.datetime | None = None
    attestation: str | None = None
    verstat: str | None = None
    transfer_target: str | None = None
    transferred: bool = False
    gate_ref: str | None = None
    consent_ref: str | None = None


def cause_of(end_reason: str | None, *, transferred: bool) -> str:
    if transferred:
        return "transfer"
    return _ENDED.get(end_reason or "", "local_bye")


def live_detail(live: LiveCall, outcome: CallOutcome | None, now: dt.datetime) -> CallDetail:
    """The CDR of an answered call, at its end."""
    call, facts = live.call, live.facts
    stats = live.leg.media.stats()
    payload = getattr(live.leg.media.stream.codec, "payload_type", None)
    kind = outcome.kind if outcome is not None else None
    transferred = facts.transferred or kind is OutcomeKind.TRANSFERRED
    return CallDetail(
        call_id=call.call_id, direction=call.direction.value,
        started_at=facts.started_at, answered_at=facts.answered_at,
        ended_at=max(now, facts.started_at),
        hangup_cause=cause_of(call.end_reason, transferred=transferred),
        from_number=facts.from_number, to_number=facts.to_number, trunk=facts.trunk,
        sip_status=200, codec=CODECS.get(payload, str(payload)) if payload is not None else None,
        packets_lost=stats.packets_lost, jitter_ms=round(stats.jitter_ms, 2),
        remote_loss_pct=None if stats.remote_fraction_lost is None
        else round(100 * stats.remote_fraction_lost, 2),
        remote_jitter_ms=stats.remote_jitter_ms,
        attestation=facts.attestation, verstat=facts.verstat,
        amd=outcome.amd.value if outcome is not None and outcome.amd is not None else None,
        workflow=outcome.workflow if outcome is not None else call.context.purpose,
        outcome=_outcome(outcome, live), transfer_target=facts.transfer_target,
        consent_ref=facts.consent_ref, gate_ref=facts.gate_ref)


def _outcome(outcome: CallOutcome | None, live: LiveCall) -> str | None:
    if outcome is not None:
        return outcome.kind.value
    if live.limit_reached:
        return OutcomeKind.LENGTH_LIMIT.value
    return None


def dial_failure_detail(req: DialRequest, failure: DialFailure, *, call_id: str,
                        started: dt.datetime, attestation: str | None) -> CallDetail:
    """The CDR of an outbound call that was never answered (or never sent)."""
    cause = _FAILED[failure.outcome]
    if failure.code == 403 and failure.reason.startswith(("no compliance", "operator test")):
        cause = "gate_refused"  # the gateway's own check of the gate's clearance
    status = failure.code
    if status is None and failure.reason == "ring timeout":
        status = 487  # we CANCELled: the INVITE's final response is 487 Request Terminated
    now = utcnow()
    return CallDetail(
        call_id=call_id, direction="outbound", started_at=started, ended_at=max(now, started),
        hangup_cause=cause, from_number=req.from_number, to_number=req.to,
        trunk=failure.trunk or req.trunk, sip_status=status, attestation=attestation,
        workflow=req.purpose, outcome=failure.outcome.value, gate_ref=req.gate_ref,
        consent_ref=req.consent_ref)


def refused_detail(call_id: str, *, started: dt.datetime, status: int, cause: str,
                   from_number: str, to_number: str, trunk: str | None,
                   attestation: str | None = None, verstat: str | None = None,
                   outcome: str = "refused") -> CallDetail:
    """The CDR of an inbound INVITE that never became a call (an un-ACKed 200 included:
    its ``sip_status`` is 200, and it has no answer time, as no dialog was confirmed)."""
    now = utcnow()
    return CallDetail(
        call_id=call_id, direction="inbound", started_at=started, ended_at=max(now, started),
        hangup_cause=cause, from_number=from_number, to_number=to_number, trunk=trunk,
        sip_status=status, attestation=attestation, verstat=verstat, outcome=outcome)


def summary_detail(summary: RefusalSummary, now: dt.datetime) -> CallDetail:
    """A refusal summary of the endpoint (ACL 403, overload 503), as one row with its count."""
    # One summary per source, rule and window; the first refusal of a window and the
    # window's remainder are two summaries (their spans differ).
    call_id = (f"refused:{summary.source}:{summary.rule}:{summary.status}:"
               f"{int(summary.since * 1000)}-{int(summary.until * 1000)}")
    return CallDetail(
        call_id=call_id, direction="inbound", started_at=now, ended_at=now,
        hangup_cause="refused", sip_status=summary.status, trunk=None,
        outcome=f"refused.{summary.rule}", attempts=summary.count)


class CdrWriter:
    """The gateway's one way to store a CDR: never raises into the call path."""

    def __init__(self, sink: CdrSink | None) -> None:
        self.sink = sink
        self.written = 0

    async def write(self, detail: CallDetail) -> None:
        if self.sink is None:
            return
        try:
            await self.sink(detail)
            self.written += 1
        except (WriterStopped, OSError) as exc:  # the outbox could not even spool it
            # No traceback: nothing of the record reaches the log.
            log.error("call %s: CDR not stored (%s)", detail.call_id,  # noqa: TRY400
                      type(exc).__name__)
