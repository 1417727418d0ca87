"""The dialer's `Dialer` port over the gateway's one outbound path (`Gateway.place`).

The gateway takes the trunk slot (calls-per-second, concurrency), fails over along the
trunk's chain, signs the INVITE and returns a `Call` (answered) or a typed
`DialFailure`. The request carries the gate's `Clearance`: the runner dials only what
the gate allowed and recorded. The answered call is handed to `on_answer`, which runs
the application's call handler and maps its `CallOutcome`. The exempt-call length limit
travels as `max_duration_s`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from carrier.call import Call, Clearance, DialFailure, DialOutcome, DialRequest
from carrier.dialer.gate import ALLOWED, GateRequest
from carrier.dialer.ports import DialResult, Outcome, Recheck
from carrier.plugin import CallOutcome
from carrier.trunk_service import Placed

_FAILURES = {
    DialOutcome.BUSY: Outcome.BUSY,
    DialOutcome.NO_ANSWER: Outcome.NO_ANSWER,
    DialOutcome.REJECTED: Outcome.FAILED,
    DialOutcome.TRUNK_DOWN: Outcome.TRUNK_DOWN,
    DialOutcome.TOO_LATE: Outcome.TOO_LATE,
    DialOutcome.NO_MEDIA_PORT: Outcome.NO_MEDIA_PORT,
    DialOutcome.STOPPED: Outcome.STOPPED,
    DialOutcome.WITHDRAWN: Outcome.WITHDRAWN,
}


class OutboundGateway(Protocol):
    async def place(self, request: DialRequest) -> Placed[Call | DialFailure]: ...

    async def run_outbound(self, call: Call, context: dict[str, Any]
                           ) -> CallOutcome | None: ...


OnAnswer = Callable[[Call, GateRequest], Awaitable[DialResult]]


class GatewayDialer:
    def __init__(self, gateway: OutboundGateway, caller_id: str, on_answer: OnAnswer) -> None:
        self.gateway = gateway
        self.caller_id = caller_id
        self.on_answer = on_answer

    async def dial(
        self, request: GateRequest, trunk: str, *, max_call_seconds: int | None,
        context: Mapping[str, Any] | None = None, not_after: dt.datetime | None = None,
        recheck: Recheck | None = None,
    ) -> DialResult:
        placed = await self.gateway.place(
            DialRequest(
                to=request.number,
                from_number=self.caller_id,
                trunk=trunk,
                origid=str(uuid.uuid4()),
                max_duration_s=None if max_call_seconds is None else float(max_call_seconds),
                # typed fields the gateway hands on in the call's CallContext
                patient_id=request.patient_id, purpose=request.purpose,
                appointment_id=(context or {}).get("appointment_id"),
                clearance=Clearance(ALLOWED, recheck=recheck),
                gate_ref=(context or {}).get("gate_ref"),
                consent_ref=(context or {}).get("consent_ref"),
                not_after=not_after,
            )
        )
        result = placed.result
        if result is None:
            return DialResult(Outcome.TRUNK_DOWN, down=placed.down)
        if isinstance(result, DialFailure):
            withdrawn = result.outcome is DialOutcome.WITHDRAWN
            return DialResult(_FAILURES[result.outcome], trunk=placed.trunk, down=placed.down,
                              rule=result.reason if withdrawn else None)
        answered = await self.on_answer(result, request)
        return DialResult(answered.outcome, answered.confirmed, answered.cancelled,
                          trunk=placed.trunk, down=placed.down)
