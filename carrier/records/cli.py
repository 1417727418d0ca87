"""Operator commands for the records store: ``db``, ``keys``, ``consent``, ``audit``,
``retention``.

Every command takes ``--database-url`` (env ``CARRIER_DATABASE_URL``; without it an embedded
PostgreSQL runs in ``<data-dir>/postgres``) and ``--data-dir`` (env ``CARRIER_DATA_DIR``,
default ``./var``). The key-encryption key comes from ``CARRIER_KEK`` (base64, 32 bytes) or
the file ``CARRIER_KEK_FILE`` (default ``<data-dir>/keys/kek.bin``, created 0600 on first
use). Operator actions are written to the audit log with ``--actor``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from carrier.errors import OperatorError
from carrier.records import keys as keysmod
from carrier.records.crypto import LocalKek
from carrier.records.embedded import open_database
from carrier.records.migrate import migrate, status
from carrier.records.retention import PurgeTarget, RetentionPolicy, run_retention
from carrier.records.store import Channel, ConsentKind, Records, verify_chain

T = TypeVar("T")


def add_database_args(parser: argparse.ArgumentParser) -> None:
    """Where the database and the data folder are (shared by every database command)."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CARRIER_DATABASE_URL"),
        help="PostgreSQL URL (default: embedded server in the data dir)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("CARRIER_DATA_DIR", "./var")),
        help="data folder (embedded database, keys, spool)",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    add_database_args(parser)
    parser.add_argument(
        "--actor",
        default=f"operator:{getpass.getuser()}",
        help="who is acting (written to the audit log)",
    )


def kek_from_env(data_dir: Path) -> LocalKek:
    text = os.environ.get("CARRIER_KEK")
    if text:
        try:
            return LocalKek.from_base64(text)
        except ValueError as exc:
            raise OperatorError(f"CARRIER_KEK: {exc}") from exc
    path = Path(os.environ.get("CARRIER_KEK_FILE", data_dir / "keys" / "kek.bin"))
    try:
        return LocalKek.load_or_create(path)
    except (OSError, ValueError) as exc:
        raise OperatorError(f"key-encryption key {path}: {exc}") from exc


