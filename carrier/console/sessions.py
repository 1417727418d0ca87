"""Console sessions: an in-process table of signed-in operators, keyed by a random token.

A session ends when its operator signs out, is disabled, or stays idle longer than
``console.idle_timeout_s`` (HIPAA 164.312(a)(2)(iii), automatic logoff). Requests a page
makes on its own (polling live calls, marked ``X-Carrier-Background: 1``) do not count as
activity, so an open page left alone still logs off. Every session also ends after
``MAX_AGE`` whatever its activity. An operator has at most ``max_per_operator`` sessions
(``console.max_sessions_per_operator``): a new one ends their oldest. Pure: the caller
passes ``now``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from carrier.console.roles import Operator

MAX_AGE = timedelta(hours=12)


@dataclass
class Session:
    token: str
    operator: Operator
    csrf: str
    created: datetime
    last_seen: datetime
    checked: datetime
    """When the account was last found still enabled (see ``auth.REVALIDATE``)."""
    mfa: str = field(default="", repr=False)
    """A digest of the account's TOTP secret at sign-in: a reset ends the session."""


class Sessions:
    def __init__(self, idle_timeout_s: float, max_per_operator: int = 3) -> None:
        self.idle = timedelta(seconds=idle_timeout_s)
        self.max_per_operator = max_per_operator
        self._by_token: dict[str, Session] = {}

    def open(self, operator: Operator, now: datetime) -> Session:
        return self.sign_in(operator, now)[0]

    def sign_in(self, operator: Operator, now: datetime, *, replacing: str | None = None
                ) -> tuple[Session, list[Session]]:
        """A new session, and the operator's oldest ones it ended to stay within
        ``max_per_operator`` (the caller audits them). ``replacing``: the token of the
        session this sign-in's browser holds, which its caller ends: not counted."""
        self._expire(now)
        own = sorted((s for s in self._by_token.values()
                      if s.operator.id == operator.id and s.token != replacing),
                     key=lambda s: s.created)
        ended = own[:max(0, len(own) - self.max_per_operator + 1)]
        for old in ended:
            del self._by_token[old.token]
        session = Session(secrets.token_urlsafe(32), operator, secrets.token_urlsafe(32),
                          now, now, now)
        self._by_token[session.token] = session
        return session, ended

    def get(self, token: str | None, now: datetime, *, touch: bool = True) -> Session | None:
        """The live session for ``token``; an idle or too old one is ended and None."""
        session = self._by_token.get(token or "")
        if session is None:
            return None
        if now - session.last_seen > self.idle or now - session.created > MAX_AGE:
            del self._by_token[session.token]
            return None
        if touch:
            session.last_seen = now
        return session

    def close(self, token: str | None) -> Session | None:
        return self._by_token.pop(token or "", None)

    def close_operator(self, operator_id: str) -> int:
        """End every session of one operator (disabled, password or MFA reset)."""
        gone = [t for t, s in self._by_token.items() if s.operator.id == operator_id]
        for token in gone:
            del self._by_token[token]
        return len(gone)

    def __len__(self) -> int:
        return len(self._by_token)

    def _expire(self, now: datetime) -> None:
        for token, s in list(self._by_token.items()):
            if now - s.last_seen > self.idle or now - s.created > MAX_AGE:
                del self._by_token[token]
