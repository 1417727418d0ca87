"""Sign-in, sessions, CSRF and role checks for the console and its API.

* :func:`login` checks a password (Argon2id) and, for every role that can see PHI, a TOTP
  code (one use per code); repeated failures lock the account for a while
  (``console.lockout_failures``, ``console.lockout_s``). Success opens a session.
* The session is a random token in the ``carrier_session`` cookie (HttpOnly,
  SameSite=Strict, Secure when the console speaks TLS); it logs off after
  ``console.idle_timeout_s`` idle (:mod:`carrier.console.sessions`).
* CSRF: every state-changing request carries the session's token, in the
  ``X-CSRF-Token`` header (API) or the ``csrf_token`` form field (pages). The sign-in
  form, which has no session yet, uses a double-submit cookie.
* :func:`require` guards API routes (401/403 problem details); :func:`page_operator`
  guards pages (redirect to ``/login``; a 403 page).
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Request

from carrier.client_key import client_key
from carrier.console.problems import Problem
from carrier.console.roles import ALL_ROLES, Operator, Role
from carrier.console.sessions import Session

if TYPE_CHECKING:
    from carrier.console.app import ConsoleContext

__all__ = ["ALL_ROLES", "COOKIE", "Operator", "Refusal", "Role", "Session", "check_csrf",
           "csrf_token", "current_session", "login", "page_operator", "require"]

COOKIE = "carrier_session"
LOGIN_CSRF_COOKIE = "carrier_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
BACKGROUND_HEADER = "X-Carrier-Background"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REVALIDATE = timedelta(seconds=30)
"""How often a session re-reads its account: one disabled or reset by ``carrier user`` in
another process loses its sessions within this time."""
HASHER = PasswordHasher()  # Argon2id, the library's (RFC 9106) parameters
_DUMMY: list[str] = []  # a hash to verify against for unknown names (same cost)


ADDRESS_FAILURES = 20
"""Failed sign-ins from one client address (any accounts, unknown names too) within
``console.lockout_s`` after which that address is refused until its oldest failure ages
out: one address trying a password on every account (spraying) met only each account's
own lockout. Behind a proxy, the address is the one it forwards (``trusted_proxies``)."""


class RefusalReason(enum.Enum):
    CREDENTIALS = "credentials"  # unknown name, wrong password or wrong/missing code
    LOCKED = "locked"
    DISABLED = "disabled"
    ADDRESS = "address"  # too many failures from this client address


@dataclass(frozen=True)
class Refusal:
    reason: RefusalReason

    @property
    def message(self) -> str:
        if self.reason is RefusalReason.LOCKED:
            return "Too many failed sign-ins: this account is locked for a while."
        if self.reason is RefusalReason.ADDRESS:
            return "Too many failed sign-ins from this address: try again later."
        return "Sign-in refused: check the name, password and code."


class AddressFailures:
    """Failed sign-ins per client address in a sliding window (this process's)."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[datetime]] = {}

    def _recent(self, address: str, now: datetime, window: timedelta) -> deque[datetime]:
        times = self._seen.get(address, deque())
        while times and now - times[0] >= window:
            times.popleft()
        if not times:
            self._seen.pop(address, None)
        return times

    def limited(self, address: str, now: datetime, window: timedelta) -> bool:
        return len(self._recent(address, now, window)) >= ADDRESS_FAILURES

    def failed(self, address: str, now: datetime, window: timedelta) -> None:
        if len(self._seen) > 100_000:  # bounded memory under a flood of addresses
            for old in [a for a in self._seen if not self._recent(a, now, window)]:
                self._seen.pop(old, None)
        times = self._recent(address, now, window)
        times.append(now)
        self._seen[address] = times


def _mfa_tag(secret: str | None) -> str:
    """Which TOTP secret a session signed in with, without keeping the secret."""
    return hashlib.sha256((secret or "").encode()).hexdigest()


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def _verify_password(stored: str, password: str) -> bool:
    try:
        return HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def totp_step(secret: str, code: str, now_ts: float) -> int | None:
    """The time step ``code`` is valid for (this one, or one either side), else None."""
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    here = int(now_ts) // totp.interval
    for step in (here, here - 1, here + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def login(ctx: ConsoleContext, name: str, password: str, totp: str, *,
                address: str = "-", replacing: str | None = None) -> Session | Refusal:
    """Check a sign-in from the client at ``address``; open a session, or say why not (each
    attempt is audited). An address with too many recent failures is refused unchecked.
    ``replacing``: the session token the browser holds (its caller ends that session)."""
    window = timedelta(seconds=ctx.settings.console.lockout_s)
    if ctx.sign_in_failures.limited(address, ctx.now(), window):
        await ctx.audit("console:-", "console.login_refused", ("operator", "-"),
                        "address limited", {})
        return Refusal(RefusalReason.ADDRESS)
    got = await _login(ctx, name, password, totp, replacing)
    if isinstance(got, Refusal):
        ctx.sign_in_failures.failed(address, ctx.now(), window)
    return got


async def _login(ctx: ConsoleContext, name: str, password: str, totp: str,
                 replacing: str | None = None) -> Session | Refusal:
    ops = ctx.operator_store()
    now = ctx.now()
    account = await ops.find(name)
    if account is None:
        if not _DUMMY:
            _DUMMY.append(await asyncio.to_thread(hash_password, secrets.token_hex(8)))
        await asyncio.to_thread(_verify_password, _DUMMY[0], password)
        await ctx.audit("console:-", "console.login_refused", ("operator", "-"),
                        "unknown name", {})
        return Refusal(RefusalReason.CREDENTIALS)
    actor = f"console:{account.name}"
    if account.disabled:
        await ctx.audit(actor, "console.login_refused", ("operator", account.id), "disabled", {})
        return Refusal(RefusalReason.DISABLED)
    console = ctx.settings.console
    # Counted before the check: attempts sent at once get no more checks than the limit.
    count = await ops.claim_attempt(account.id, now, max_failures=console.lockout_failures,
                                    lock_for=timedelta(seconds=console.lockout_s))
    if count is None:
        await ctx.audit(actor, "console.login_refused", ("operator", account.id), "locked", {})
        return Refusal(RefusalReason.LOCKED)
    good = await asyncio.to_thread(_verify_password, account.password_hash, password)
    step = None
    role = Role(account.role)
    if good and (role.sees_phi or account.totp_secret):
        step = totp_step(account.totp_secret or "", totp, now.timestamp())
        good = step is not None and step > (account.totp_last_step or -1)  # no code twice
    if good:  # the same code at the same moment by another sign-in: only one takes it
        good = await ops.login_succeeded(account.id, now, totp_step=step)
    if not good:
        locked = count >= console.lockout_failures
        await ctx.audit(actor, "console.login_refused", ("operator", account.id),
                        "bad credentials", {"locked": locked})
        return Refusal(RefusalReason.LOCKED if locked else RefusalReason.CREDENTIALS)
    operator = Operator(account.id, account.name, role)
    session, ended = ctx.sessions.sign_in(operator, now, replacing=replacing)
    session.mfa = _mfa_tag(account.totp_secret)
    for _ in ended:  # past console.max_sessions_per_operator: the oldest went
        await ctx.audit(operator.actor, "console.logout", ("operator", account.id),
                        "session cap: the oldest session ended", {})
    await ctx.audit(operator.actor, "console.login", ("operator", account.id), "sign-in",
                    {"role": role.value})
    return session


def current_session(request: Request) -> Session | None:
    ctx: ConsoleContext = request.app.state.console
    touch = request.headers.get(BACKGROUND_HEADER) != "1"
    return ctx.sessions.get(request.cookies.get(COOKIE), ctx.now(), touch=touch)


async def _live_session(request: Request) -> Session | None:
    """The request's session, if its account is still enabled with the same role and MFA
    secret (re-read every ``REVALIDATE``)."""
    session = current_session(request)
    if session is None:
        return None
    ctx: ConsoleContext = request.app.state.console
    now = ctx.now()
    if now - session.checked < REVALIDATE or ctx.operators is None:
        return session
    account = await ctx.operators.find(session.operator.name)
    if (account is None or account.disabled or account.id != session.operator.id
            or account.role != session.operator.role.value
            or _mfa_tag(account.totp_secret) != session.mfa):
        ctx.sessions.close_operator(session.operator.id)
        return None
    session.checked = now
    return session


def csrf_token(request: Request) -> str:
    """The token a form or script must send back: the session's, or before sign-in the
    login form's double-submit cookie (set by ``GET /login``)."""
    session = current_session(request)
    if session is not None:
        return session.csrf
    return request.cookies.get(LOGIN_CSRF_COOKIE) or ""


async def check_csrf(request: Request) -> None:
    """Refuse (403) a state-changing request without the right token."""
    if request.method in SAFE_METHODS:
        return
    expected = csrf_token(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(expected, sent):
        raise Problem(403, "missing or wrong CSRF token", title="CSRF check failed")


def require(*roles: Role) -> Callable[[Request], Awaitable[Operator]]:
    """API dependency: the signed-in operator, if their role is one of ``roles``
    (401 problem without a session, 403 for another role or a missing CSRF token)."""
    allowed = frozenset(roles)

    async def dependency(request: Request) -> Operator:
        session = await _live_session(request)
        if session is None:
            raise Problem(401, "sign in at /login first")
        if session.operator.role not in allowed:
            raise Problem(403, f"the {session.operator.role.value} role may not do this")
        await check_csrf(request)
        request.state.operator = session.operator
        return session.operator

    return dependency


class LoginRedirect(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.location = f"/login?next={quote(next_path, safe='/')}"


class PageForbidden(Exception):
    """The 403 page: another role's page, or (``stale_form``) a form whose CSRF token is
    not this session's (from before the operator signed in again): not sent, say so."""

    def __init__(self, operator: Operator, *, stale_form: bool = False,
                 back: str = "/") -> None:
        super().__init__(operator.role.value)
        self.operator = operator
        self.stale_form = stale_form
        self.back = back  # the page the form belongs to, for a fresh one


def page_operator(*roles: Role, page: str = "/") -> Callable[[Request], Awaitable[Operator]]:
    """Page dependency: the signed-in operator with one of ``roles``; without a session a
    redirect to ``/login?next=...``, with another role the 403 page. Form posts are
    CSRF-checked: a token from an earlier sign-in gets the 403 page saying the form was not
    sent, with a link to ``page`` for a fresh one (not a JSON problem document)."""
    allowed = frozenset(roles)

    async def dependency(request: Request) -> Operator:
        session = await _live_session(request)
        if session is None:  # back to this page; a form's action takes POST only
            raise LoginRedirect(request.url.path if request.method in SAFE_METHODS else page)
        if session.operator.role not in allowed:
            raise PageForbidden(session.operator)
        try:
            await check_csrf(request)
        except Problem:
            raise PageForbidden(session.operator, stale_form=True, back=page) from None
        request.state.operator = session.operator
        return session.operator

    return dependency


def cookie_args(ctx: ConsoleContext, request: Request) -> dict[str, Any]:
    """Secure when the console speaks TLS, or when the browser spoke HTTPS to the trusted
    proxy in front of it (``X-Forwarded-Proto``, believed only from ``trusted_proxies``)."""
    secure = ctx.settings.console.tls or request.url.scheme == "https"
    return {"httponly": True, "samesite": "strict", "secure": secure, "path": "/"}


def client_address(request: Request) -> str:
    """The client's address (behind ``console.trusted_proxies``, the one they forward), as
    its failed sign-ins count: an IPv6 client by its /64 (``carrier.client_key``)."""
    return client_key(request.client.host) if request.client else "-"
