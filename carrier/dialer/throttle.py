"""Per-trunk calls-per-second and concurrency limits, and trunk failover. Pure: `now` in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

_EPS = 1e-9  # float refill error must not leave a token at 0.99999999 forever


@dataclass
class TokenBucket:
    """`rate` tokens per second, at most `burst` stored. `now` is seconds (monotonic)."""

    rate: float
    burst: float
    tokens: float = field(default=-1.0)
    updated: float | None = None

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if self.updated is not None and now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        if self.updated is None or now > self.updated:
            self.updated = now

    def try_take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1 - _EPS:
            self.tokens = max(0.0, self.tokens - 1)
            return True
        return False

    def ready_at(self, now: float) -> float:
        """When the next token is available (== now if one is)."""
        self._refill(now)
        if self.tokens >= 1 - _EPS:
            return now
        return now + (1 - self.tokens) / self.rate


@dataclass(frozen=True)
class TrunkLimits:
    name: str
    cps: float
    max_concurrent: int
    burst: float = 1.0


@dataclass
class _TrunkState:
    limits: TrunkLimits
    bucket: TokenBucket
    active: int = 0
    down_until: float = float("-inf")


class TrunkPool:
    """Trunks in preference order; the first healthy one with capacity is used.

    A trunk that reports itself down is skipped for `down_for` seconds (then
    tried again), which is the failover to the secondary.
    """

    def __init__(self, trunks: Sequence[TrunkLimits], *, down_for: float = 30.0) -> None:
        if not trunks:
            raise ValueError("at least one trunk")
        self._trunks = [_TrunkState(t, TokenBucket(rate=t.cps, burst=t.burst)) for t in trunks]
        self.down_for = down_for

    @property
    def names(self) -> list[str]:
        return [t.limits.name for t in self._trunks]

    def _state(self, name: str) -> _TrunkState:
        for t in self._trunks:
            if t.limits.name == name:
                return t
        raise KeyError(name)

    def acquire(self, now: float, *, exclude: frozenset[str] = frozenset()) -> str | None:
        """Take a slot (a concurrency slot and a CPS token) on the best trunk, or None."""
        for t in self._trunks:
            if t.limits.name in exclude or now < t.down_until:
                continue
            if t.active >= t.limits.max_concurrent:
                continue
            if t.bucket.try_take(now):
                t.active += 1
                return t.limits.name
        return None

    def next_ready(self, now: float, *, exclude: frozenset[str] = frozenset()) -> float | None:
        """Earliest time a slot may open, ignoring concurrency (freed by `release`)."""
        times = [
            max(t.bucket.ready_at(now), t.down_until)
            for t in self._trunks
            if t.limits.name not in exclude and t.active < t.limits.max_concurrent
        ]
        return min(times) if times else None

    def release(self, name: str) -> None:
        t = self._state(name)
        if t.active <= 0:
            raise RuntimeError(f"release of trunk {name} without a slot")
        t.active -= 1

    def mark_down(self, name: str, now: float) -> None:
        self._state(name).down_until = now + self.down_for

    def active(self, name: str) -> int:
        return self._state(name).active
