"""The asyncio edge of :mod:`carrier.trunks`: waiting for a slot, failing over, probing.

:class:`TrunkSlots` is the one way an outbound call gets a trunk. ``place(first,
attempt, outcome_of)`` waits (by the injected clock) for a calls-per-second token and a
concurrency slot on the first usable trunk of ``first``'s failover chain, runs
``attempt(trunk)``, and reads the result with ``outcome_of``:

* ``HOLD`` - a call is up: the slot stays taken until ``release(trunk)`` at its end;
* ``DONE`` - the attempt is over (busy, no answer, refused...): the slot is freed;
* ``TRUNK_DOWN`` - our trunk failed: it is marked down and the next one is tried.

``probe_loop`` sends OPTIONS to each trunk whose hold-down is over and brings it back
when it answers.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from carrier.trunks import TrunkPool

log = logging.getLogger("carrier.trunks")

R = TypeVar("R")


class SlotOutcome(enum.Enum):
    HOLD = "hold"
    DONE = "done"
    TRUNK_DOWN = "trunk_down"


@dataclass(frozen=True)
class Placed(Generic[R]):
    """What ``place`` came to: the last attempt's result, its trunk, and the trunks
    that failed before it (in order)."""

    result: R | None
    trunk: str | None
    down: tuple[str, ...]


class TrunkSlots:
    def __init__(self, pool: TrunkPool, *, clock: Callable[[], float],
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.pool = pool
        self.clock = clock
        self.sleep = sleep
        self._released = asyncio.Event()

    async def take(self, chain: tuple[str, ...], exclude: frozenset[str] = frozenset()
                   ) -> str | None:
        """A slot on the first usable trunk of ``chain``; None when none is usable."""
        while True:
            trunk = self.pool.acquire(self.clock(), chain, exclude=exclude)
            if trunk is not None:
                return trunk
            if not self.pool.any_usable(chain, exclude=exclude):
                return None
            ready = self.pool.next_ready(self.clock(), chain, exclude=exclude)
            if ready is None:  # every usable trunk is full: wait for a call to end
                self._released.clear()
                await self._released.wait()
            else:
                await self.sleep(max(0.0, ready - self.clock()))

    def release(self, trunk: str) -> None:
        self.pool.release(trunk)
        self._released.set()

    async def place(self, first: str, attempt: Callable[[str], Awaitable[R]],
                    outcome_of: Callable[[R], SlotOutcome]) -> Placed[R]:
        chain = self.pool.chain(first)
        down: list[str] = []
        result: R | None = None
        while True:
            trunk = await self.take(chain, exclude=frozenset(down))
            if trunk is None:
                return Placed(result, None, tuple(down))
            try:
                result = await attempt(trunk)
                outcome = outcome_of(result)
            except BaseException:
                self.release(trunk)
                raise
            if outcome is SlotOutcome.HOLD:
                return Placed(result, trunk, tuple(down))
            self.release(trunk)
            if outcome is SlotOutcome.DONE:
                return Placed(result, trunk, tuple(down))
            # Our trunk failed before the callee's phone rang: the next one takes the call.
            self.pool.mark_down(trunk, self.clock())
            log.warning("trunk down, failing over", extra={"trunk": trunk})
            down.append(trunk)

    async def probe_loop(self, probe: Callable[[str], Awaitable[bool]], stop: asyncio.Event,
                         *, idle: float = 5.0) -> None:
        """Probe trunks whose hold-down is over until ``stop``; one probe at a time."""
        while not stop.is_set():
            for trunk in self.pool.due_probes(self.clock()):
                ok = await probe(trunk)
                self.pool.probe_result(trunk, ok, self.clock())
                log.info("trunk probe", extra={"trunk": trunk, "up": ok})
            nxt = self.pool.next_probe_at()
            wait = idle if nxt is None else min(idle, max(0.0, nxt - self.clock()))
            try:
                async with asyncio.timeout(wait):
                    await stop.wait()
            except TimeoutError:
                pass
