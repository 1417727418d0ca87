"""Audit export and verification (roles ``compliance`` and ``auditor``): the signed bundle
``carrier audit export`` writes, checked as ``carrier audit verify`` checks it."""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, model_validator

from carrier.console.api.common import ERRORS, context
from carrier.console.auth import Operator, Role, require
from carrier.console.problems import Problem
from carrier.errors import OperatorError
from carrier.records.cli_context import anchor_for
from carrier.records.export import BundleInvalid, export_audit, verify_bundle

router = APIRouter(tags=["audit"])
Reader = Annotated[Operator, Depends(require(Role.COMPLIANCE, Role.AUDITOR))]
BUNDLE_TYPE = "application/x-ndjson"
MAX_BUNDLE_BYTES = 256 * 1024 * 1024


class ExportRange(BaseModel):
    start: dt.datetime
    end: dt.datetime

    @model_validator(mode="after")
    def _order(self) -> ExportRange:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value.tzinfo is None:
                setattr(self, name, value.replace(tzinfo=dt.UTC))
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class BundleCheck(BaseModel):
    ok: bool
    rows: int = 0
    first_seq: int = 0
    last_seq: int = 0
    key: str = ""
    problem: str = ""


class ChainCheck(BaseModel):
    ok: bool
    problems: list[str]


def _anchor(ctx: object):  # type: ignore[no-untyped-def]
    anchor = getattr(ctx.records, "anchor", None)  # type: ignore[attr-defined]
    if anchor is not None:
        return anchor
    try:
        return anchor_for(ctx.settings)  # type: ignore[attr-defined]
    except OperatorError as exc:
        raise Problem(503, str(exc)) from None


@router.post("/audit/export", responses={**ERRORS, 200: {
    "description": "the signed bundle", "content": {BUNDLE_TYPE: {"schema": {
        "type": "string"}}}}}, response_class=Response)
async def export(request: Request, body: ExportRange, op: Reader) -> Response:
    """A signed bundle of the audit rows in ``[start, end)``; its head is also signed into
    the checkpoints file. ``carrier audit verify FILE`` accepts it."""
    ctx = context(request)
    records = ctx.need_records()
    anchor = _anchor(ctx)
    now = ctx.now()
    with tempfile.TemporaryDirectory(prefix="carrier-export-") as tmp:
        path = Path(tmp) / "audit.bundle"
        async with records.pool.acquire() as conn:
            report = await export_audit(conn, body.start, body.end, path, anchor.key, now=now)
        data = await asyncio.to_thread(path.read_bytes)
    anchor.record("audit", report.head_seq, report.head_hash, source="export", at=now)
    await records.audit(op.actor, "audit.export",
                        ("audit_log", f"{report.first_seq}-{report.last_seq}"), "console",
                        {"rows": report.count})
    name = f"audit-{body.start:%Y%m%d}-{body.end:%Y%m%d}.bundle"
    return Response(data, media_type=BUNDLE_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/audit/verify", response_model=BundleCheck, responses=ERRORS,
             max_body_size=MAX_BUNDLE_BYTES,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/octet-stream": {"schema": {"type": "string",
                                                         "format": "binary"}}}}})
async def verify(request: Request, op: Reader) -> BundleCheck:
    """Check an exported bundle (the request body) offline: its signature, hashes and
    order, against the console's own audit signing key."""
    raw = await request.body()
    if len(raw) > MAX_BUNDLE_BYTES:
        raise Problem(413, "bundle too large")
    ctx = context(request)
    trusted = _anchor(ctx).public_key
    with tempfile.TemporaryDirectory(prefix="carrier-verify-") as tmp:
        path = Path(tmp) / "upload.bundle"
        await asyncio.to_thread(path.write_bytes, raw)
        try:
            report = await asyncio.to_thread(verify_bundle, path, trusted)
        except (BundleInvalid, ValueError, KeyError) as exc:
            result = BundleCheck(ok=False, problem=str(exc) or type(exc).__name__)
        else:
            result = BundleCheck(ok=True, rows=report.count, first_seq=report.first_seq,
                                 last_seq=report.last_seq, key=report.key_fingerprint)
    await ctx.audit(op.actor, "audit.verify", ("audit_bundle", "upload"), "console",
                    {"ok": result.ok, "rows": result.rows})
    return result


@router.get("/audit/chain", response_model=ChainCheck, responses=ERRORS)
async def verify_chains(request: Request, op: Reader) -> ChainCheck:
    """The live audit and consent hash chains, each checked against itself."""
    records = context(request).need_records()
    problems = [f"{chain} chain: {fault}" for chain in ("audit", "consent")
                for fault in await records.verify_chain(chain)]
    return ChainCheck(ok=not problems, problems=problems)
