"""Where a :class:`carrier.sip.endpoint.SipEndpoint` listens and how it behaves."""

from __future__ import annotations

from dataclasses import dataclass, field

from carrier.sip.transaction import Timers
from carrier.sip.transport import StreamLimits


@dataclass(frozen=True)
class EndpointConfig:
    """Where to listen; `None` disables a transport. Port 0 picks a free port."""

    udp: tuple[str, int] | None = ("127.0.0.1", 5060)
    tcp: tuple[str, int] | None = ("127.0.0.1", 5060)
    tls: tuple[str, int] | None = ("127.0.0.1", 5061)
    tls_cert: str | None = None  # TLS listens only with a certificate and key
    tls_key: str | None = None
    tls_ca: str | None = None  # trust anchors for outbound TLS
    tls_verify: bool = True
    advertise: str | None = None  # address for Via/Contact when bound to 0.0.0.0
    stream_idle_timeout: float = 300.0  # close TCP/TLS connections silent this long
    stream_limits: StreamLimits = field(default_factory=StreamLimits)  # accepted TCP/TLS
    user: str = "gateway"
    user_agent: str = "carrier-sip/0.1"
    session_expires: int = 1800
    min_se: int = 90
    timers: Timers = field(default_factory=Timers)
    refusal_interval: float = 60.0  # seconds per audited refusal summary (source, rule)
    refusal_answers_per_s: float = 1.0  # 403s to one refused source; burst of 5
    refusal_answers_global_per_s: float = 50.0  # 403s to all refused sources together
