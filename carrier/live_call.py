"""One answered call as the gateway runs it: its SIP side, its media leg, its tasks.

The application sees only ``live.call`` (a :class:`carrier.call.Call` with a typed
``CallContext``); the SIP call stays here. :meth:`LiveCall.run` owns one
``asyncio.TaskGroup`` holding the call's work, nothing fire-and-forget:

* the signalling pump: BYE (the call ends, playback stops and the media leg closes at
  once), re-INVITE/UPDATE offers (hold/resume), INFO DTMF, in-dialog results;
* the handler (``carrier.plugin.CallHandler``);
* the length-limit timer, when the context carries ``max_duration_s``: the call ends as
  if hung up (BYE, media closed, ``call.ended`` set); a handler still running after
  ``grace_s`` is cancelled once, so its ``finally`` can still write its records.

When the handler returns the pump and the timer stop; a call still up is hung up; the
leg is closed. A handler's exception is re-raised once all that is done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from carrier.call import (
    LENGTH_LIMIT_REASON,
    Call,
    CallerInfo,
    CallEvent,
    DialFailure,
    Direction,
)
from carrier.cdr_points import CallFacts, utcnow
from carrier.media_leg import MediaLeg
from carrier.plugin import CallContext, CallHandler, CallOutcome, OutcomeKind
from carrier.sip.errors import LocalProtocolError
from carrier.sip.events import (
    AnswerInAck,
    CallEnded,
    DtmfReceived,
    ReferProgress,
    ReferReceived,
    ReInviteReceived,
    RequestResult,
    UpdateReceived,
)
from carrier.sip.sdp import SdpError

if TYPE_CHECKING:
    from carrier.sip.endpoint import SipCall

log = logging.getLogger("carrier.gateway")

CallAudit = Callable[[str, str, str, Mapping[str, Any]], Awaitable[None]]
"""``audit(action, call_id, reason, details)``"""
Refer = Callable[[str], None]
"""Sends a REFER for a blind transfer to the target URI in the call's dialog."""
Consult = Callable[["LiveCall", str, Mapping[str, str]], Awaitable["LiveCall | DialFailure"]]
"""Places the consult leg of a warm transfer from this call (the gateway's dial)."""
Finished = Callable[["LiveCall", CallOutcome | None], Awaitable[None]]
"""Called once when the call has ended and its leg is closed (the gateway writes the CDR)."""
TRANSFER_TIMEOUT_S = 20.0