def _run(coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except (OSError, asyncpg.PostgresConnectionError) as exc:
        raise OperatorError(f"database unreachable ({exc.__class__.__name__})") from exc


async def _with_conn(
    args: argparse.Namespace, fn: Callable[[asyncpg.Connection], Awaitable[T]]
) -> T:
    async with open_database(args.database_url, args.data_dir) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            return await fn(conn)
        finally:
            await conn.close()


async def _with_records(args: argparse.Namespace, fn: Callable[[Records], Awaitable[T]]) -> T:
    kek = kek_from_env(args.data_dir)
    async with open_database(args.database_url, args.data_dir) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        records = await Records.open(dsn, kek, args.data_dir / "spool")
        try:
            return await fn(records)
        finally:
            await records.close()


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise OperatorError(f"{text!r} is not an ISO date or date-time") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# -- db ------------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("db", help="database migrations")
    sub = parser.add_subparsers(dest="db_command", required=True)
    for name, func, text in (
        ("migrate", _db_migrate, "apply pending migrations"),
        ("status", _db_status, "list applied and pending migrations"),
    ):
        p = sub.add_parser(name, help=text)
        _common(p)
        p.set_defaults(func=func)


def _db_migrate(args: argparse.Namespace) -> int:
    applied = _run(_with_conn(args, migrate))
    for mig in applied:
        print(f"applied {mig.version:04d}_{mig.name}")
    if not applied:
        print("database is up to date")
    return 0


def _db_status(args: argparse.Namespace) -> int:
    rows = _run(_with_conn(args, status))
    bad = False
    for row in rows:
        state = "pending" if row.applied_at is None else f"applied {row.applied_at:%Y-%m-%d %H:%M}"
        if not row.checksum_ok:
            state += " CHANGED-OR-UNKNOWN"
            bad = True
        print(f"{row.version:04d}_{row.name}  {state}")
    return 1 if bad else 0


# -- keys ----------------------------------------------------------------------------------


def register_keys(subparsers: Any) -> None:
    parser = subparsers.add_parser("keys", help="data-key rotation")
    sub = parser.add_subparsers(dest="keys_command", required=True)
    p = sub.add_parser("rotate", help="add a data-key version; optionally re-wrap under a new KEK")
    _common(p)
    p.add_argument(
        "--new-kek-file",
        type=Path,
        help="re-wrap every data key under this KEK (32-byte file, created if absent)",
    )
    p.set_defaults(func=_keys_rotate)
    p = sub.add_parser("reencrypt", help="re-encrypt patient rows under the newest data key")
    _common(p)
    p.set_defaults(func=_keys_reencrypt)


def _keys_rotate(args: argparse.Namespace) -> int:
    async def go(records: Records) -> str:
        new = LocalKek.load_or_create(args.new_kek_file) if args.new_kek_file else records.kek
        async with records.pool.acquire() as conn:
            version = await keysmod.rotate(conn, records.kek)
            # Re-wrap every data key (fresh nonces; under the new KEK when one is given).
            count = await keysmod.rewrap(conn, records.kek, new)
        await records.audit(
            args.actor,
            "keys.rotate",
            ("data_keys", version),
            "operator",
            {"rewrapped": count, "new_kek": new.key_id != records.kek.key_id},
        )
        note = (
            f"data key version {version} created; {count} data keys re-wrapped under {new.key_id}"
        )
        if args.new_kek_file:
            note += f"\nnow point CARRIER_KEK_FILE at {args.new_kek_file} (and unset CARRIER_KEK)"
        return note

    print(_run(_with_records(args, go)))
    return 0


def _keys_reencrypt(args: argparse.Namespace) -> int:
    async def go(records: Records) -> tuple[int, int]:
        async with records.pool.acquire() as conn:
            count = await keysmod.reencrypt_patients(conn, records.keys)
            turns = await keysmod.encrypt_legacy_transcripts(conn, records.keys)
        await records.audit(
            args.actor,
            "keys.reencrypt",
            ("patients", "*"),
            "operator",
            {"rows": count, "version": records.keys.active_version, "turns": turns},
        )
        return count, turns

    count, turns = _run(_with_records(args, go))
    print(f"{count} patient rows re-encrypted")
    if turns:
        print(f"{turns} transcript turns stored in clear are now encrypted")
    return 0


# -- consent -------------------------------------------------------------------------------


def register_consent(subparsers: Any) -> None:
    parser = subparsers.add_parser("consent", help="consent ledger")
    sub = parser.add_subparsers(dest="consent_command", required=True)
    p = sub.add_parser("show", help="a patient's consent history and current state")
    _common(p)
    p.add_argument("patient_id", type=UUID)
    p.set_defaults(func=_consent_show)
    for name, func in (("grant", _consent_grant), ("revoke", _consent_revoke)):
        p = sub.add_parser(name, help=f"{name} consent for a patient on a channel")
        _common(p)
        p.add_argument("patient_id", type=UUID)
        p.add_argument("--channel", choices=[c.value for c in Channel], required=True)
        kinds = [k.value for k in ConsentKind if name == "revoke" or k is not ConsentKind.ALL]
        p.add_argument(
            "--kind", choices=kinds, required=name == "grant", default=ConsentKind.ALL.value
        )
        p.add_argument("--source", required=True, help="how it was given (web_form, ivr, ...)")
        p.add_argument("--evidence", required=True, help="reference to the evidence")
        p.set_defaults(func=func)
    p = sub.add_parser("verify", help="check the ledger's hash chain")
    _common(p)
    p.set_defaults(func=_verify_chain, chain="consent")


def _consent_show(args: argparse.Namespace) -> int:
    async def go(records: Records) -> int:
        history = await records.consent_history(args.patient_id)
        for e in history:
            print(
                f"{e.seq:>8} {e.at:%Y-%m-%d %H:%M:%S} {e.event:<6} {e.channel:<5} {e.kind:<22}"
                f" source={e.source} evidence={e.evidence_ref} actor={e.actor}"
            )
        for (channel, kind), granted in sorted(
            (await records.consent_status(args.patient_id)).items()
        ):
            print(f"now: {channel} {kind}: {'granted' if granted else 'not granted'}")
        await records.audit(args.actor, "consent.read", ("patient", args.patient_id), "operator")
        return 0

    return _run(_with_records(args, go))


def _consent_change(args: argparse.Namespace, grant: bool) -> int:
    async def go(records: Records) -> UUID:
        fn = records.consent_grant if grant else records.consent_revoke
        return await fn(
            args.patient_id,
            args.channel,
            args.kind,
            source=args.source,
            evidence_ref=args.evidence,
            actor=args.actor,
        )

    print(f"recorded {_run(_with_records(args, go))}")
    return 0


def _consent_grant(args: argparse.Namespace) -> int:
    return _consent_change(args, grant=True)


def _consent_revoke(args: argparse.Namespace) -> int:
    return _consent_change(args, grant=False)


def _verify_chain(args: argparse.Namespace) -> int:
    async def go(conn: asyncpg.Connection) -> list[Any]:
        return await verify_chain(conn, args.chain)

    # As the database owner: verification must not depend on the app role's view.
    faults = _run(_with_conn(args, go))
    for fault in faults:
        print(f"{args.chain}: {fault}")
    if faults:
        raise OperatorError(f"{args.chain} chain broken in {len(faults)} place(s)")
    print(f"{args.chain} chain intact")
    return 0


# -- audit ---------------------------------------------------------------------------------


def register_audit(subparsers: Any) -> None:
    from carrier.records.cli_audit import register  # noqa: PLC0415 - it imports this module

    register(subparsers)


# -- retention -----------------------------------------------------------------------------


def _target(text: str) -> PurgeTarget:
    try:
        table, column, days = text.split(":")
        return PurgeTarget(table, column, int(days))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected table:column:days ({exc})") from exc


def register_retention(subparsers: Any) -> None:
    parser = subparsers.add_parser("retention", help="retention policy")
    sub = parser.add_subparsers(dest="retention_command", required=True)
    p = sub.add_parser("run", help="purge expired rows (never audit/consent under six years)")
    _common(p)
    p.add_argument("--audit-days", type=int, default=0, help="raised to six years if lower")
    p.add_argument("--consent-days", type=int, default=0, help="raised to six years if lower")
    p.add_argument("--transcript-days", type=int, default=365)
    p.add_argument("--recording-days", type=int, default=30)
    p.add_argument(
        "--target",
        type=_target,
        action="append",
        default=[],
        help="another table:time_column:days to purge (repeatable)",
    )
    p.set_defaults(func=_retention_run)


def _retention_run(args: argparse.Namespace) -> int:
    policy = RetentionPolicy.from_days(
        audit_days=args.audit_days,
        consent_days=args.consent_days,
        transcript_days=args.transcript_days,
        recording_days=args.recording_days,
        extra=tuple(args.target),
    )

    async def go(records: Records) -> Any:
        return await run_retention(records, policy, now=datetime.now(UTC), actor=args.actor)

    for result in _run(_with_records(args, go)):
        state = "no such table (skipped)" if result.skipped else f"{result.rows} rows purged"
        print(f"{result.table}: before {result.cutoff:%Y-%m-%d}: {state}")
    return 0
