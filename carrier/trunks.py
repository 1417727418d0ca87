"""Outbound trunks: calls-per-second, concurrency, failover and recovery, in one place. Pure.

One :class:`TrunkPool` per process holds every configured trunk. Every outbound call the
stack places (campaign calls, the demo, operator test calls) takes a slot from it through
the gateway: a calls-per-second token (a token bucket per trunk) and a concurrency slot,
held until the call ends. Trunks are tried in preference order, a trunk and then its
``failover`` chain; one that failed (502/503/504 or no answer to the INVITE at all) is
marked DOWN and skipped. After ``hold_down`` seconds it is handed out once by
:meth:`TrunkPool.due_probes` for an OPTIONS probe (``carrier.trunk_service`` sends it);
a 2xx brings it back UP, anything else holds it down again.

No clocks and no I/O here: ``now`` is monotonic seconds, passed in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from carrier.sip.policy import TokenBucket

if TYPE_CHECKING:
    from carrier.settings import Settings

# A trunk that failed is skipped this long before it is probed (seconds).
HOLD_DOWN_S = 30.0


@dataclass(frozen=True)
class TrunkLimits:
    name: str
    cps: float
    max_concurrent: int
    burst: float = 1.0
    failover: str | None = None

    def __post_init__(self) -> None:
        if self.max_concurrent < 1:
            raise ValueError(f"trunk {self.name}: max_concurrent must be >= 1")


class TrunkState(enum.StrEnum):
    UP = "up"
    DOWN = "down"  # failed: skipped until its hold-down ends
    PROBING = "probing"  # hold-down over, an OPTIONS probe is out: still skipped


@dataclass
class _Trunk:
    limits: TrunkLimits
    bucket: TokenBucket
    active: int = 0
    state: TrunkState = TrunkState.UP
    down_until: float = float("-inf")
    failures: int = 0  # consecutive failures (calls and probes) since it was last up


class TrunkPool:
    """Trunks by name, each with its limits and health. See the module docstring."""

    def __init__(self, trunks: Sequence[TrunkLimits], *, hold_down: float = HOLD_DOWN_S) -> None:
        self._trunks = {t.name: _Trunk(t, TokenBucket(rate=t.cps, burst=t.burst))
                        for t in trunks}
        self.hold_down = hold_down

    @classmethod
    def from_settings(cls, settings: Settings, *, hold_down: float = HOLD_DOWN_S) -> TrunkPool:
        return cls([TrunkLimits(t.name, cps=t.calls_per_second,
                                max_concurrent=t.max_concurrent_calls, failover=t.failover)
                    for t in settings.trunks], hold_down=hold_down)

    @property
    def names(self) -> list[str]:
        return list(self._trunks)

    def _get(self, name: str) -> _Trunk:
        try:
            return self._trunks[name]
        except KeyError:
            raise KeyError(f"unknown trunk {name!r}") from None

    def chain(self, first: str) -> tuple[str, ...]:
        """``first``, then its failover, then that one's failover... (each once)."""
        out: list[str] = []
        name: str | None = first
        while name is not None and name not in out:
            out.append(name)
            name = self._get(name).limits.failover
        return tuple(out)

    def _usable(self, names: Iterable[str], exclude: frozenset[str]) -> list[_Trunk]:
        return [t for t in (self._get(n) for n in names)
                if t.limits.name not in exclude and t.state is TrunkState.UP]

    def acquire(self, now: float, chain: Sequence[str], *,
                exclude: frozenset[str] = frozenset()) -> str | None:
        """A CPS token and a concurrency slot on the first usable trunk of ``chain``."""
        for t in self._usable(chain, exclude):
            if t.active < t.limits.max_concurrent and t.bucket.try_take(now):
                t.active += 1
                return t.limits.name
        return None

    def next_ready(self, now: float, chain: Sequence[str], *,
                   exclude: frozenset[str] = frozenset()) -> float | None:
        """Earliest time a token may be had on a trunk with a free slot; None when every
        usable trunk is full (a `release` must come first) or none is usable."""
        times = [t.bucket.ready_at(now) for t in self._usable(chain, exclude)
                 if t.active < t.limits.max_concurrent]
        return min(times) if times else None

    def any_usable(self, chain: Sequence[str], *, exclude: frozenset[str] = frozenset()) -> bool:
        return bool(self._usable(chain, exclude))

    def release(self, name: str) -> None:
        t = self._get(name)
        if t.active <= 0:
            raise RuntimeError(f"release of trunk {name} without a slot")
        t.active -= 1

    def mark_down(self, name: str, now: float) -> None:
        t = self._get(name)
        t.state = TrunkState.DOWN
        t.failures += 1
        t.down_until = now + self.hold_down

    def due_probes(self, now: float) -> list[str]:
        """Trunks whose hold-down is over: each is returned once, now PROBING."""
        due = [t for t in self._trunks.values()
               if t.state is TrunkState.DOWN and now >= t.down_until]
        for t in due:
            t.state = TrunkState.PROBING
        return [t.limits.name for t in due]

    def next_probe_at(self) -> float | None:
        downs = [t.down_until for t in self._trunks.values() if t.state is TrunkState.DOWN]
        return min(downs) if downs else None

    def probe_result(self, name: str, ok: bool, now: float) -> None:
        t = self._get(name)
        if ok:
            t.state, t.failures = TrunkState.UP, 0
        else:
            self.mark_down(name, now)

    def state(self, name: str) -> TrunkState:
        return self._get(name).state

    def active(self, name: str) -> int:
        return self._get(name).active

    def states(self) -> dict[str, TrunkState]:
        return {n: t.state for n, t in self._trunks.items()}
