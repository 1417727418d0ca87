"""Inbound call policy: source ACL (toll-fraud protection) and overload limits. Pure.

`InboundPolicy.check(source_ip, active_calls, now)` returns None to admit the call, or
a `Refusal` carrying the SIP status (403 or 503 with Retry-After) and the rule that
refused it, which the endpoint answers and passes to the audit callback.
"""

from __future__ import annotations

import ipaddress
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


@dataclass
class InboundPolicy:
    """`acl=None` admits any source; an empty tuple admits none."""

    acl: tuple[Network, ...] | None = None
    max_concurrent: int | None = None
    max_cps: float | None = None
    retry_after: int = 5
    _tokens: float = field(default=0.0, init=False)
    _last: float | None = field(default=None, init=False)

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

    def allowed_source(self, source_ip: str) -> bool:
        if self.acl is None:
            return True
        try:
            addr = ipaddress.ip_address(source_ip)
        except ValueError:
            return False
        return any(addr in net for net in self.acl)

    def check(self, source_ip: str, active_calls: int, now: float) -> Refusal | None:
        if not self.allowed_source(source_ip):
            return Refusal(403, "Forbidden", "acl")
        if self.max_concurrent is not None and active_calls >= self.max_concurrent:
            return Refusal(503, "Service Unavailable", "concurrent-calls", self.retry_after)
        if self.max_cps is not None and not self._take_token(now):
            return Refusal(503, "Service Unavailable", "calls-per-second", self.retry_after)
        return None

    def _take_token(self, now: float) -> bool:
        """Token bucket holding at most one second's worth of calls."""
        assert self.max_cps is not None
        if self._last is None:
            self._tokens = self.max_cps
        else:
            self._tokens = min(self.max_cps, self._tokens + (now - self._last) * self.max_cps)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
