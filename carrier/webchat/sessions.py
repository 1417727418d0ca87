"""Web sessions and per-client rate limits: a pure core (no I/O, no clock; ``now`` in).

* :class:`RateLimiter` - a sliding one-minute window per client key (the peer address):
  ``allow(key, now)`` is False once ``per_minute`` requests fell inside the last 60 s.
* :class:`SessionTable` - one session per chat: an unguessable id and a separate token
  (sent back in a header on every request; no cookie exists, so a cross-site page can
  neither read nor send it). At most ``max_sessions`` at once (:class:`SessionsFull`), and
  ``max_per_owner`` of one client address (:class:`TooManyFromClient`);
  ``expired(now)`` names the sessions idle for ``idle_s`` (the app ends them).
"""

from __future__ import annotations

import hmac
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any

WINDOW_S = 60.0


class SessionsFull(Exception):
    status = 503


class UnknownSession(Exception):
    status = 404


class TooManyFromClient(Exception):
    status = 429


class RateLimiter:
    def __init__(self, per_minute: int, *, max_clients: int = 10_000) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.max_clients = max_clients
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float) -> bool:
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_clients:
                self.prune(now)
                if len(self._hits) >= self.max_clients:
                    return False  # a flood of addresses: refuse rather than grow
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - WINDOW_S:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return False
        hits.append(now)
        return True

    def prune(self, now: float) -> None:
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= now - WINDOW_S]:
            del self._hits[key]


@dataclass
class WebSession:
    id: str
    token: str
    created: float
    last_seen: float
    kind: str  # "text" or "voice"
    owner: str = ""  # the client address that opened it
    attached: dict[str, Any] = field(default_factory=dict, repr=False)
    """What the app runs for this session (its chat, its peer connection, its task)."""


class SessionTable:
    def __init__(self, *, max_sessions: int, idle_s: float, max_per_owner: int | None = None
                 ) -> None:
        self.max_sessions = max_sessions
        self.max_per_owner = max_per_owner or max_sessions
        self.idle_s = idle_s
        self._sessions: dict[str, WebSession] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def open(self, kind: str, now: float, owner: str = "") -> WebSession:
        if len(self._sessions) >= self.max_sessions:
            raise SessionsFull
        if sum(s.owner == owner for s in self._sessions.values()) >= self.max_per_owner:
            raise TooManyFromClient
        session = WebSession(secrets.token_urlsafe(18), secrets.token_urlsafe(24), now, now,
                             kind, owner)
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str, token: str, now: float) -> WebSession:
        """The session, its idle clock restarted; a wrong token is as unknown as a wrong id."""
        session = self._sessions.get(session_id)
        if session is None or not hmac.compare_digest(session.token.encode(),
                                                      token.encode()):
            raise UnknownSession
        session.last_seen = now
        return session

    def touch(self, session_id: str, now: float) -> None:
        session = self._sessions.get(session_id)
        if session is not None:
            session.last_seen = now

    def expired(self, now: float) -> list[WebSession]:
        return [s for s in self._sessions.values() if now - s.last_seen >= self.idle_s]

    def close(self, session_id: str) -> WebSession | None:
        return self._sessions.pop(session_id, None)

    def all(self) -> list[WebSession]:
        return list(self._sessions.values())
