"""Operator accounts of the console (table ``console_operators``; issue 15).

    ops = Operators(records.pool, records.keys)
    issued = await ops.add("alice", "supervisor", now=now)   # one-time password + TOTP
    account = await ops.find("alice")
    count = await ops.claim_attempt(account.id, now, max_failures=5,
                                    lock_for=timedelta(minutes=15))  # None: locked
    await ops.login_succeeded(account.id, now, totp_step=step)  # False: code used already
    await ops.disable("alice", now=now); await ops.reset_mfa("alice")

Passwords are Argon2id hashes (``argon2-cffi``); the one-time password ``add`` and
``reset_password`` print is shown once and never stored. The TOTP secret is encrypted
under the data keys. Rows are never deleted (the audit trail names them).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import pyotp
from argon2 import PasswordHasher

from carrier.records.crypto import KeyRing

TABLE = "console_operators"
ROLES = ("admin", "compliance", "scheduler", "supervisor", "auditor")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
ISSUER = "Carrier console"
_HASHER = PasswordHasher()


class OperatorExists(Exception):
    pass


class NoSuchOperator(Exception):
    pass


@dataclass(frozen=True)
class OperatorAccount:
    id: str
    name: str
    role: str
    password_hash: str
    totp_secret: str | None
    totp_last_step: int | None
    failures: int
    locked_until: datetime | None
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class Issued:
    """What an operator is handed once: a password to change and the TOTP enrolment."""

    id: str
    name: str
    role: str
    password: str
    totp_uri: str


def _check(name: str, role: str | None = None) -> None:
    if not NAME.match(name):
        raise ValueError("an operator name is 1-64 of a-z 0-9 . _ - (starting with a letter"
                         " or digit)")
    if role is not None and role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")


def new_password() -> str:
    return secrets.token_urlsafe(15)  # 120 bits


class Operators:
    def __init__(self, pool: asyncpg.Pool, keys: KeyRing) -> None:
        self.pool = pool
        self.keys = keys

    def _seal(self, secret: str, row_id: str) -> bytes:
        return self.keys.encrypt(secret, TABLE, "totp_secret_ct", row_id)

    def _account(self, row: asyncpg.Record) -> OperatorAccount:
        rid = str(row["id"])
        secret = (self.keys.decrypt_str(row["totp_secret_ct"], TABLE, "totp_secret_ct", rid)
                  if row["totp_secret_ct"] is not None else None)
        return OperatorAccount(rid, row["name"], row["role"], row["password_hash"], secret,
                               row["totp_last_step"], row["failures"], row["locked_until"],
                               row["disabled_at"] is not None, row["created_at"],
                               row["last_login_at"])

    async def add(self, name: str, role: str, *, now: datetime) -> Issued:
        _check(name, role)
        rid = str(uuid.uuid4())
        password = new_password()
        secret = pyotp.random_base32()
        hashed = await asyncio.to_thread(_HASHER.hash, password)
        try:
            await self.pool.execute(
                f"INSERT INTO {TABLE} (id, name, role, password_hash, totp_secret_ct,"  # noqa: S608
                " created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                uuid.UUID(rid), name, role, hashed, self._seal(secret, rid), now)
        except asyncpg.UniqueViolationError:
            raise OperatorExists(name) from None
        return Issued(rid, name, role, password, provisioning_uri(secret, name))

    async def find(self, name: str) -> OperatorAccount | None:
        if not NAME.match(name):
            return None
        row = await self.pool.fetchrow(f"SELECT * FROM {TABLE} WHERE name = $1", name)  # noqa: S608
        return None if row is None else self._account(row)

    async def list(self) -> list[OperatorAccount]:
        rows = await self.pool.fetch(f"SELECT * FROM {TABLE} ORDER BY name")  # noqa: S608
        return [self._account(r) for r in rows]

    async def _named(self, name: str) -> OperatorAccount:
        account = await self.find(name)
        if account is None:
            raise NoSuchOperator(name)
        return account

    async def disable(self, name: str, *, now: datetime) -> OperatorAccount:
        account = await self._named(name)
        await self.pool.execute(
            f"UPDATE {TABLE} SET disabled_at = coalesce(disabled_at, $2) WHERE id = $1",  # noqa: S608
            uuid.UUID(account.id), now)
        return account

    async def reset_mfa(self, name: str) -> Issued:
        """A new TOTP secret (the old authenticator stops working) and a new one-time
        password; failures and the lock are cleared."""
        account = await self._named(name)
        secret = pyotp.random_base32()
        password = new_password()
        hashed = await asyncio.to_thread(_HASHER.hash, password)
        await self.pool.execute(
            f"UPDATE {TABLE} SET totp_secret_ct = $2, totp_last_step = NULL, failures = 0,"  # noqa: S608
            " locked_until = NULL, password_hash = $3 WHERE id = $1",
            uuid.UUID(account.id), self._seal(secret, account.id), hashed)
        return Issued(account.id, account.name, account.role, password,
                      provisioning_uri(secret, account.name))

    async def claim_attempt(self, operator_id: str, now: datetime, *, max_failures: int,
                            lock_for: timedelta) -> int | None:
        """Count a sign-in attempt as failed before its password is checked (a success
        clears the count): the attempts so far, or None when the account is locked at
        ``now``. One statement, so attempts sent at once cannot all pass the lock check
        before any failure is counted; the attempt reaching ``max_failures`` locks the
        account until ``now + lock_for``, and the first after a lock ends counts afresh."""
        row = await self.pool.fetchrow(
            f"WITH next AS (SELECT id, CASE WHEN locked_until IS NOT NULL THEN 1"  # noqa: S608
            f" ELSE failures + 1 END AS n FROM {TABLE} WHERE id = $1"
            " AND (locked_until IS NULL OR locked_until <= $4::timestamptz) FOR UPDATE)"
            f" UPDATE {TABLE} t SET failures = next.n,"
            " locked_until = CASE WHEN next.n >= $2 THEN $3::timestamptz ELSE NULL END"
            " FROM next WHERE t.id = next.id RETURNING t.failures",
            uuid.UUID(operator_id), max_failures, now + lock_for, now)
        return None if row is None else int(row["failures"])

    async def login_succeeded(self, operator_id: str, now: datetime, *,
                              totp_step: int | None) -> bool:
        """Clear the failures and note the sign-in; False (nothing changed) when
        ``totp_step`` is not after the last one used: the same code, sent twice at once,
        signs in once."""
        row = await self.pool.fetchrow(
            f"UPDATE {TABLE} SET failures = 0, locked_until = NULL, last_login_at = $2,"  # noqa: S608
            " totp_last_step = coalesce($3, totp_last_step) WHERE id = $1"
            " AND ($3::bigint IS NULL OR totp_last_step IS NULL OR totp_last_step < $3)"
            " RETURNING id",
            uuid.UUID(operator_id), now, totp_step)
        return row is not None


def provisioning_uri(secret: str, name: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)
