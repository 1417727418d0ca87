"""Audit: one-click signed export of a date range, and verification of an uploaded bundle.

The export is the same signed bundle ``carrier audit export`` writes (Ed25519 over every
line, with the chain's head signed into the checkpoints file), made in a private folder
under ``<data_dir>/console/exports`` and sent as a download; ``carrier audit verify FILE``
accepts it offline. Verification checks an uploaded bundle's signature and hash chain
(against the configured signing key's public half when there is one), and that every one
of its entries is still in the live audit chain unchanged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import shutil
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import Response

from carrier.console.pages.common import (
    DAY_RULE,
    console,
    day_start,
    guard,
    in_range,
    page,
    records_of,
)
from carrier.console.roles import Operator
from carrier.records.anchor import check_bundle, load_public_key
from carrier.records.cli_context import anchor_for
from carrier.records.export import BundleInvalid, export_audit, verify_bundle

router = APIRouter(include_in_schema=False)
PATH = "/audit"
MAX_BUNDLE = 64 * 1024 * 1024


def _workdir(request: Request) -> Path:
    settings = console(request).settings
    folder = Path(settings.data_dir) / "console" / "exports" / secrets.token_hex(8)
    folder.mkdir(parents=True, mode=0o700)
    return folder


@router.get(PATH)
async def audit_page(request: Request, op: Annotated[Operator, Depends(guard(PATH))]
                     ) -> Response:
    today = console(request).now().date()
    return page(request, "audit.html", op, title="Audit", start=today - dt.timedelta(days=30),
                end=today, result=None)


@router.post(PATH + "/export")
async def export(request: Request, start: Annotated[dt.date, Form()],
                 end: Annotated[dt.date, Form()],
                 op: Annotated[Operator, Depends(guard(PATH))]) -> Response:
    ctx = console(request)
    if end < start or not (in_range(start) and in_range(end)):
        error = "The range ends before it starts." if end < start else f"Not exported: {DAY_RULE}."
        return page(request, "audit.html", op, status_code=422, title="Audit", start=start,
                    end=end, result=None, error=error)
    records = records_of(request)
    anchor = anchor_for(ctx.settings)
    folder = _workdir(request)
    path = folder / f"audit-{start.isoformat()}-{end.isoformat()}.jsonl"
    now = ctx.now()
    try:
        async with records.pool.acquire() as conn:
            report = await export_audit(conn, day_start(start),
                                        day_start(end + dt.timedelta(days=1)), path,
                                        anchor.key, now=now)
        anchor.record("audit", report.head_seq, report.head_hash, source="export", at=now)
        await ctx.audit(op.actor, "audit.export",
                        ("audit_log", f"{report.first_seq}-{report.last_seq}"), "console",
                        {"rows": report.count})
        body = path.read_bytes()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return Response(body, media_type="application/x-ndjson", headers={
        "content-disposition": f'attachment; filename="{path.name}"',
        "x-audit-rows": str(report.count), "x-audit-key": report.key_fingerprint})


@router.post(PATH + "/verify", max_body_size=MAX_BUNDLE + 64 * 1024)  # + the form's parts
async def verify(request: Request, bundle: UploadFile,
                 op: Annotated[Operator, Depends(guard(PATH))]) -> Response:
    ctx = console(request)
    settings = ctx.settings
    public = settings.path(settings.keys.audit_signing_key,
                           "keys/audit_signing.pem").with_suffix(".pub.pem")
    trusted = load_public_key(public) if public.exists() else None
    folder = _workdir(request)
    path = folder / "upload.jsonl"
    result: dict[str, object] = {"name": (bundle.filename or "bundle")[:100]}
    try:
        path.write_bytes(await bundle.read(MAX_BUNDLE + 1))
        try:
            report = await asyncio.to_thread(verify_bundle, path, trusted)
            async with records_of(request).pool.acquire() as conn:
                problems, checked = await check_bundle(conn, path, trusted)
        except BundleInvalid as exc:
            result.update(ok=False, reason=str(exc))
        else:
            result.update(ok=not problems, rows=report.count, first=report.first_seq,
                          last=report.last_seq, key=report.key_fingerprint,
                          trusted=trusted is not None, checked=checked,
                          problems=problems[:50])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    await ctx.audit(op.actor, "audit.verify_bundle", ("audit_log", "bundle"), "console",
                    {"ok": bool(result["ok"])})
    today = ctx.now().date()
    return page(request, "audit.html", op, status_code=200 if result["ok"] else 422,
                title="Audit", start=today - dt.timedelta(days=30), end=today, result=result)
