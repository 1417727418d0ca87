"""Operator accounts and trunks (role ``admin``; no PHI here). Creating an account or
resetting its MFA answers the one-time password and TOTP URI once, as ``carrier user``
prints them; every change is audited and ends the account's open sessions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel

from carrier.console.api.common import ERRORS, NOT_FOUND, context
from carrier.console.auth import Operator, Role, require
from carrier.console.problems import Problem
from carrier.records.operators import NoSuchOperator, OperatorExists

router = APIRouter(tags=["admin"])
Admin = Annotated[Operator, Depends(require(Role.ADMIN))]
Name = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]


class OperatorOut(BaseModel):
    name: str
    role: str
    state: str
    last_login_at: dt.datetime | None


class NewOperator(BaseModel):
    name: str
    role: Role


class IssuedOut(BaseModel):
    name: str
    role: str
    one_time_password: str
    totp_uri: str


class TrunkOut(BaseModel):
    name: str
    host: str
    state: str
    registration: str


@router.get("/operators", response_model=list[OperatorOut], responses=ERRORS)
async def list_operators(request: Request, op: Admin) -> list[OperatorOut]:
    ctx = context(request)
    now = ctx.now()
    out = []
    for a in await ctx.operator_store().list():
        state = ("disabled" if a.disabled else "locked" if a.locked_until and
                 a.locked_until > now else "active")
        out.append(OperatorOut(name=a.name, role=a.role, state=state,
                               last_login_at=a.last_login_at))
    return out


@router.post("/operators", status_code=201, response_model=IssuedOut,
             responses={**ERRORS, 409: ERRORS[401]})
async def add_operator(request: Request, body: NewOperator, op: Admin) -> IssuedOut:
    ctx = context(request)
    try:
        issued = await ctx.operator_store().add(body.name, body.role.value, now=ctx.now())
    except OperatorExists:
        raise Problem(409, "an operator with this name exists") from None
    except ValueError as exc:
        raise Problem(422, str(exc)) from None
    await ctx.audit(op.actor, "operator.add", ("operator", issued.id), "console",
                    {"operator": issued.name, "role": issued.role})
    return IssuedOut(name=issued.name, role=issued.role, one_time_password=issued.password,
                     totp_uri=issued.totp_uri)


@router.post("/operators/{name}/disable", response_model=OperatorOut,
             responses={**NOT_FOUND, 409: ERRORS[401]})
async def disable_operator(request: Request, name: Name, op: Admin) -> OperatorOut:
    ctx = context(request)
    if name == op.name:
        raise Problem(409, "an administrator cannot disable their own account")
    try:
        account = await ctx.operator_store().disable(name, now=ctx.now())
    except NoSuchOperator:
        raise Problem(404, "no such operator") from None
    ctx.sessions.close_operator(account.id)
    await ctx.audit(op.actor, "operator.disable", ("operator", account.id), "console",
                    {"operator": name})
    return OperatorOut(name=name, role=account.role, state="disabled",
                       last_login_at=account.last_login_at)


@router.post("/operators/{name}/reset-mfa", response_model=IssuedOut, responses=NOT_FOUND)
async def reset_mfa(request: Request, name: Name, op: Admin) -> IssuedOut:
    ctx = context(request)
    try:
        issued = await ctx.operator_store().reset_mfa(name)
    except NoSuchOperator:
        raise Problem(404, "no such operator") from None
    ctx.sessions.close_operator(issued.id)
    await ctx.audit(op.actor, "operator.reset_mfa", ("operator", issued.id), "console",
                    {"operator": name})
    return IssuedOut(name=issued.name, role=issued.role, one_time_password=issued.password,
                     totp_uri=issued.totp_uri)


@router.get("/trunks", response_model=list[TrunkOut], responses=ERRORS)
async def trunks(request: Request, op: Admin) -> list[TrunkOut]:
    """Each trunk's state (up, down, probing) and registration, from the health registry."""
    ctx = context(request)
    report = {c.name: c for c in ctx.health.report()}
    out = []
    for t in ctx.settings.trunks:
        state = report.get(f"trunk.{t.name}")
        reg = report.get(f"trunk.{t.name}.registration")
        out.append(TrunkOut(name=t.name, host=t.host, state=state.detail if state else "-",
                            registration=(("ok " if reg.ok else "FAILED ") + reg.detail)
                            if reg else "-"))
    return out
