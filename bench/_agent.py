"""The voice agent on a bench stack, with each call's turn timings observed.

The agent keeps nothing of a call after it ends, so a bench that wants the agent-side
breakdown of reply latency installs the handler on the stack's gateway with a per-call
observer (``agent.handler.CallObserver``) and keeps only the timings (no text).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.handler import CallTrace, VoiceCallHandler
from agent.turn_timing import TurnTiming
from carrier.call import Call, Direction
from carrier.plugin import CallContext, CallOutcome


class ObservedAgent:
    def __init__(self, stack: Any) -> None:
        self._agent = VoiceCallHandler(stack.runtime)
        self.timings: dict[str, list[TurnTiming]] = {}
        stack.gateway.handler = self

    async def __call__(self, call: Call, context: CallContext | Mapping[str, Any]
                       ) -> CallOutcome:
        if not isinstance(context, CallContext):
            limit = context.get("max_duration_s")
            context = CallContext(
                direction=Direction(context.get("direction", "inbound")),
                patient_id=context.get("patient_id"), purpose=context.get("purpose"),
                appointment_id=context.get("appointment_id"),
                max_duration_s=None if limit is None else float(limit))
        return await self._agent(call, context, observer=self)

    def call_finished(self, trace: CallTrace) -> None:
        self.timings[trace.call_id] = list(trace.timings)  # timings only: no words kept
