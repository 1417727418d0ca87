"""The dialer's `Dialer` port over the gateway's `dial(carrier.call.DialRequest)`.

The gateway returns a `Call` (answered) or a typed `DialFailure`; the answered call is
handed to `on_answer`, the application (the reminder workflow), which runs the
conversation and says whether it reached a machine and whether the patient confirmed or
cancelled. The exempt-call length limit travels as `max_duration_s`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from carrier.call import Call, DialFailure, DialOutcome
from carrier.call import DialRequest as GatewayRequest
from carrier.dialer.gate import DialRequest
from carrier.dialer.ports import DialResult, Outcome

_FAILURES = {
    DialOutcome.BUSY: Outcome.BUSY,
    DialOutcome.NO_ANSWER: Outcome.NO_ANSWER,
    DialOutcome.REJECTED: Outcome.FAILED,
    DialOutcome.TRUNK_DOWN: Outcome.TRUNK_DOWN,
}


class Gateway(Protocol):
    async def dial(self, request: GatewayRequest) -> Call | DialFailure: ...


OnAnswer = Callable[[Call, DialRequest], Awaitable[DialResult]]


class GatewayDialer:
    def __init__(self, gateway: Gateway, caller_id: str, on_answer: OnAnswer) -> None:
        self.gateway = gateway
        self.caller_id = caller_id
        self.on_answer = on_answer

    async def dial(
        self, request: DialRequest, trunk: str, *, max_call_seconds: int | None
    ) -> DialResult:
        result = await self.gateway.dial(
            GatewayRequest(
                to=request.number,
                from_number=self.caller_id,
                trunk=trunk,
                origid=str(uuid.uuid4()),
                max_duration_s=None if max_call_seconds is None else float(max_call_seconds),
                # copied into call.context by the gateway: the handler's length limit
                context={
                    "patient_id": request.patient_id,
                    "purpose": request.purpose,
                    "max_duration_s": max_call_seconds,
                },
            )
        )
        if isinstance(result, DialFailure):
            return DialResult(_FAILURES[result.outcome])
        return await self.on_answer(result, request)
