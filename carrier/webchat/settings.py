"""The ``webchat`` settings section (the patient web page) and its checks."""

from __future__ import annotations

from dataclasses import dataclass

from carrier.errors import ConfigError
from carrier.settings_checks import check_proxies


@dataclass(frozen=True)
class WebchatSettings:
    enabled: bool = False
    """Serve the patient web page from ``carrier serve`` (its own port, no operator login)."""
    bind_host: str = "127.0.0.1"
    port: int = 8081
    """Its own port (a separate origin from the console): an operator can publish this one
    and keep the console's port on an internal interface."""
    number: str = "webchat"
    """The "dialled number" of a web session: ``agent.routes`` maps it to a workflow."""
    max_sessions: int = 20
    """Concurrent chat/voice sessions; a new one beyond this is refused (503)."""
    max_sessions_per_client: int = 3
    """Concurrent sessions of one client address (429 beyond): one address cannot hold
    every slot and lock the other patients out."""
    idle_timeout_s: float = 300.0
    """A session with no request (text) or no open voice for this long is ended."""
    requests_per_minute: int = 30
    """Per client address: requests beyond this in a rolling minute get 429."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses (or networks) of the TLS proxy the page is published behind. A request
    from one of them counts against the client its ``X-Forwarded-For`` names (uvicorn's
    proxy headers); anyone else's header is ignored. Left empty behind a proxy, every
    patient shares the proxy's address, and so one ``requests_per_minute``."""
    max_message_chars: int = 500
    """A longer message is handed over all the same (the agent asks for a shorter one and
    acts on an opt-out in it); one over four times this (at most 5000) is refused, 413."""
    max_call_s: float = 900.0
    """A browser voice call's length limit: the agent plans its closing within it (the
    call's ``max_duration_s``); at the limit the call ends as a SIP call does at its own."""


def check_webchat(w: WebchatSettings, source: str) -> None:
    if not 1 <= w.port <= 65535:
        raise ConfigError(source, "webchat.port", "must be 1..65535")
    if w.max_sessions < 1:
        raise ConfigError(source, "webchat.max_sessions", "must be at least 1")
    if w.max_sessions_per_client < 1:
        raise ConfigError(source, "webchat.max_sessions_per_client", "must be at least 1")
    if not w.idle_timeout_s > 0:
        raise ConfigError(source, "webchat.idle_timeout_s", "must be above 0 seconds")
    check_proxies(source, "webchat.trusted_proxies", w.trusted_proxies)
    if w.requests_per_minute < 1:
        raise ConfigError(source, "webchat.requests_per_minute", "must be at least 1")
    if not 1 <= w.max_message_chars <= 5000:
        raise ConfigError(source, "webchat.max_message_chars", "must be 1..5000")
    if not w.max_call_s > 0:
        raise ConfigError(source, "webchat.max_call_s", "must be above 0 seconds")
    if not w.number:
        raise ConfigError(source, "webchat.number", "must not be empty")
