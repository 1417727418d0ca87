"""The one effect loop every host of a conversation shares (the live call, the simulator).

The engine returns effects; ``run_conversation`` carries them out in order through a
small per-channel :class:`ChannelPort` and feeds what comes back (the caller's next
turn, an action's result) into the engine, whose follow-up effects run before the
rest. A channel only says how it speaks, listens, acts, hands over, hangs up and
keeps records; the order of things and the engine's inputs are decided here, once.
The port's ``now()`` is the channel's clock (the wall clock on a call, a simulated
one in the simulator); the engine itself never reads a clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import deque
from collections.abc import Callable
from typing import Protocol

from agent.workflow.effects import (
    Action,
    ActionResult,
    AddDoNotCall,
    Audit,
    Effect,
    Hangup,
    Input,
    Listen,
    RecordRevocation,
    Remember,
    Say,
    Transfer,
)
from agent.workflow.engine import Conversation

TRANSFER_FAILED = "transfer_failed"
"""The outcome remembered when a transfer was tried and nobody took the call."""

Bookkeeping = RecordRevocation | AddDoNotCall | Audit | Remember
"""Effects that only write something down (consent ledger, DNC list, audit, memory)."""


class ChannelPort(Protocol):
    """What a channel does for the runner. Each method runs one effect to its end."""

    def now(self) -> dt.datetime: ...

    async def say(self, effect: Say) -> None: ...

    async def listen(self, effect: Listen, now: dt.datetime) -> Input:
        """The caller's next turn (or ``CallerHangup`` when the caller has gone)."""
        ...

    async def act(self, effect: Action, now: dt.datetime) -> ActionResult: ...

    async def transfer(self, effect: Transfer) -> bool:
        """Hand the caller over; False when nobody could be reached (the caller is
        still with us)."""
        ...

    def transfer_failed(self, effect: Transfer) -> list[Effect]:
        """What the caller hears and what happens after a failed transfer: an apology
        and an alternative (a number to call, a call-back), then the end of the call."""
        ...

    async def hangup(self, effect: Hangup) -> None: ...

    async def record(self, effect: Bookkeeping) -> None: ...


async def run_conversation(conv: Conversation, port: ChannelPort, start: dt.datetime, *,
                           observe: Callable[[Effect], None] | None = None) -> str | None:
    """Run ``conv`` from its start to its end on ``port``; returns the outcome it
    remembered last (None when it never got that far)."""
    pending: deque[Effect] = deque(conv.start(start))
    outcome: str | None = None
    failed_transfer = False
    while pending:
        effect = pending.popleft()
        if isinstance(effect, Remember) and failed_transfer:
            # The engine ended on "transferred"; what happened is that nobody answered.
            effect = dataclasses.replace(effect, outcome=TRANSFER_FAILED)
        if observe is not None:
            observe(effect)
        if isinstance(effect, Remember):
            outcome = effect.outcome
        if isinstance(effect, Transfer):
            if not await port.transfer(effect):
                failed_transfer = True
                pending.extendleft(reversed(port.transfer_failed(effect)))
            continue
        follow = await _step(conv, port, effect)
        pending.extendleft(reversed(follow))
    return outcome


async def _step(conv: Conversation, port: ChannelPort, effect: Effect) -> list[Effect]:
    now = port.now()
    match effect:
        case Say():
            await port.say(effect)
        case Listen():
            heard = await port.listen(effect, now)
            return conv.handle(heard, port.now())
        case Action():
            return conv.handle(await port.act(effect, now), now)
        case Hangup():
            await port.hangup(effect)
        case RecordRevocation() | AddDoNotCall() | Audit() | Remember():
            await port.record(effect)
    return []
