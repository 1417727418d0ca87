"""The one outbound path: what every call the stack places goes through.

``Gateway.dial`` calls :func:`place`: a request without a :class:`carrier.call.Clearance`
(the compliance gate's yes, or an operator test to a number on the test list) is refused
with 403 and audited; otherwise the call takes a trunk slot from the process's one trunk
pool (calls-per-second, concurrency) and fails over along the trunk's chain when the
trunk itself fails (:mod:`carrier.trunk_service`). A request whose clearance runs out
(``DialRequest.not_after``: the calling window closes) before its slot comes is not sent
when it could still be ringing then: ``too_late``, audited. One whose clearance carries a
re-check is asked again once its slot comes; a refusal sends nothing (``withdrawn``, audited
with the refusing rule). Signing (the Identity header) happens
in the gateway's INVITE path for every attempt. A node with no free RTP port pair sends
nothing either: ``no_media_port``, audited, with its CDR (no failover: the ports are the
node's, not the trunk's). Once the process is stopping (:class:`Stopping`, set by the
drain) nothing more is sent (``stopped``: a request still waiting for its slot) and the
INVITEs still ringing are CANCELled.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from typing import Any, Protocol

from carrier.call import Call, Clearance, DialFailure, DialOutcome, DialRequest
from carrier.sip.events import CallFailed
from carrier.trunk_service import Placed, SlotOutcome, TrunkSlots

Audit = Callable[[str, str, str, Mapping[str, Any]], Awaitable[None]]
DialOn = Callable[[DialRequest, str], Awaitable[Call | DialFailure]]
# Dials that came back with nothing sent, and the audit action each is recorded under.
_NOT_SENT = {DialOutcome.TOO_LATE: "dial.too_late",
             DialOutcome.NO_MEDIA_PORT: "dial.no_media_port",
             DialOutcome.STOPPED: "dial.stopped",
             DialOutcome.WITHDRAWN: "dial.withdrawn"}


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Stopping:
    """Set once, when the process starts to stop: no INVITE is sent after it, and those
    still ringing (registered through :meth:`ringing`) are CANCELled, so nobody picks up
    a call that would be cut a moment later; each ends as an unanswered call."""

    def __init__(self) -> None:
        self.is_set = False
        self._ringing: set[Cancellable] = set()

    def set(self) -> None:
        self.is_set = True
        for invite in list(self._ringing):
            invite.cancel()

    @contextlib.contextmanager
    def ringing(self, invite: Cancellable) -> Iterator[None]:
        if self.is_set:  # sent while the stop began (CANCEL waits for a provisional)
            invite.cancel()
        self._ringing.add(invite)
        try:
            yield
        finally:
            self._ringing.discard(invite)


def refusal(req: DialRequest, test_numbers: Collection[str]) -> str | None:
    """Why ``req`` may not be dialled: no clearance, or a test call to a non-test number."""
    if not isinstance(req.clearance, Clearance):
        return "no compliance clearance"
    if req.clearance.operator_test and req.to not in test_numbers:
        return "operator test to a number not on the test list"
    return None


def failure_of(event: CallFailed, trunk: str) -> DialFailure:
    """Our INVITE's failure, classified: our trunk's fault (fail over) or the callee's."""
    status, reason = event.status, event.reason
    if event.response is None and status in (408, 503):
        # No answer at all to our INVITE (timer B) or a transport error: the trunk.
        return DialFailure(DialOutcome.TRUNK_DOWN, status, reason, trunk)
    if status in (486, 600):
        return DialFailure(DialOutcome.BUSY, status, reason, trunk)
    if status in (408, 480, 487):
        return DialFailure(DialOutcome.NO_ANSWER, status, reason, trunk)
    if status in (502, 503, 504):
        return DialFailure(DialOutcome.TRUNK_DOWN, status, reason, trunk)
    return DialFailure(DialOutcome.REJECTED, status, reason, trunk)


def no_media_port(trunk: str) -> DialFailure:
    """This node had no free RTP port pair for the call: nothing was sent (not the trunk's
    fault, so no failover; the dialer asks again later)."""
    return DialFailure(DialOutcome.NO_MEDIA_PORT, None, "no free RTP port pair", trunk)


def result_of(placed: Placed[Call | DialFailure], req: DialRequest) -> Call | DialFailure:
    """A call, or why not (no usable trunk left is the trunk being down)."""
    if placed.result is None:
        return DialFailure(DialOutcome.TRUNK_DOWN, None, "no trunk up", req.trunk)
    return placed.result


def _slot_outcome(result: Call | DialFailure) -> SlotOutcome:
    if isinstance(result, Call):
        return SlotOutcome.HOLD
    if result.outcome is DialOutcome.TRUNK_DOWN:
        return SlotOutcome.TRUNK_DOWN
    return SlotOutcome.DONE


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def too_late(req: DialRequest, now: dt.datetime) -> bool:
    """Whether an INVITE sent ``now`` could still ring when ``req``'s clearance ends."""
    if req.not_after is None:
        return False
    return now + dt.timedelta(seconds=req.ring_timeout_s) > req.not_after


async def place(req: DialRequest, slots: TrunkSlots, dial_on: DialOn, audit: Audit,
                test_numbers: Collection[str], *, stopping: Stopping | None = None,
                wall: Callable[[], dt.datetime] = _utcnow) -> Placed[Call | DialFailure]:
    refused = refusal(req, test_numbers)
    if refused is not None:
        await audit("dial.refused", req.origid, refused, {"trunk": req.trunk})
        return Placed(DialFailure(DialOutcome.REJECTED, 403, refused, req.trunk), None, ())

    async def attempt(name: str) -> Call | DialFailure:
        # Checked once the slot is ours, right before the INVITE (pacing may have waited).
        if stopping is not None and stopping.is_set:
            return DialFailure(DialOutcome.STOPPED, None, "stopping", name)
        if too_late(req, wall()):
            return DialFailure(DialOutcome.TOO_LATE, None, "calling window closing", name)
        recheck = req.clearance.recheck if req.clearance is not None else None
        if recheck is not None:  # what changed while the call waited (a revocation, DNC)
            rule = await recheck()
            if rule is not None:
                return DialFailure(DialOutcome.WITHDRAWN, None, rule, name)
        return await dial_on(req, name)

    placed = await slots.place(req.trunk, attempt, _slot_outcome)
    for name in placed.down:
        await audit("trunk.down", req.origid, "failover", {"trunk": name})
    result = placed.result
    if isinstance(result, DialFailure) and result.outcome in _NOT_SENT:
        await audit(_NOT_SENT[result.outcome], req.origid, result.reason,
                    {"trunk": result.trunk})
    return placed
