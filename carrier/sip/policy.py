"""Inbound call policy: source ACL (toll-fraud protection) and overload limits. Pure.

`InboundPolicy.check(source_ip, active_calls, now)` returns None to admit the call, or
a `Refusal` carrying the SIP status (403 or 503 with Retry-After) and the rule that
refused it, which the endpoint answers and passes to the audit callback.
`admits(source_ip)` is the ACL part alone: the endpoint's `RefusalGate` refuses the
sources it does not admit statelessly, before any transaction (`carrier.sip.refusal`).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str
    rule: str  # "acl" | "concurrent-calls" | "calls-per-second"
    retry_after: int | None = None

    def __post_init__(self) -> None:
        if self.status not in (403, 503):
            raise ValueError("policy refusals are 403 or 503")


_EPS = 1e-9  # float refill error must not leave a token at 0.99999999 forever


@dataclass
class TokenBucket:
    """`rate` tokens per second, at most `burst` stored (default: one second's worth, at
    least one); starts full. `now` is monotonic seconds; a clock that steps back mints
    nothing. The one token bucket of the carrier: inbound admission and refusal answers
    here, outbound trunk pacing in ``carrier.trunks``."""

    rate: float
    burst: float | None = None
    tokens: float = field(default=-1.0)
    updated: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError("rate must be a finite number > 0")
        if self.burst is None:
            self.burst = max(1.0, self.rate)
        if not self.burst >= 1:
            raise ValueError("burst must be >= 1")
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if self.updated is not None and now > self.updated:
            cap = self.burst if self.burst is not None else self.rate
            self.tokens = min(cap, self.tokens + (now - self.updated) * self.rate)
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


@dataclass
class TrunkRule:
    """One trunk's source networks and limits (from its settings)."""

    name: str
    networks: tuple[Network, ...]
    max_concurrent: int | None = None
    max_cps: float | None = None
    _bucket: TokenBucket | None = field(default=None, init=False)

    @classmethod
    def from_strings(cls, name: str, acl: list[str] | tuple[str, ...], *,
                     max_concurrent: int | None = None,
                     max_cps: float | None = None) -> TrunkRule:  # fmt: skip
        nets = tuple(ipaddress.ip_network(a, strict=False) for a in acl)
        return cls(name, nets, max_concurrent, max_cps)

    def matches(self, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(addr in net for net in self.networks)

    def take(self, now: float) -> bool:
        if self.max_cps is None:
            return True
        if self.max_cps <= 0:
            return False  # a limit of zero admits nothing
        if self._bucket is None:
            self._bucket = TokenBucket(self.max_cps)
        return self._bucket.try_take(now)


@dataclass
class InboundPolicy:
    """`acl=None` admits any source; an empty tuple admits none. With `trunks`, a
    source must also belong to one trunk, whose own limits then apply."""

    acl: tuple[Network, ...] | None = None
    max_concurrent: int | None = None
    max_cps: float | None = None
    retry_after: int = 5
    trunks: tuple[TrunkRule, ...] = ()
    _bucket: TokenBucket | None = field(default=None, init=False)

    def trunk_for(self, source_ip: str) -> TrunkRule | None:
        try:
            addr = ipaddress.ip_address(source_ip)
        except ValueError:
            return None
        return next((t for t in self.trunks if t.matches(addr)), None)

    @classmethod
    def from_strings(
        cls,
        acl: list[str] | None,
        *,
        max_concurrent: int | None = None,
        max_cps: float | None = None,
        retry_after: int = 5,
    ) -> InboundPolicy:
        nets = None if acl is None else tuple(ipaddress.ip_network(a, strict=False) for a in acl)
        return cls(nets, max_concurrent, max_cps, retry_after)

    def admits(self, source_ip: str) -> bool:
        """The source may send us calls (the ACL, and one trunk's networks if any)."""
        return self.allowed_source(source_ip) and (
            not self.trunks or self.trunk_for(source_ip) is not None
        )

    def allowed_source(self, source_ip: str) -> bool:
        if self.acl is None:
            return True
        try:
            addr = ipaddress.ip_address(source_ip)
        except ValueError:
            return False
        return any(addr in net for net in self.acl)

    def check(
        self, source_ip: str, active_calls: int, now: float, *, trunk_calls: int = 0
    ) -> Refusal | None:
        """`trunk_calls`: calls now active on the trunk this source belongs to."""
        if not self.admits(source_ip):
            return Refusal(403, "Forbidden", "acl")
        trunk = self.trunk_for(source_ip)
        full = self.max_concurrent is not None and active_calls >= self.max_concurrent
        if trunk is not None and trunk.max_concurrent is not None:
            full = full or trunk_calls >= trunk.max_concurrent
        if full:
            return Refusal(503, "Service Unavailable", "concurrent-calls", self.retry_after)
        fast = False
        if self.max_cps is not None:
            if self._bucket is None and self.max_cps > 0:
                self._bucket = TokenBucket(self.max_cps)
            fast = self._bucket is None or not self._bucket.try_take(now)
        if not fast and trunk is not None:
            fast = not trunk.take(now)
        if fast:
            return Refusal(503, "Service Unavailable", "calls-per-second", self.retry_after)
        return None
