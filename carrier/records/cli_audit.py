"""``carrier audit``: check the chain, export signed bundles, anchor and verify the chain.

* ``audit verify-chain``: the audit chain in the database, against itself.
* ``audit export --from --to FILE``: a signed bundle; its head is also signed into the
  checkpoints file.
* ``audit checkpoint``: sign the current heads of both chains into the checkpoints file now
  (``carrier serve`` does it every ``keys.checkpoint_interval_s``).
* ``audit verify``: both live chains, against themselves and against every signed
  checkpoint; with ``--against BUNDLE`` (repeatable) also against earlier signed exports:
  every entry of the bundle must still be there unchanged and the chain must extend it.
* ``audit verify FILE``: check one exported bundle offline (no database).

The trusted key is ``--public-key`` (PEM) or the public half of ``keys.audit_signing_key``;
checkpoints are ``keys.checkpoints_file`` (both from the settings ``serve`` reads).
``verify-chain`` and ``verify`` take ``--json``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from carrier.errors import OperatorError
from carrier.records.anchor import (
    Anchor,
    AnchorInvalid,
    check_bundle,
    check_checkpoints,
    load_public_key,
    read_checkpoints,
)
from carrier.records.cli import _common, _run, _verify_chain, _when
from carrier.records.cli_context import add_json, anchor_for, emit, where, with_conn, with_records
from carrier.records.export import BundleInvalid, export_audit, verify_bundle
from carrier.records.store import Records, verify_chain


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audit", help="audit log")
    sub = parser.add_subparsers(dest="audit_command", required=True)
    p = sub.add_parser("verify-chain", help="check the audit log's hash chain in the database")
    _common(p)
    add_json(p)
    p.set_defaults(func=_verify_chain, chain="audit")
    p = sub.add_parser("export", help="write a signed bundle of audit rows")
    _common(p)
    p.add_argument("--from", dest="start", type=_when, required=True,
                   help="first instant exported (ISO date or date-time; UTC if no zone)")
    p.add_argument("--to", dest="end", type=_when, required=True,
                   help="end of the range, not included (ISO date or date-time)")
    p.add_argument("file", type=Path, help="the bundle to write (JSON lines, signed)")
    p.set_defaults(func=_audit_export)
    p = sub.add_parser("checkpoint", help="sign the chain heads into the checkpoints file")
    _common(p)
    p.set_defaults(func=_audit_checkpoint)
    p = sub.add_parser(
        "verify",
        help="check the live chains against signed checkpoints and bundles,"
        " or (with FILE) one exported bundle offline",
    )
    _common(p)
    p.add_argument("file", type=Path, nargs="?", help="an exported bundle to check offline")
    p.add_argument("--public-key", type=Path, help="PEM public key things must be signed by")
    p.add_argument("--against", type=Path, action="append", default=[], metavar="BUNDLE",
                   help="an earlier signed export the live chain must still contain")
    p.add_argument("--checkpoints", type=Path,
                   help="checkpoints file (default: keys.checkpoints_file)")
    add_json(p)
    # A bundle checked offline needs no settings; the live checks load them when run.
    p.set_defaults(func=_audit_verify, uses_settings=False)


def _anchor(args: argparse.Namespace) -> Anchor:
    return anchor_for(where(args).settings)


def _audit_export(args: argparse.Namespace) -> int:
    if args.start >= args.end:
        raise OperatorError("--from must be before --to")
    if not args.file.parent.is_dir():
        raise OperatorError(f"{args.file.parent}: no such folder")
    if args.file.exists():
        raise OperatorError(f"{args.file} exists; choose a new file name")
    anchor = _anchor(args)

    async def go(records: Records) -> Any:
        now = datetime.now(UTC)
        async with records.pool.acquire() as conn:
            report = await export_audit(conn, args.start, args.end, args.file, anchor.key,
                                        now=now)
        anchor.record("audit", report.head_seq, report.head_hash, source="export", at=now)
        await records.audit(
            args.actor,
            "audit.export",
            ("audit_log", f"{report.first_seq}-{report.last_seq}"),
            "operator",
            {"rows": report.count},
            at=now,
        )
        return report

    report = _run(with_records(args, go))
    print(
        f"exported {report.count} rows (seq {report.first_seq}-{report.last_seq}),"
        f" signed by {report.key_fingerprint}"
    )
    return 0


def _audit_checkpoint(args: argparse.Namespace) -> int:
    anchor = _anchor(args)

    async def go(conn: asyncpg.Connection) -> int:
        return await anchor.checkpoint(conn, source="operator")

    print(f"{_run(with_conn(args, go))} chain head(s) signed into {anchor.path}")
    return 0


def _trusted(args: argparse.Namespace) -> Ed25519PublicKey | None:
    if args.public_key:
        path = args.public_key
    else:
        s = where(args).settings
        path = s.path(s.keys.audit_signing_key, "keys/audit_signing.pem").with_suffix(".pub.pem")
    if not path.exists():
        if args.public_key:
            raise OperatorError(f"{path}: no such file")
        return None
    try:
        return load_public_key(path)
    except OSError as exc:
        raise OperatorError(f"{path}: {exc.strerror}") from None
    except (TypeError, ValueError):
        raise OperatorError(f"{path} is not an Ed25519 public key in PEM (a certificate or"
                            " a private key is not accepted)") from None


def _audit_verify(args: argparse.Namespace) -> int:
    if args.file is not None and not args.against:
        return _verify_bundle_offline(args)
    trusted = _trusted(args)
    settings = where(args).settings
    cp_path = args.checkpoints or settings.path(settings.keys.checkpoints_file,
                                                "audit/checkpoints.jsonl")
    if args.checkpoints and not cp_path.is_file():
        raise OperatorError(f"--checkpoints {cp_path}: no such file")
    for bundle in [*args.against, *([args.file] if args.file else [])]:
        if not bundle.is_file():
            raise OperatorError(f"{bundle}: no such file")
    if trusted is None and (cp_path.exists() or args.against):
        raise OperatorError("no public key to check signatures with (--public-key)")
    try:
        checkpoints = [] if trusted is None else read_checkpoints(cp_path, trusted)
    except AnchorInvalid as exc:
        raise OperatorError(f"checkpoints INVALID: {exc}") from None
    except OSError as exc:
        raise OperatorError(f"{cp_path}: {exc.strerror}") from None

    async def go(conn: asyncpg.Connection) -> tuple[list[str], list[str]]:
        problems = [f"{chain} chain: {fault}" for chain in ("audit", "consent")
                    for fault in await verify_chain(conn, chain)]
        problems += await check_checkpoints(conn, checkpoints)
        notes = []
        for bundle in [*args.against, *([args.file] if args.file else [])]:
            try:
                found, checked = await check_bundle(conn, bundle, trusted)
            except BundleInvalid as exc:
                raise OperatorError(f"{bundle}: INVALID: {exc}") from None
            problems += [f"{bundle.name}: {p}" for p in found]
            notes.append(f"{bundle.name}: {checked} entries present unchanged")
        return problems, notes

    # As the database owner: verification must not depend on the app role's view.
    problems, notes = _run(with_conn(args, go))
    lines = [f"TAMPERED: {problem}" for problem in problems]
    if not problems:
        if not checkpoints:
            lines.append(f"warning: no signed checkpoints in {cp_path}; checked against"
                         " itself only")
        lines.append(f"audit and consent chains intact; consistent with {len(checkpoints)}"
                     " signed checkpoint(s)")
        lines += notes
    emit(args, {"ok": not problems, "problems": problems, "checkpoints": len(checkpoints),
                "checkpoints_file": str(cp_path), "bundles": notes}, lines)
    if problems:
        raise OperatorError(f"the live chains do not match what was signed"
                            f" ({len(problems)} problem(s))")
    return 0


def _verify_bundle_offline(args: argparse.Namespace) -> int:
    trusted = _trusted(args) if args.public_key else None
    try:
        report = verify_bundle(args.file, trusted)
    except BundleInvalid as exc:
        raise OperatorError(f"{args.file}: INVALID: {exc}") from None
    except OSError as exc:
        raise OperatorError(f"{args.file}: {exc.strerror}") from None
    emit(args, {"ok": True, "file": str(args.file), "rows": report.count,
                "first_seq": report.first_seq, "last_seq": report.last_seq,
                "key": report.key_fingerprint},
         [f"{args.file}: valid, {report.count} rows (seq {report.first_seq}-"
          f"{report.last_seq}), signed by {report.key_fingerprint}"])
    return 0
