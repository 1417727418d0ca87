"""``carrier tasks``: the staff task queue the agent's promises land in.

    carrier tasks list [--status open|done|all] [--kind K] [--json]
    carrier tasks show ID [--json]
    carrier tasks done ID [--note TEXT]

``list`` prints one line per task, oldest first (id, created in UTC, kind, status, queue,
call id, patient id): ids only, never the encrypted details. ``show`` decrypts the task's
details (the number to call, the prescription of a refill, the closing note): a PHI read,
written to the audit log (``--actor``) before anything is printed. ``done`` closes an open
task (who, when, the note encrypted), audited; a task already done or an unknown id is one
line on stderr and exit 1. Reads the settings ``carrier serve`` reads
(:mod:`carrier.records.cli_context`).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from agent.staff_tasks import STATUSES, TaskDetails, TaskRow, close_task, list_tasks, read_task
from carrier.cli import default_actor
from carrier.records.cli import operator_text
from carrier.records.cli_context import add_database_args, add_json, emit, run, with_records
from carrier.records.store import Records


def _task_id(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise argparse.ArgumentTypeError(f"{text!r} is not a task id (a number from `tasks list`)")
    return int(text)


def _common(parser: argparse.ArgumentParser) -> None:
    add_database_args(parser)
    parser.add_argument("--actor", type=operator_text("--actor"), default=default_actor(),
                        help="who is acting, written to the audit log (default: %(default)s)")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("tasks", help="staff tasks the agent created (call-backs,"
                                                 " refills, opt-out requests)")
    sub = parser.add_subparsers(dest="tasks_command", required=True)
    p = sub.add_parser("list", help="tasks oldest first, ids only (no PHI)")
    _common(p)
    p.add_argument("--status", choices=(*STATUSES, "all"), default="open",
                   help="tasks in this state (default: open)")
    p.add_argument("--kind", type=operator_text("--kind"),
                   help="callback, refill_request, refill_not_needed, opt_out_request, ...")
    add_json(p)
    p.set_defaults(func=_list)
    p = sub.add_parser("show", help="one task with its details decrypted (audited)")
    _common(p)
    p.add_argument("task_id", metavar="ID", type=_task_id, help="the task's id (from `tasks list`)")
    add_json(p)
    p.set_defaults(func=_show)
    p = sub.add_parser("done", help="mark an open task done (audited)")
    _common(p)
    p.add_argument("task_id", metavar="ID", type=_task_id, help="the task's id (from `tasks list`)")
    p.add_argument("--note", type=operator_text("--note"), help="what was done (stored encrypted)")
    p.set_defaults(func=_done)


def _line(t: TaskRow) -> str:
    doc = t.as_doc()
    return (f"{t.id:>6} {doc['created_at']} {t.kind:<18} {t.status:<4} {t.queue:<12}"
            f" call={t.call_id or '-'} patient={t.patient_id or '-'}")


def _list(args: argparse.Namespace) -> int:
    status = None if args.status == "all" else args.status

    async def go(records: Records) -> list[TaskRow]:
        return await list_tasks(records, status=status, kind=args.kind)

    rows = run(with_records(args, go))
    emit(args, {"tasks": [t.as_doc() for t in rows]},
         [_line(t) for t in rows] or ["no staff tasks match"])
    return 0


def _show(args: argparse.Namespace) -> int:
    async def go(records: Records) -> TaskDetails:
        return await read_task(records, args.task_id, actor=args.actor)

    found = run(with_records(args, go))
    doc = found.row.as_doc() | {"details": found.details, "note": found.note,
                                "medication": found.medication, "pharmacy": found.pharmacy}
    lines = [f"{key}: {'-' if value is None else value}" for key, value in doc.items()]
    emit(args, doc, lines)
    return 0


def _done(args: argparse.Namespace) -> int:
    async def go(records: Records) -> TaskRow:
        return await close_task(records, args.task_id, actor=args.actor, note=args.note,
                                now=datetime.now(UTC))

    row = run(with_records(args, go))
    print(f"staff task {row.id} ({row.kind}) done by {row.done_by}"
          f" at {row.as_doc()['done_at']}")
    return 0
