"""`carrier campaign`: status with progress bars, one dialer pass, national DNC import.

    carrier campaign status [--width N]
    carrier campaign run [--dry-run] [--limit N] [--worker NAME] [--for SECONDS]
    carrier campaign dnc-import FILE [--copy-date YYYY-MM-DD]   (per area code: merges)

Database: `--database-url` (env CARRIER_DATABASE_URL), else the embedded server in
`--data-dir` (env CARRIER_DATA_DIR, default ./var). `dnc-import` and `run --dry-run` open
the records as every records command does (migrated first, a spool of their own);
`status` only reads: run `carrier db migrate` first.

`run` without `--dry-run` starts the configured stack as `carrier serve` does (records,
the hosted application, STIR/SHAKEN, the SIP gateway; its listeners on ephemeral ports,
so it runs beside `carrier serve`) and runs one dialer pass, or passes for
`--for SECONDS`, placing the calls. SIGINT (Ctrl-C) or SIGTERM stops it as `serve` stops:
nothing more is dialled (the outreach not begun stays due for the next run), the calls
ringing are cancelled, those answered get `sip.drain_timeout_s` and then a BYE, each
recorded; then the exit code is 130 after SIGINT, 0 after SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from carrier.app import Stack, drain, run_services, running_stack
from carrier.cli import default_actor
from carrier.dialer.ftc import ParseStats, iter_numbers, to_e164
from carrier.dialer.gate import Gate
from carrier.dialer.inputs import gate_facts, request_for
from carrier.dialer.ports import ContactInvalid
from carrier.dialer.records_adapter import RecordsDirectory, RecordsFacts
from carrier.dialer.runner import PassReport
from carrier.dialer.store import CampaignStatus, OutreachStore
from carrier.dialer.wiring import gate_from_settings
from carrier.errors import OperatorError
from carrier.records.cli import add_database_args, operator_text
from carrier.records.cli_context import command_spool, disk_failure, leave_spool, run, with_records
from carrier.records.embedded import open_database
from carrier.records.migrate import after_migrations
from carrier.records.store import Records
from carrier.settings import Settings, default_config_dir, load_settings
from carrier.stop_signals import StopSignals

T = TypeVar("T")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("campaign", help="outbound reminder campaigns and DNC imports")
    sub = parser.add_subparsers(dest="campaign_command", metavar="ACTION", required=True)

    p = sub.add_parser("status", help="progress of every campaign, with bars")
    _common(p)
    p.add_argument("--width", type=int, default=30, help="bar width in characters")
    p.add_argument("--json", action="store_true", help="one JSON object per campaign, a list")
    p.set_defaults(func=_status)

    p = sub.add_parser("run", help="one pass: sync from the calendar, gate and dial due outreach")
    _common(p)
    p.add_argument("--limit", type=int, default=50, help="outreach rows to lease in this pass")
    p.add_argument("--worker", default=f"{socket.gethostname()}:{os.getpid()}",
                   help="this pass's name on the rows it leases (default: host:pid)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="gate the due outreach and print the decisions; lease, record and dial nothing",
    )
    p.add_argument("--for", dest="run_for", type=float, default=None,
                   help="keep making passes (every --interval s) for this many seconds")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between passes")
    p.set_defaults(func=_run_pass)

    p = sub.add_parser("dnc-import", help="replace the national registry copy of the file's "
                       "area codes (FTC file format); other area codes stay")
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
        "non-exempt calls to an area code whose copy is more than 31 days old "
        "(or was never imported)",
    )
    p.add_argument("--actor", type=operator_text("--actor"), default=default_actor(),
                   help="who is acting, written to the audit log (default: %(default)s)")
    p.set_defaults(func=_dnc_import)


def _common(p: argparse.ArgumentParser) -> None:
    add_database_args(p)


def _run_async(coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except (ConnectionError, TimeoutError, socket.gaierror,
            asyncpg.PostgresConnectionError) as exc:
        raise OperatorError(f"database unreachable ({exc.__class__.__name__})") from exc
    except OSError as exc:  # the disk or a folder, not the database: named as it is
        raise disk_failure(exc) from exc
    except asyncpg.UndefinedTableError as exc:
        raise OperatorError("dialer tables missing: run `carrier db migrate` first") from exc


async def _with_pool(args: argparse.Namespace, fn: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    async with open_database(args.database_url, args.data_dir) as dsn:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        try:
            async with pool.acquire() as conn:  # another process's migration: waited for
                await after_migrations(conn)
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

    async def copies(pool: asyncpg.Pool) -> dict[str, dt.datetime]:
        rows = await pool.fetch("SELECT area_code, imported_at FROM dnc_national_areas")
        return {r["area_code"]: r["imported_at"] for r in rows}

    statuses = _run_async(_with_pool(args, go))
    if args.json:
        print(json.dumps([dataclasses.asdict(s) for s in statuses], sort_keys=True))
    else:
        print(render_status(statuses, args.width))
        print(render_dnc_copies(_run_async(_with_pool(args, copies)),
                                dt.datetime.now(dt.UTC).date()))
    return 0


def render_dnc_copies(copies: Mapping[str, dt.datetime], today: dt.date,
                      max_age_days: int = 31) -> str:
    """One line on the national registry copies: how many area codes, which are stale
    (non-exempt calls to them are refused until they are imported again)."""
    if not copies:
        return "national DNC copy: none imported (non-exempt calls are refused)"
    ages = {a: (today - at.astimezone(dt.UTC).date()).days for a, at in copies.items()}
    stale = sorted(a for a, age in ages.items() if age > max_age_days)
    line = f"national DNC copy: {len(copies)} area code(s), oldest {max(ages.values())} days"
    if stale:
        shown = ", ".join(f"{a} ({ages[a]} days)" for a in stale[:10])
        more = f" and {len(stale) - 10} more" if len(stale) > 10 else ""
        line += f"; STALE, non-exempt calls refused: {shown}{more}"
    return line


# -- run -------------------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> Settings:
    """The configured settings, with this command's database and data folder."""
    s = load_settings(getattr(args, "config_dir", None))
    return dataclasses.replace(
        s, data_dir=str(args.data_dir),
        database=dataclasses.replace(s.database, url=args.database_url or s.database.url))


