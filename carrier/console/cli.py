"""``carrier user``: operator accounts of the console.

    carrier user add NAME --role ROLE     # prints a one-time password and the TOTP URI
    carrier user list [--json]
    carrier user disable NAME
    carrier user reset-mfa NAME           # a new TOTP secret and one-time password

Roles: admin, compliance, scheduler, supervisor, auditor (:mod:`carrier.console.roles`).
The one-time password and the provisioning URI (scan it into an authenticator app) are
printed once and never stored in clear. Every change is an audit entry (``--actor``).
Database and settings as every records command (``--config-dir``, ``--database-url``,
``--data-dir``).
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from carrier.errors import OperatorError
from carrier.records.cli import _common, _run
from carrier.records.cli_context import add_json, emit, with_records
from carrier.records.operators import (
    ROLES,
    NoSuchOperator,
    OperatorExists,
    Operators,
)
from carrier.records.store import Records


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("user", help="operator accounts of the console")
    sub = parser.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    p = sub.add_parser("add", help="create an account; prints a one-time password and the"
                       " TOTP provisioning URI")
    _common(p)
    p.add_argument("name", help="the account's sign-in name")
    p.add_argument("--role", choices=ROLES, required=True,
                   help="what the account may see and do (README: the console's roles)")
    p.set_defaults(func=_add)
    p = sub.add_parser("list", help="accounts, roles and states")
    _common(p)
    add_json(p)
    p.set_defaults(func=_list)
    for name, func, text in (
        ("disable", _disable, "disable an account for good (it stays for the audit trail)"),
        ("reset-mfa", _reset_mfa, "new TOTP secret and one-time password (lost phone)"),
    ):
        p = sub.add_parser(name, help=text)
        _common(p)
        p.add_argument("name", help="the account's sign-in name")
        p.set_defaults(func=func)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ops(records: Records) -> Operators:
    return Operators(records.pool, records.keys)


def _add(args: argparse.Namespace) -> int:
    async def go(records: Records) -> Any:
        try:
            issued = await _ops(records).add(args.name, args.role, now=_now())
        except OperatorExists:
            raise OperatorError(f"an operator named {args.name!r} exists already") from None
        except ValueError as exc:
            raise OperatorError(str(exc)) from None
        await records.audit(args.actor, "operator.add", ("operator", issued.id), "operator",
                            {"operator": issued.name, "role": issued.role})
        return issued

    issued = _run(with_records(args, go))
    print(f"operator {issued.name} ({issued.role}) created")
    print(f"one-time password: {issued.password}")
    print(f"TOTP provisioning URI: {issued.totp_uri}")
    print("hand both over in person; the password is shown only now")
    return 0


def _list(args: argparse.Namespace) -> int:
    async def go(records: Records) -> Any:
        return await _ops(records).list()

    accounts = _run(with_records(args, go))
    now = _now()

    def state(a: Any) -> str:
        if a.disabled:
            return "disabled"
        if a.locked_until is not None and a.locked_until > now:
            return "locked"
        return "active"

    emit(args, {"operators": [
        {"id": a.id, "name": a.name, "role": a.role, "state": state(a),
         "mfa": a.totp_secret is not None, "created_at": a.created_at.isoformat(),
         "last_login_at": a.last_login_at.isoformat() if a.last_login_at else None}
        for a in accounts]},
        [f"{a.name:<24} {a.role:<11} {state(a):<9} last sign-in "
         f"{a.last_login_at:%Y-%m-%d %H:%M}" if a.last_login_at else
         f"{a.name:<24} {a.role:<11} {state(a):<9} never signed in" for a in accounts]
        or ["no operators yet: carrier user add NAME --role admin"])
    return 0


def _disable(args: argparse.Namespace) -> int:
    async def go(records: Records) -> Any:
        try:
            account = await _ops(records).disable(args.name, now=_now())
        except NoSuchOperator:
            raise OperatorError(f"no operator named {args.name!r}") from None
        await records.audit(args.actor, "operator.disable", ("operator", account.id),
                            "operator", {"operator": account.name})
        return account

    _run(with_records(args, go))
    print(f"operator {args.name} disabled")
    return 0


def _reset_mfa(args: argparse.Namespace) -> int:
    async def go(records: Records) -> Any:
        try:
            issued = await _ops(records).reset_mfa(args.name)
        except NoSuchOperator:
            raise OperatorError(f"no operator named {args.name!r}") from None
        await records.audit(args.actor, "operator.reset_mfa", ("operator", issued.id),
                            "operator", {"operator": issued.name})
        return issued

    issued = _run(with_records(args, go))
    print(f"operator {issued.name}: MFA reset; the old authenticator no longer works")
    print(f"one-time password: {issued.password}")
    print(f"TOTP provisioning URI: {issued.totp_uri}")
    return 0
