"""``carrier retention run``: the policy ``carrier serve`` applies daily, run now.

The periods are the ``retention`` settings (:func:`carrier.upkeep.policy_of`: the carrier's
tables and the hosted application's), each overridable for one run (``--transcript-days``,
``--dial-evidence-days``, ...). A period below its legal minimum (audit and consent six
years, dial evidence and call records four: :mod:`carrier.settings_retention`), or one that
would outlive what it points at, is refused with one line naming it; nothing is purged.
"""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, datetime
from typing import Any

from carrier.errors import ConfigError, OperatorError
from carrier.records.cli import _common, _run
from carrier.records.cli_context import add_json, emit, where, with_records
from carrier.records.retention import (
    DEFAULT_TARGETS,
    PurgeTarget,
    RetentionPolicy,
    run_retention,
)
from carrier.records.store import Records
from carrier.settings_retention import check_retention, too_short
from carrier.upkeep import TEXT_TABLES, policy_for

HANG_OFF_CALLS = ("call_transcripts", "call_recordings")  # deleted with their call record
PERIODS = (  # option stem, what the help says of its least
    ("audit", "at least six years"),
    ("consent", "at least six years"),
    ("transcript", ""),
    ("recording", ""),
    ("dial-evidence", "at least four years"),
    ("call-record", "at least four years"),
    ("slot", ""),
)

# The carrier's tables the retention policy covers, and their time column (the hosted
# application's follow --transcript-days). Nothing else may be purged from the command
# line by table: patients are not "expired rows"; ledgers and evidence have their periods.
POLICY_TABLES = {t.table: t.time_column for t in DEFAULT_TARGETS} | dict(TEXT_TABLES)


def _target(text: str) -> PurgeTarget:
    table, sep, days = text.rpartition(":")
    table, _, column = table.partition(":")
    if not sep or not table:
        raise argparse.ArgumentTypeError(f"{text!r}: expected TABLE:DAYS or TABLE:COLUMN:DAYS")
    if table not in POLICY_TABLES:
        raise argparse.ArgumentTypeError(
            f"{table!r} is not covered by the retention policy (only"
            f" {', '.join(sorted(POLICY_TABLES))}; audit and consent take --audit-days and"
            " --consent-days, dial evidence and call records --dial-evidence-days and"
            " --call-record-days)")
    if column and column != POLICY_TABLES[table]:
        raise argparse.ArgumentTypeError(
            f"{table} expires by {POLICY_TABLES[table]}, not {column!r}")
    return PurgeTarget(table, POLICY_TABLES[table], _days(f"--target {table}")(days))


def _days(what: str, setting: str = "") -> Any:
    """An argparse type: a whole number of days, at least 1, and at least the legal minimum
    of ``retention.<setting>`` (:mod:`carrier.settings_retention`) when named."""
    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what}: {text!r} is not a whole number"
                                             " of days") from None
        if value < 1:
            raise argparse.ArgumentTypeError(
                f"{what} must be at least 1 day (0 would purge everything at once)")
        why = too_short(setting, value) if setting else None
        if why:
            raise argparse.ArgumentTypeError(why)  # argparse names the option
        return value

    return check


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("retention", help="retention policy")
    sub = parser.add_subparsers(dest="retention_command", required=True)
    p = sub.add_parser("run", help="purge expired rows (never audit/consent under six years,"
                                   " dial evidence/call records under four)")
    _common(p)
    add_json(p)
    for name, text in PERIODS:
        key = f"{name.replace('-', '_')}_days"
        p.add_argument(f"--{name}-days", type=_days(f"--{name}-days", key), default=None,
                       dest=key,
                       help=f"default: retention.{key} from the settings"
                            + (f" ({text}; shorter is refused)" if text else ""))
    p.add_argument(
        "--target",
        type=_target,
        action="append",
        default=[],
        help="TABLE[:COLUMN]:DAYS for a table the policy covers (repeatable; wins over"
        " the settings)",
    )
    p.set_defaults(func=_retention_run)


def _retention_run(args: argparse.Namespace) -> int:
    """The policy ``carrier serve`` applies (:func:`carrier.upkeep.policy_of`: the carrier's
    tables and the hosted application's), with the periods given here instead."""
    settings = where(args).settings
    given = {key: getattr(args, key)
             for key in (f"{name.replace('-', '_')}_days" for name, _ in PERIODS)}
    periods = dataclasses.replace(settings.retention,
                                  **{k: v for k, v in given.items() if v is not None})
    try:  # the periods given here together with the settings' others, as serve checks them
        check_retention(dataclasses.replace(settings, retention=periods), lambda _: "")
    except ConfigError as exc:
        raise OperatorError(f"{exc.key}: {exc.reason}") from None
    from carrier.app import load_application  # noqa: PLC0415 - the application, only here

    try:
        policy = policy_for(dataclasses.replace(settings, retention=periods),
                            load_application(settings))
    except ValueError as exc:  # a period below its least (the settings were checked)
        raise OperatorError(f"retention settings: {exc}") from None
    override = {t.table: t for t in args.target}
    for target in override.values():  # a call's transcript/audio go with its call record
        if target.table in HANG_OFF_CALLS and target.days > periods.call_record_days:
            raise OperatorError(
                f"--target {target.table}: {target.days} days is longer than"
                f" retention.call_record_days ({periods.call_record_days}): it goes with its"
                " call record and cannot be kept longer than it")
    policy = RetentionPolicy(
        policy.audit_days, policy.consent_days,
        tuple(override.pop(t.table, t) for t in policy.targets))

    async def go(records: Records) -> Any:
        return await run_retention(records, policy, now=datetime.now(UTC), actor=args.actor)

    results = _run(with_records(args, go))
    emit(args,
         {"results": [{"table": x.table, "cutoff": x.cutoff.isoformat(), "rows": x.rows,
                       "skipped": x.skipped, "with": x.with_table} for x in results]},
         [f"{x.table}: before {x.cutoff:%Y-%m-%d}: "
          f"{'no such table (skipped)' if x.skipped else f'{x.rows} rows purged'}"
          + (f" with {x.with_table}" if x.with_table else "")
          for x in results])
    return 0