def _run_pass(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.dry_run:
        print(run(_dry_run_db(args, settings)))
        return 0
    text, code = _run_async(_dial_passes(settings, args))
    print(text)
    return code


def outbound_only(settings: Settings) -> Settings:
    """The stack for `campaign run`: it places calls but answers none, so its SIP and
    console listeners take ephemeral ports and it runs beside `carrier serve`."""
    sip = dataclasses.replace(settings.sip, udp_port=0, tcp_port=0, tls_port=0)
    return dataclasses.replace(settings, sip=sip,
                               console=dataclasses.replace(settings.console, port=0))


async def _dial_passes(settings: Settings, args: argparse.Namespace) -> tuple[str, int]:
    """The passes' summary and the exit code: SIGINT/SIGTERM stop the pass under way (its
    calls drained and recorded), then 130 after SIGINT, else 0. Writes go through a spool
    of this command's own, never the one `serve` owns."""
    spool = command_spool(Path(settings.data_dir))  # never the spool `serve` owns
    try:
        return await _passes_on(settings, args, spool)
    finally:
        leave_spool(spool)


async def _passes_on(settings: Settings, args: argparse.Namespace, spool: Path
                     ) -> tuple[str, int]:
    stop = asyncio.Event()
    async with running_stack(outbound_only(settings), spool=spool) as stack:
        signals = StopSignals(stop)
        stack.dialer.runner.worker = args.worker
        if args.run_for is None:
            async with asyncio.TaskGroup() as tasks:
                draining = tasks.create_task(_drain_on(stop, stack))
                synced, r = await stack.dialer.run_pass(limit=args.limit, stop=stop)
                draining.cancel()
            return _pass_text(synced.added, synced.stopped, r), signals.exit_code
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(run_services(stack, stop, dialer=False))
            tasks.create_task(stack.dialer.run(stop, interval=args.interval, limit=args.limit))
            with contextlib.suppress(TimeoutError):  # the operator's --for, or a signal
                await asyncio.wait_for(stop.wait(), timeout=args.run_for)
            stop.set()
            await drain(stack, stop)
        live = stack.dialer.liveness.health()
        stopped = " (stopped by a signal)" if signals.received is not None else ""
        return (f"dialer passes for {args.run_for:.0f} s{stopped}: {live.detail}",
                signals.exit_code)


async def _drain_on(stop: asyncio.Event, stack: Stack) -> None:
    """On a signal, the pass under way stops dialling and its calls end as in `serve`'s
    drain (`sip.drain_timeout_s`, then a BYE), so the pass can record them and return."""
    await stop.wait()
    await drain(stack, stop)


def _pass_text(added: int, stopped: int, r: PassReport) -> str:
    refused = ", ".join(f"{k} {v}" for k, v in sorted(r.refused.items())) or "none"
    return (
        f"synced: {added} added, {stopped} stopped\n"
        f"leased {r.leased}, dialled {r.dialled}, outcomes {dict(r.outcomes)}\n"
        f"refused: {refused}\n"
        f"reclaimed leases: {r.requeued} requeued, {r.interrupted} interrupted"
        + (f"\nstopped early: {r.released} due outreach left for the next run"
           if r.released else "")
    )


async def _dry_run_db(args: argparse.Namespace, settings: Settings) -> str:
    gate = gate_from_settings(settings, _rules_dir(args))
    return await with_records(args, lambda records: _dry_run(
        OutreachStore(records.pool), gate, records, dt.datetime.now(dt.UTC), args.limit))


def _rules_dir(args: argparse.Namespace) -> Path:
    base = getattr(args, "config_dir", None)
    return Path(base) / "calling_rules" if base else default_config_dir() / "calling_rules"


async def _dry_run(
    store: OutreachStore, gate: Gate, records: Records, now: dt.datetime, limit: int
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
        try:
            contact = await directory.contact(r["patient_id"])
            if contact is None:
                rules["contact.unknown"] += 1
                continue
            req = request_for(r["patient_id"], r["purpose"], contact)
        except (ContactInvalid, ValueError):  # that patient's record; the others go on
            rules["contact.invalid"] += 1
            continue
        facts = await gate_facts(req, facts_src, store, now)
        rules[gate.decide(req, facts, now).rule] += 1
    body = "\n".join(f"  {rule:<28} {n}" for rule, n in sorted(rules.items()))
    return f"dry run at {now:%Y-%m-%d %H:%M} UTC: {len(rows)} due outreach\n{body}"


# -- national DNC import ---------------------------------------------------------------


def _areas(numbers: list[str]) -> str:
    """The area codes a file held ("+1AAA..." numbers), for the operator's line."""
    areas = sorted({n[2:5] for n in numbers})
    if len(areas) == 1:
        return f"area code {areas[0]}"
    if len(areas) <= 10:
        return "area codes " + ", ".join(areas)
    return f"{len(areas)} area codes ({areas[0]} to {areas[-1]})"


def _dnc_import(args: argparse.Namespace) -> int:
    stats = ParseStats()
    try:
        with args.file.open(encoding="ascii", errors="replace") as fh:
            numbers = [to_e164(n) for n in iter_numbers(fh, stats)]
    except OSError as exc:
        raise OperatorError(f"{args.file}: cannot read ({exc.__class__.__name__})") from exc
    if not numbers:
        raise OperatorError(f"{args.file}: no numbers in the FTC format found")
    today = dt.datetime.now(dt.UTC).date()
    copy_date = args.copy_date or today
    if copy_date > today + dt.timedelta(days=1):  # it would read as fresh until then
        raise OperatorError(f"--copy-date {copy_date} is in the future: give the date of the "
                            "registry download")
    at = dt.datetime.combine(copy_date, dt.time(0), tzinfo=dt.UTC)

    async def go(records: Records) -> int:
        # The copy's date is recorded as the import time: the gate ages the copy by it.
        return await records.import_national_dnc(
            numbers, source="ftc-registry", actor=args.actor, at=at)

    # As every records command: migrated first, a spool of its own finished and tidied,
    # a disk that refuses it named (exit 74), database failures as one line.
    rows = run(with_records(args, go))
    bad = ""
    if stats.bad_count:
        bad = f"; {stats.bad_count} unreadable line(s), first at line(s) {stats.bad_lines[:5]}"
    print(f"national registry copy of {copy_date} for {_areas(numbers)}: "
          f"{rows} numbers imported{bad}")
    return 0
