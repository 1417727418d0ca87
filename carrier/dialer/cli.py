"""`carrier campaign`: status with progress bars, one dialer pass, national DNC import.

    carrier campaign status [--width N]
    carrier campaign run [--dry-run] [--limit N] [--worker NAME]
    carrier campaign dnc-import FILE [--copy-date YYYY-MM-DD]

Database: `--database-url` (env CARRIER_DATABASE_URL), else the embedded server in
`--data-dir` (env CARRIER_DATA_DIR, default ./var). Run `carrier db migrate` first.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import importlib
import os
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from carrier.dialer.calendar_sql import SqlCalendar, sync_campaigns
from carrier.dialer.ftc import ParseStats, iter_numbers, to_e164
from carrier.dialer.gate import DialRequest, Gate, GateFacts
from carrier.dialer.holiday_calendar import PackageHolidays
from carrier.dialer.records_adapter import RecordsDecisionRecorder, RecordsDirectory, RecordsFacts
from carrier.dialer.rules import load_rules
from carrier.dialer.runner import DialerRunner
from carrier.dialer.store import CampaignStatus, OutreachStore
from carrier.dialer.wiring import policy_from_settings, trunk_pool_from_settings
from carrier.errors import OperatorError
from carrier.records.cli import add_database_args, kek_from_env
from carrier.records.embedded import open_database
from carrier.records.store import Records
from carrier.settings import default_config_dir, load_settings

T = TypeVar("T")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("campaign", help="outbound reminder campaigns and DNC imports")
    sub = parser.add_subparsers(dest="campaign_command", metavar="ACTION", required=True)

    p = sub.add_parser("status", help="progress of every campaign, with bars")
    _common(p)
    p.add_argument("--width", type=int, default=30, help="bar width in characters")
    p.set_defaults(func=_status)

    p = sub.add_parser("run", help="one pass: sync from the calendar, gate and dial due outreach")
    _common(p)
    p.add_argument("--limit", type=int, default=50, help="outreach rows to lease in this pass")
    p.add_argument("--worker", default=f"{socket.gethostname()}:{os.getpid()}")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="gate the due outreach and print the decisions; lease, record and dial nothing",
    )
    p.set_defaults(func=_run_pass)

    p = sub.add_parser("dnc-import", help="replace the national registry copy (FTC file format)")
    _common(p)
    p.add_argument(
        "file",
        type=Path,
        help="FTC download: one number a line (AAANNNNNNN, AAA,NNNNNNN or AAA-NNN-NNNN)",
    )
    p.add_argument(
        "--copy-date",
        type=dt.date.fromisoformat,
        default=None,
        help="date of the registry download (default: today); the gate refuses "
        "non-exempt calls once the copy is more than 31 days old",
    )
    p.add_argument("--actor", default=f"operator:{getpass.getuser()}")
    p.set_defaults(func=_dnc_import)


def _common(p: argparse.ArgumentParser) -> None:
    add_database_args(p)


def _run_async(coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except (OSError, asyncpg.PostgresConnectionError) as exc:
        raise OperatorError(f"database unreachable ({exc.__class__.__name__})") from exc
    except asyncpg.UndefinedTableError as exc:
        raise OperatorError("dialer tables missing: run `carrier db migrate` first") from exc


async def _with_pool(args: argparse.Namespace, fn: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    async with open_database(args.database_url, args.data_dir) as dsn:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        try:
            return await fn(pool)
        finally:
            await pool.close()


# -- status ----------------------------------------------------------------------------


def bar(value: int, total: int, width: int) -> str:
    filled = 0 if total <= 0 else round(width * min(value, total) / total)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def render_status(statuses: Sequence[CampaignStatus], width: int = 30) -> str:
    if not statuses:
        return "no campaigns yet"
    lines: list[str] = []
    for s in statuses:
        lines.append(f"campaign {s.campaign}: {s.total} outreach")
        finished = s.done + s.cancelled + s.expired
        rows: list[tuple[str, int]] = [
            ("finished", finished),
            ("due now", s.due),
            ("scheduled", s.scheduled),
            ("leased", s.leased),
            ("dialled", s.dialled),
            ("answered", s.answered),
            ("confirmed", s.confirmed),
            ("cancelled", s.cancelled),
            ("expired", s.expired),
        ]
        rows += [(f"refused {rule}", n) for rule, n in sorted(s.refused.items())]
        label_w = max(len(label) for label, _ in rows)
        for label, n in rows:
            lines.append(f"  {label:<{label_w}} {bar(n, s.total, width)} {n:>7} / {s.total}")
    return "\n".join(lines)


def _status(args: argparse.Namespace) -> int:
    async def go(pool: asyncpg.Pool) -> list[CampaignStatus]:
        return await OutreachStore(pool).status(dt.datetime.now(dt.UTC))

    print(render_status(_run_async(_with_pool(args, go)), args.width))
    return 0


# -- run -------------------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> Any:
    return load_settings(getattr(args, "config_dir", None))


def _rules_dir(args: argparse.Namespace) -> Path:
    base = getattr(args, "config_dir", None)
    return Path(base) / "calling_rules" if base else default_config_dir() / "calling_rules"


def _gateway_dialer(settings: Any) -> Any:
    """The composition root's outbound dialer (`carrier.app.open_dialer(settings)`)."""
    try:
        factory = importlib.import_module("carrier.app").open_dialer
    except (ImportError, AttributeError):
        raise OperatorError(
            "no outbound gateway in this build; use --dry-run, or `carrier serve` runs the dialer"
        ) from None
    return factory(settings)


