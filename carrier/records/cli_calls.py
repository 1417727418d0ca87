"""``carrier calls list``: the call detail records (``carrier.records.cdr``), newest first.

    carrier calls list [--since DATE] [--until DATE] [--number DIGITS] [--outcome X]
                       [--status CODE] [--cause CAUSE] [--direction inbound|outbound]
                       [--limit N] [--offset N] [--json | --csv]

Numbers are shown masked (as stored: the last four digits). ``--json`` prints one JSON
document (``{"calls": [...]}``), ``--csv`` the console's CSV export. Reads the settings
``carrier serve`` reads (see :mod:`carrier.records.cli_context`).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from carrier.errors import OperatorError
from carrier.records.cdr import CAUSES, CallDetail, CdrQuery, as_row, cdr_csv
from carrier.records.cli_context import add_database_args, add_json, emit, run, with_records
from carrier.records.store import Records


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "not an ISO date or date-time (e.g. 2026-01-31)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError("not a whole number of 0 or more")
    return value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("calls", help="call detail records")
    sub = parser.add_subparsers(dest="calls_command", required=True)
    p = sub.add_parser("list", help="list call records, newest first")
    add_database_args(p)
    p.add_argument("--since", type=_when, help="calls started at or after (ISO date)")
    p.add_argument("--until", type=_when, help="calls started before (ISO date)")
    p.add_argument("--number", help="last digits of the calling or called number")
    p.add_argument("--outcome", help="e.g. confirmed, busy, no_answer, tcpa.consent.revoked")
    p.add_argument("--status", type=int, help="final SIP status of the INVITE (200, 486...)")
    p.add_argument("--cause", choices=sorted(CAUSES), help="hangup cause")
    p.add_argument("--direction", choices=("inbound", "outbound"), help="either only")
    p.add_argument("--limit", type=_count, default=100,
                   help="at most this many records, newest first (default: %(default)s)")
    p.add_argument("--offset", type=_count, default=0,
                   help="skip this many first (the next page: --offset 100)")
    fmt = p.add_mutually_exclusive_group()
    add_json(fmt)
    fmt.add_argument("--csv", action="store_true", help="print CSV (numbers masked)")
    p.set_defaults(func=_list)


def _query(args: argparse.Namespace) -> CdrQuery:
    try:
        return CdrQuery(since=args.since, until=args.until, number_suffix=args.number,
                        outcome=args.outcome, sip_status=args.status,
                        hangup_cause=args.cause, direction=args.direction,
                        limit=args.limit, offset=args.offset)
    except ValueError as exc:
        raise OperatorError(str(exc)) from None


def _line(d: CallDetail) -> str:
    return (f"{d.started_at:%Y-%m-%d %H:%M:%S} {d.direction:<8} {d.from_number or '-':>8} ->"
            f" {d.to_number or '-':>8} {d.sip_status or '-':>3} {d.hangup_cause:<14}"
            f" {d.outcome or '-':<18} {d.duration_s:6.1f}s {d.call_id}")


def _list(args: argparse.Namespace) -> int:
    query = _query(args)

    async def go(records: Records) -> list[CallDetail]:
        return await records.search_calls(query)

    rows = run(with_records(args, go))
    if args.csv:
        print(cdr_csv(rows), end="")
        return 0
    emit(args, {"calls": [as_row(r) for r in rows]},
         [_line(r) for r in rows] or ["no calls match"])
    return 0
