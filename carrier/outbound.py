"""The one outbound path: what every call the stack places goes through.

``Gateway.dial`` calls :func:`place`: a request without a :class:`carrier.call.Clearance`
(the compliance gate's yes, or an operator test to a number on the test list) is refused
with 403 and audited; otherwise the call takes a trunk slot from the process's one trunk
pool (calls-per-second, concurrency) and fails over along the trunk's chain when the
trunk itself fails (:mod:`carrier.trunk_service`). Signing (the Identity header) happens
in the gateway's INVITE path for every attempt.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from carrier.call import Call, Clearance, DialFailure, DialOutcome, DialRequest
from carrier.trunk_service import Placed, SlotOutcome, TrunkSlots

Audit = Callable[[str, str, str, Mapping[str, Any]], Awaitable[None]]
DialOn = Callable[[DialRequest, str], Awaitable[Call | DialFailure]]


def refusal(req: DialRequest, test_numbers: Collection[str]) -> str | None:
    """Why ``req`` may not be dialled: no clearance, or a test call to a non-test number."""
    if not isinstance(req.clearance, Clearance):
        return "no compliance clearance"
    if req.clearance.operator_test and req.to not in test_numbers:
        return "operator test to a number not on the test list"
    return None


def _slot_outcome(result: Call | DialFailure) -> SlotOutcome:
    if isinstance(result, Call):
        return SlotOutcome.HOLD
    if result.outcome is DialOutcome.TRUNK_DOWN:
        return SlotOutcome.TRUNK_DOWN
    return SlotOutcome.DONE


async def place(req: DialRequest, slots: TrunkSlots, dial_on: DialOn, audit: Audit,
                test_numbers: Collection[str]) -> Placed[Call | DialFailure]:
    refused = refusal(req, test_numbers)
    if refused is not None:
        await audit("dial.refused", req.origid, refused, {"trunk": req.trunk})
        return Placed(DialFailure(DialOutcome.REJECTED, 403, refused, req.trunk), None, ())

    async def attempt(name: str) -> Call | DialFailure:
        return await dial_on(req, name)

    placed = await slots.place(req.trunk, attempt, _slot_outcome)
    for name in placed.down:
        await audit("trunk.down", req.origid, "failover", {"trunk": name})
    return placed