class LiveCall:
    def __init__(self, sip: SipCall, leg: MediaLeg, *, direction: Direction, caller: CallerInfo,
                 called: str, context: CallContext, audit: CallAudit, refer: Refer,
                 consult: Consult | None = None, facts: CallFacts | None = None) -> None:
        self.sip = sip
        self.facts = facts or CallFacts(started_at=utcnow(), answered_at=utcnow())
        self.finished: Finished | None = None
        self.leg = leg
        self._audit = audit
        self._refer = refer
        self._consult_with = consult
        self._tg: asyncio.TaskGroup | None = None
        self._legs: dict[str, LiveCall] = {}  # consult legs of warm transfers, by call id
        self.released: Callable[[], None] | None = None  # the gateway's bookkeeping at end
        # in-dialog request outcomes, REFER progress and the end, from the pump to transfer()
        self.control: asyncio.Queue[RequestResult | ReferProgress | CallEnded] = asyncio.Queue(
            maxsize=64)
        self.started = False
        self.limit_reached = False
        self.answered_at = time.monotonic()  # for the console's live-call durations
        self.call = Call(call_id=sip.call_id, direction=direction, caller=caller,
                         called=called, media=leg.media, transfer=self._transfer,
                         hangup=self._hangup, context=context,
                         consult=self._consult if consult is not None else None,
                         bridge=self._bridge)

    # ---- running ----------------------------------------------------------------------

    async def run(self, handler: CallHandler | None, *, grace_s: float) -> CallOutcome | None:
        """Run the call to its end (see the module docstring)."""
        self.started = True
        outcome: CallOutcome | None = None
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg  # consult legs of a warm transfer run here too
                pump = tg.create_task(self._pump())
                handling = tg.create_task(self._handle(handler))
                limit = self.call.context.max_duration_s
                timer = None
                if limit:
                    timer = tg.create_task(self._limit(handling, limit, grace_s))
                await asyncio.wait({handling})
                pump.cancel()
                if timer is not None:
                    timer.cancel()
                for other in self._legs.values():
                    await other.end("transfer-ended")
            outcome, failure = (None, None) if handling.cancelled() else handling.result()
        finally:
            await self.end("handler-finished")
            if self.released is not None:
                self.released()
            if outcome is None and self.limit_reached:
                outcome = CallOutcome(self.call.call_id, OutcomeKind.LENGTH_LIMIT)
            if self.finished is not None:  # however it ended, the call's CDR
                await self.finished(self, outcome)
        if failure is not None:
            raise failure
        return outcome

    async def end(self, reason: str) -> None:
        """Hang up if still up and close the media leg (idempotent)."""
        if not self.call.ended.is_set():
            self.sip.hangup()
            self.call.mark_ended(reason)
        await self.leg.close()

    async def _handle(self, handler: CallHandler | None
                      ) -> tuple[CallOutcome | None, Exception | None]:
        call = self.call
        if handler is None:
            await call.ended.wait()
            return None, None
        try:
            return await handler(call, call.context), None
        except Exception as exc:  # noqa: BLE001 - re-raised by run() once the call is down
            log.warning("call %s: handler failed (%s)", call.call_id, type(exc).__name__)
            return None, exc

    async def _limit(self, handling: asyncio.Task[Any], seconds: float, grace_s: float) -> None:
        await asyncio.sleep(seconds)  # the loop's timer: the call-length limit
        self.limit_reached = True
        await self._audit("call.length_limit", self.call.call_id, "call length limit",
                          {"seconds": int(seconds)})
        await self.end(LENGTH_LIMIT_REASON)
        done, _ = await asyncio.wait({handling}, timeout=grace_s)
        if not done:
            handling.cancel()  # once: its finally may still write records

    async def _pump(self) -> None:
        """Signalling events during the call: BYE, hold/resume, INFO DTMF."""
        call, sip, leg = self.call, self.sip, self.leg
        while True:
            event = await sip.events.get()
            if isinstance(event, CallEnded):
                # Keys pressed just before the BYE reach the handler (an opt-out by 9).
                for key in leg.media.stream.flush_dtmf():
                    call.push_event(CallEvent("dtmf", key.digit))
                # Silence at once: playback stops and the leg closes now, not when the
                # handler gets round to returning (issue 11 item 10).
                call.mark_ended(event.reason)
                if not self.control.full():
                    self.control.put_nowait(event)  # a transfer waiting hears of it
                await leg.close()
                return
            if isinstance(event, (ReInviteReceived, UpdateReceived)):
                self._on_reoffer(event)
            elif isinstance(event, AnswerInAck):
                try:  # the answer to the offer our 2xx made to a re-INVITE without one
                    leg.accept(event.sdp)
                except SdpError as exc:  # the media stays as it was
                    log.warning("call %s: answer in ACK refused (%s)", call.call_id, exc.reason)
            elif isinstance(event, DtmfReceived):
                call.push_event(CallEvent("dtmf", event.digit))
                leg.media.inject_dtmf(event.digit)
            elif isinstance(event, ReferReceived):
                # We never dial what a peer's REFER names (a way to have us call any
                # number); the 202 already went, so the NOTIFY ends it (RFC 3515 2.4.4).
                log.info("call %s: REFER from the peer declined", call.call_id)
                sip.notify_refer(603, final=True)
            elif isinstance(event, (RequestResult, ReferProgress)) and not self.control.full():
                self.control.put_nowait(event)

    def _on_reoffer(self, event: ReInviteReceived | UpdateReceived) -> None:
        sip = self.sip
        offer = event.sdp  # the body, or the SDP part of a SIP-I multipart body
        if offer is None:  # an offer wanted from us: the answer comes in the ACK
            sip.respond(event.key, 200, sdp=self.leg.offer())
            return
        try:
            answer, neg = self.leg.reoffer(offer)
        except SdpError as exc:
            sip.respond(event.key, exc.status_code)
            return
        self.call.push_event(CallEvent("hold" if neg.on_hold else "resume"))
        sip.respond(event.key, 200, sdp=answer)

    # ---- the Call's verbs -------------------------------------------------------------

    async def _hangup(self, reason: str) -> None:
        self.sip.hangup()
        await self.leg.close()  # nothing of ours is heard after our BYE

    async def _transfer(self, target: str, summary: Mapping[str, Any]) -> bool:
        sip = self.sip
        ok = False
        status = 0
        if self.call.ended.is_set():
            # The caller went first (a hang-up racing the agent's transfer): nothing to refer.
            await self._audit("call.transfer", sip.call_id, "call already ended",
                              {"status": 481, "ok": False})
            return False
        self.facts.transfer_target = target
        try:
            self._refer(target)
        except LocalProtocolError:
            # The dialog ended between the check and the REFER (BYE in flight).
            await self._audit("call.transfer", sip.call_id, "dialog ended",
                              {"status": 481, "ok": False})
            return False
        try:
            async with asyncio.timeout(TRANSFER_TIMEOUT_S):
                while True:
                    event = await self.control.get()
                    if isinstance(event, RequestResult) and event.method == "REFER":
                        status = event.status
                        if not 200 <= status < 300:
                            break
                    elif isinstance(event, ReferProgress) and event.final:
                        status = event.status
                        ok = 200 <= status < 300
                        break
                    elif isinstance(event, CallEnded):
                        # BYE during the transfer: after the peer's 202, how carriers that
                        # took the call over end our leg; before it, no transfer (481).
                        ok, status = 200 <= status < 300, status or 481
                        break
        except TimeoutError:
            status = 408
        self.facts.transferred = ok
        await self._audit("call.transfer", sip.call_id, "refer",
                          {"status": status, "ok": ok,
                           "summary_chars": len(str(summary.get("summary", "")))})
        return ok

    # ---- warm (attended) transfer -----------------------------------------------------

    async def _consult(self, target: str, headers: Mapping[str, str]) -> Call | DialFailure:
        """Call ``target`` while this call stays up; the new leg's signalling runs in this
        call's task group (so a BYE from the human is seen) until this call ends."""
        assert self._consult_with is not None
        assert self._tg is not None
        self.facts.transfer_target = target
        placed = await self._consult_with(self, target, headers)
        if isinstance(placed, DialFailure):
            await self._audit("call.transfer", self.sip.call_id, "consult failed",
                              {"ok": False, "status": placed.code or 0,
                               "outcome": placed.outcome.value})
            return placed
        self._legs[placed.call.call_id] = placed
        placed.started = True
        self._tg.create_task(placed.run(None, grace_s=0.0))
        await self._audit("call.consult", self.sip.call_id, "warm transfer",
                          {"leg": placed.call.call_id})
        return placed.call

    async def _bridge(self, other_call: Call) -> bool:
        """Patient and consult leg hear each other until either hangs up; then both end."""
        other = self._legs.get(other_call.call_id)
        if other is None or self.call.ended.is_set() or other.call.ended.is_set():
            return False
        mine, theirs = self.leg.media, other.leg.media
        self.facts.transferred = True
        await self._audit("call.transfer", self.sip.call_id, "bridged",
                          {"ok": True, "leg": other.call.call_id})
        async with asyncio.TaskGroup() as tg:
            flows = [tg.create_task(theirs.play(mine.inbound())),
                     tg.create_task(mine.play(theirs.inbound()))]
            ends = [tg.create_task(self.call.ended.wait()),
                    tg.create_task(other.call.ended.wait())]
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
            for task in (*flows, *ends):
                task.cancel()
        await other.end("bridge-ended")
        await self.end("bridge-ended")
        return True