def _run_pass(args: argparse.Namespace) -> int:
    settings = _settings(args)
    rules = load_rules(_rules_dir(args))
    gate = Gate(rules, PackageHolidays(rules))
    policy = policy_from_settings(settings.dialer)
    dialer = None if args.dry_run else _gateway_dialer(settings)

    async def go() -> str:
        async with open_database(args.database_url, args.data_dir) as dsn:
            records = await Records.open(dsn, kek_from_env(args.data_dir), args.data_dir / "spool")
            try:
                store, cal = OutreachStore(records.pool), SqlCalendar(records.pool)
                now = dt.datetime.now(dt.UTC)
                if dialer is None:
                    return await _dry_run(store, gate, records, now, args.limit)
                synced = await sync_campaigns(store, cal, policy, now)
                runner = DialerRunner(
                    store=store,
                    gate=gate,
                    facts=RecordsFacts(records),
                    directory=RecordsDirectory(records),
                    recorder=RecordsDecisionRecorder(records),
                    dialer=dialer,
                    trunks=trunk_pool_from_settings(settings),
                    policy=policy,
                    worker=args.worker,
                    clock=lambda: dt.datetime.now(dt.UTC),
                    monotonic=asyncio.get_running_loop().time,
                    appointments=cal,
                )
                r = await runner.run_once(limit=args.limit)
                refused = ", ".join(f"{k} {v}" for k, v in sorted(r.refused.items())) or "none"
                return (
                    f"synced: {synced.added} added, {synced.stopped} stopped\n"
                    f"leased {r.leased}, dialled {r.dialled}, outcomes {dict(r.outcomes)}\n"
                    f"refused: {refused}\n"
                    f"reclaimed leases: {r.requeued} requeued, {r.interrupted} interrupted"
                )
            finally:
                await records.close()

    print(_run_async(go()))
    return 0


async def _dry_run(
    store: OutreachStore, gate: Gate, records: Any, now: dt.datetime, limit: int
) -> str:
    """What the gate would decide now for due outreach: read-only, nothing recorded."""
    rows = await store.pool.fetch(
        "SELECT id, patient_id, purpose FROM dialer_outreach WHERE state = 'pending'"
        " AND due_at <= $1 ORDER BY due_at LIMIT $2",
        now,
        limit,
    )
    facts_src, directory = RecordsFacts(records), RecordsDirectory(records)
    rules: Counter[str] = Counter()
    for r in rows:
        contact = await directory.contact(r["patient_id"])
        if contact is None:
            rules["contact.unknown"] += 1
            continue
        req = DialRequest(
            r["patient_id"],
            contact.number,
            r["purpose"],
            contact.number_given_by_patient,
            contact.free_to_patient,
            contact.address,
        )
        national, copy = await facts_src.national_dnc(contact.number)
        facts = GateFacts(
            await facts_src.consent(r["patient_id"]),
            await facts_src.org_dnc(contact.number),
            national,
            copy,
            tuple(await store.prior_calls(r["patient_id"], now - dt.timedelta(days=7))),
        )
        rules[gate.decide(req, facts, now).rule] += 1
    body = "\n".join(f"  {rule:<28} {n}" for rule, n in sorted(rules.items()))
    return f"dry run at {now:%Y-%m-%d %H:%M} UTC: {len(rows)} due outreach\n{body}"


# -- national DNC import ---------------------------------------------------------------


def _dnc_import(args: argparse.Namespace) -> int:
    stats = ParseStats()
    try:
        with args.file.open(encoding="ascii", errors="replace") as fh:
            numbers = [to_e164(n) for n in iter_numbers(fh, stats)]
    except OSError as exc:
        raise OperatorError(f"{args.file}: cannot read ({exc.__class__.__name__})") from exc
    if not numbers:
        raise OperatorError(f"{args.file}: no numbers in the FTC format found")
    copy_date = args.copy_date or dt.datetime.now(dt.UTC).date()
    at = dt.datetime.combine(copy_date, dt.time(0), tzinfo=dt.UTC)

    async def go() -> int:
        async with open_database(args.database_url, args.data_dir) as dsn:
            records = await Records.open(dsn, kek_from_env(args.data_dir), args.data_dir / "spool")
            try:
                # The copy's date is recorded as the import time: the gate ages the copy by it.
                return await records.import_national_dnc(
                    numbers, source="ftc-registry", actor=args.actor, at=at
                )
            finally:
                await records.close()

    rows = _run_async(go())
    bad = ""
    if stats.bad_count:
        bad = f"; {stats.bad_count} unreadable line(s), first at line(s) {stats.bad_lines[:5]}"
    print(f"national registry copy of {copy_date}: {rows} numbers imported{bad}")
    return 0
