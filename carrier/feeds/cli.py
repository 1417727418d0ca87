"""Operator commands for the schedule feeds.

    carrier hl7 serve [--host H] [--port P] [--for SECONDS]
    carrier schedule import FILE.csv [--source NAME] [--check]
    carrier feeds outbox [--status pending|sent|failed] [--json]
    carrier feeds send          # deliver due write-backs now
    carrier feeds retry ID      # a failed write-back goes back to pending

Each opens the configured records (``--database-url``/``--data-dir`` override them) and the
hosted application (speech off, SIP off), as ``carrier serve`` would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from carrier import logs
from carrier.app import running_stack
from carrier.cli import default_actor
from carrier.errors import OperatorError
from carrier.feeds.csv_import import (
    DEFAULT_SOURCE,
    MAX_BYTES,
    ScheduleRow,
    decode_schedule_csv,
    file_digest,
    import_schedule,
    validate_schedule_csv,
)
from carrier.feeds.store import FeedRejected
from carrier.records.cli_context import (
    add_database_args,
    command_spool,
    leave_spool,
    where,
    with_records,
)
from carrier.records.cli_context import run as run_command
from carrier.records.store import Records
from carrier.settings import Settings
from carrier.stop_signals import StopSignals


def _settings(args: argparse.Namespace) -> Settings:
    return where(args).settings


def register_hl7(sub: Any) -> None:
    parser = sub.add_parser("hl7", help="HL7 v2 schedule feed over MLLP")
    actions = parser.add_subparsers(dest="hl7_command", metavar="ACTION", required=True)
    p = actions.add_parser("serve", help="listen for SIU/ADT messages and acknowledge each")
    add_database_args(p)
    p.add_argument("--host", default=None, help="address (default feeds.hl7_host)")
    p.add_argument("--port", type=int, default=None, help="port (default feeds.hl7_port)")
    p.add_argument("--for", dest="run_for", type=float, default=None,
                   help="stop after this many seconds (default: until SIGINT/SIGTERM)")
    p.set_defaults(func=_serve)


def register_schedule(sub: Any) -> None:
    parser = sub.add_parser("schedule", help="schedule import (CSV)")
    actions = parser.add_subparsers(dest="schedule_command", metavar="ACTION", required=True)
    p = actions.add_parser("import", help="load a CSV schedule (docs/feeds.md), all or nothing")
    add_database_args(p)
    p.add_argument("file", type=Path, help="the CSV file (UTF-8, header line first)")
    p.add_argument("--source", default=DEFAULT_SOURCE, help="the file's source name (its id scope)")
    p.add_argument("--check", action="store_true", help="validate only; load nothing")
    p.set_defaults(func=_import)


def register_feeds(sub: Any) -> None:
    parser = sub.add_parser("feeds", help="write-back outbox of the schedule feeds")
    actions = parser.add_subparsers(dest="feeds_command", metavar="ACTION", required=True)
    p = actions.add_parser("outbox", help="list write-backs (no PHI: ids, kinds, states)")
    add_database_args(p)
    p.add_argument("--status", choices=("pending", "sent", "failed"), default=None,
                   help="only write-backs in this state (default: all)")
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.set_defaults(func=_outbox)
    p = actions.add_parser("send", help="deliver the due write-backs now")
    add_database_args(p)
    p.set_defaults(func=_send)
    p = actions.add_parser("retry", help="put a failed write-back back in the queue")
    add_database_args(p)
    p.add_argument("id", type=int, help="the write-back's id (as `feeds outbox` lists it)")
    p.set_defaults(func=_retry)


@contextlib.asynccontextmanager
async def _stack(args: argparse.Namespace, **changes: Any) -> AsyncIterator[Any]:
    settings = _settings(args)
    if changes:
        settings = dataclasses.replace(settings,
                                       feeds=dataclasses.replace(settings.feeds, **changes))
    # A spool of its own, never the one `serve` owns (it may run beside it).
    spool = command_spool(Path(settings.data_dir))
    try:
        async with running_stack(settings, speech=False, sip=False, spool=spool) as stack:
            yield stack
    finally:
        leave_spool(spool)


def _serve(args: argparse.Namespace) -> int:
    changes = {k: v for k, v in (("hl7_host", args.host), ("hl7_port", args.port))
               if v is not None}

    async def run() -> int:
        async with _stack(args, **changes) as stack:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            logs.guard_loop(loop)  # as `serve`: no task's or callback's repr in a log line
            signals = StopSignals(stop)  # SIGINT: exit 130, SIGTERM: 0, as `serve`
            if args.run_for is not None:
                loop.call_later(args.run_for, stop.set)

            def started(port: int) -> None:
                print(f"hl7 listening on {stack.settings.feeds.hl7_host}:{port}", flush=True)

            await stack.feeds.run(stop, hl7=True, started=started)
            counts = stack.feeds.listener.counts
            print("acknowledged: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
            return signals.exit_code

    return asyncio.run(run())


def _import(args: argparse.Namespace) -> int:
    try:
        with args.file.open("rb") as f:
            data = f.read(MAX_BYTES + 1)  # a larger file is refused unread
    except OSError as exc:
        raise OperatorError(f"{args.file}: cannot read ({exc.__class__.__name__})") from None
    settings = _settings(args)
    text, errors = decode_schedule_csv(data)
    rows: list[ScheduleRow] = []
    if not errors:
        rows, errors = validate_schedule_csv(text, tz=settings.feeds.timezone,
                                             today=dt.datetime.now(dt.UTC).date())
    if errors:
        for e in errors:
            print(f"{args.file}: {e}", file=sys.stderr)
        print(f"{len(errors)} errors; nothing loaded", file=sys.stderr)
        return 1
    if args.check:
        print(f"{len(rows)} rows valid")
        return 0

    async def load() -> str:
        async with _stack(args) as stack:
            applied = await import_schedule(stack.feeds.store, rows, source=args.source,
                                            digest=file_digest(text),
                                            now=dt.datetime.now(dt.UTC))
        new = sum(a.patient_created for a in applied)
        dup = sum(a.duplicate for a in applied)
        return (f"imported {len(rows) - dup} rows in one transaction ({new} new patients, "
                f"{dup} already imported)")

    try:
        print(asyncio.run(load()))
    except FeedRejected as exc:  # the whole file is refused (rolled back); names a column
        raise OperatorError(f"{args.file}: {exc.field}: {exc.text}; nothing loaded") from None
    return 0


async def _with_stack(args: argparse.Namespace, fn: Any) -> Any:
    async with _stack(args) as stack:
        return await fn(stack)


def _outbox(args: argparse.Namespace) -> int:
    # The records as every records command opens them (migrated, its spool replayed).
    async def rows() -> list[dict[str, Any]]:
        found = await with_records(args, lambda records: records.pool.fetch(
            "SELECT id, destination, kind, status, attempts, next_at, last_error,"
            " created_at, sent_at FROM feed_outbox WHERE ($1::text IS NULL OR status = $1)"
            " ORDER BY id", args.status))
        return [{k: (v.isoformat() if isinstance(v, dt.datetime) else v)
                 for k, v in dict(r).items()} for r in found]

    found = run_command(rows())
    if args.json:
        print(json.dumps(found, indent=1))
        return 0
    print(f"{'id':>6} {'dest':5} {'kind':15} {'status':8} {'tries':>5}  last error")
    for r in found:
        print(f"{r['id']:>6} {r['destination']:5} {r['kind']:15} {r['status']:8} "
              f"{r['attempts']:>5}  {r['last_error'] or ''}")
    return 0


def _send(args: argparse.Namespace) -> int:
    async def send(stack: Any) -> int:
        return int(await stack.feeds.writeback.deliver_due(limit=1000))

    print(f"delivered {asyncio.run(_with_stack(args, send))}")
    return 0


def _retry(args: argparse.Namespace) -> int:
    async def retry(records: Records) -> str:
        status = await records.pool.execute(
            "UPDATE feed_outbox SET status = 'pending', next_at = now(), last_error = NULL"
            " WHERE id = $1 AND status = 'failed'", args.id)
        if status.endswith(" 1"):
            await records.audit(default_actor(), "feed.writeback.retry",
                                ("feed_outbox", args.id), "operator retry")
        return str(status)

    if not run_command(with_records(args, retry)).endswith(" 1"):
        raise OperatorError(f"no failed write-back {args.id}")
    print(f"write-back {args.id} queued again")
    return 0
