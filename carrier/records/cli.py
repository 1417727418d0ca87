"""Operator commands for the records store: ``db``, ``keys``, ``consent``, ``retention``
(``audit`` is in :mod:`carrier.records.cli_audit`).

Every command reads the settings ``carrier serve`` reads (``--config-dir``; see
:mod:`carrier.records.cli_context`): ``database.url`` (none: the embedded cluster in
``<data_dir>/pg``, attached to and left running when ``serve`` uses it), ``data_dir``,
``keys.*`` and ``retention.*``. ``--database-url``/``--data-dir`` override them for one run.
Operator actions are written to the audit log with ``--actor``. Read commands an operator
would script take ``--json``. Operator input that cannot be acted on (an unknown patient,
control characters, a date that is not one) is refused with one line and a non-zero exit.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from carrier.cli import default_actor
from carrier.errors import OperatorError
from carrier.records.cli_context import (
    add_database_args,
    add_json,
    emit,
    kek_for,
    migrations_for,
    where,
    with_conn,
    with_records,
)
from carrier.records.cli_context import run as _run_coro
from carrier.records.crypto import LocalKek
from carrier.records.migrate import migrate, status
from carrier.records.phi_text import phi_in, refusal
from carrier.records.store import Channel, ConsentKind, Records, verify_chain

T = TypeVar("T")
TEXT_LIMIT = 200  # operator-typed references (source, evidence, actor)

__all__ = ["add_database_args", "kek_from_env"]


def _common(parser: argparse.ArgumentParser) -> None:
    add_database_args(parser)
    parser.add_argument(
        "--actor",
        type=operator_text("--actor"),
        default=default_actor(),
        help="who is acting, written to the audit log (default: %(default)s)",
    )


def operator_text(what: str, *, ledger: bool = False) -> Any:
    """An argparse type: printable text of at most TEXT_LIMIT characters (no control,
    format or bidi characters, which would make the audit trail read other than it is).
    ``ledger``: kept in clear in an append-only ledger, so text that looks like PHI (a
    phone or member number, a date, an e-mail address) is refused, never echoed."""

    def check(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{what} must not be empty")
        if not text.isprintable():
            raise argparse.ArgumentTypeError(
                f"{what} holds control or invisible characters; type it as plain text")
        if len(text) > TEXT_LIMIT:
            raise argparse.ArgumentTypeError(f"{what} is longer than {TEXT_LIMIT} characters")
        found = phi_in(text) if ledger else None
        if found is not None:
            raise argparse.ArgumentTypeError(refusal(what, found))
        return text

    return check


def kek_from_env(data_dir: Path) -> LocalKek:
    """Deprecated: the KEK from ``$CARRIER_KEK`` or ``$CARRIER_KEK_FILE`` or
    ``<data_dir>/keys/kek.bin``, ignoring ``keys.*``; use ``cli_context.kek_for(settings)``."""
    from carrier.settings import Settings  # noqa: PLC0415 - only for this shim

    return kek_for(Settings(data_dir=str(data_dir)))


def _run(coro: Awaitable[T]) -> T:
    return _run_coro(coro)  # type: ignore[arg-type]


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "not an ISO date or date-time (e.g. 2026-01-31 or"
            " 2026-01-31T08:00:00+00:00)") from None
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
        if name == "status":
            add_json(p)


def _db_migrate(args: argparse.Namespace) -> int:
    migrations = migrations_for(where(args).settings)
    applied = _run(with_conn(args, lambda conn: migrate(conn, migrations)))
    for mig in applied:
        print(f"applied {mig.label}")
    if not applied:
        print("database is up to date")
    return 0


def _db_status(args: argparse.Namespace) -> int:
    w = where(args)
    migrations = migrations_for(w.settings)
    rows = _run(with_conn(args, lambda conn: status(conn, migrations)))
    bad = [row for row in rows if not row.checksum_ok]
    lines = []
    for row in rows:
        state = "pending" if row.applied_at is None else f"applied {row.applied_at:%Y-%m-%d %H:%M}"
        if not row.checksum_ok:
            state += " CHANGED-OR-UNKNOWN"
        lines.append(f"{row.label}  {state}")
    doc = {
        "database": "external" if w.database_url else "embedded",
        "data_dir": str(w.data_dir),
        "ok": not bad,
        "migrations": [
            {"source": r.source, "version": r.version, "name": r.name,
             "applied_at": r.applied_at,
             "pending": r.applied_at is None, "checksum_ok": r.checksum_ok}
            for r in rows
        ],
    }
    emit(args, doc, lines)
    return 1 if bad else 0


# -- keys ----------------------------------------------------------------------------------


def register_keys(subparsers: Any) -> None:
    from carrier.records.cli_keys import register as keys  # noqa: PLC0415 - it imports this

    keys(subparsers, _common)


# -- consent -------------------------------------------------------------------------------


def _patient_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a patient id (a UUID)") from None


def register_consent(subparsers: Any) -> None:
    parser = subparsers.add_parser("consent", help="consent ledger")
    sub = parser.add_subparsers(dest="consent_command", required=True)
    p = sub.add_parser("show", help="a patient's consent history and current state")
    _common(p)
    add_json(p)
    p.add_argument("patient_id", type=_patient_id, help="the patient's id (a UUID)")
    p.set_defaults(func=_consent_show)
    for name, func in (("grant", _consent_grant), ("revoke", _consent_revoke)):
        p = sub.add_parser(name, help=f"{name} consent for a patient on a channel")
        _common(p)
        p.add_argument("patient_id", type=_patient_id, help="the patient's id (a UUID)")
        p.add_argument("--channel", choices=[c.value for c in Channel], required=True,
                       help="the channel the consent is for")
        kinds = [k.value for k in ConsentKind if name == "revoke" or k is not ConsentKind.ALL]
        p.add_argument(
            "--kind", choices=kinds, required=name == "grant", default=ConsentKind.ALL.value,
            help="the kind of consent" + ("" if name == "grant" else " (default: every kind)"),
        )
        p.add_argument("--source", required=True, type=operator_text("--source", ledger=True),
                       help="how it was given (web_form, ivr, ...)")
        p.add_argument("--evidence", required=True, type=operator_text("--evidence", ledger=True),
                       help="reference to the evidence")
        p.set_defaults(func=func)
    p = sub.add_parser("verify", help="check the ledger's hash chain")
    _common(p)
    add_json(p)
    p.set_defaults(func=_verify_chain, chain="consent")


async def _known_patient(records: Records, patient_id: UUID) -> None:
    if not await records.patient_exists(patient_id):
        # The id is not repeated: what was typed in its place may be a number or a name.
        raise OperatorError("patient_id: no patient with the id given in the records")


def _consent_show(args: argparse.Namespace) -> int:
    async def go(records: Records) -> tuple[list[Any], dict[tuple[str, str], bool]]:
        await _known_patient(records, args.patient_id)
        history = await records.consent_history(args.patient_id)
        now = await records.consent_status(args.patient_id)
        await records.audit(args.actor, "consent.read", ("patient", args.patient_id), "operator")
        return history, now

    history, now = _run(with_records(args, go))
    lines = [
        f"{e.seq:>8} {e.at:%Y-%m-%d %H:%M:%S} {e.event:<6} {e.channel:<5} {e.kind:<22}"
        f" source={e.source} evidence={e.evidence_ref} actor={e.actor}"
        for e in history
    ]
    lines += [f"now: {channel} {kind}: {'granted' if granted else 'not granted'}"
              for (channel, kind), granted in sorted(now.items())]
    doc = {
        "patient_id": str(args.patient_id),
        "history": [
            {"seq": e.seq, "entry_id": str(e.entry_id), "at": e.at.isoformat(),
             "event": e.event, "channel": e.channel, "kind": e.kind, "source": e.source,
             "evidence": e.evidence_ref, "actor": e.actor}
            for e in history
        ],
        "now": [{"channel": c, "kind": k, "granted": g} for (c, k), g in sorted(now.items())],
    }
    emit(args, doc, lines)
    return 0


def _consent_change(args: argparse.Namespace, grant: bool) -> int:
    async def go(records: Records) -> UUID:
        await _known_patient(records, args.patient_id)
        fn = records.consent_grant if grant else records.consent_revoke
        return await fn(
            args.patient_id,
            args.channel,
            args.kind,
            source=args.source,
            evidence_ref=args.evidence,
            actor=args.actor,
        )

    print(f"recorded {_run(with_records(args, go))}")
    return 0


def _consent_grant(args: argparse.Namespace) -> int:
    return _consent_change(args, grant=True)


def _consent_revoke(args: argparse.Namespace) -> int:
    return _consent_change(args, grant=False)


def _verify_chain(args: argparse.Namespace) -> int:
    async def go(conn: asyncpg.Connection) -> list[Any]:
        return await verify_chain(conn, args.chain)

    # As the database owner: verification must not depend on the app role's view.
    faults = _run(with_conn(args, go))
    emit(args, {"chain": args.chain, "ok": not faults, "faults": [str(f) for f in faults]},
         [*(f"{args.chain}: {fault}" for fault in faults),
          *([] if faults else [f"{args.chain} chain intact"])])
    if faults:
        raise OperatorError(f"{args.chain} chain broken in {len(faults)} place(s)")
    return 0


# -- audit ---------------------------------------------------------------------------------


def register_audit(subparsers: Any) -> None:
    from carrier.records.cli_audit import register  # noqa: PLC0415 - it imports this module

    register(subparsers)


# -- retention -----------------------------------------------------------------------------

def register_retention(subparsers: Any) -> None:
    from carrier.records.cli_retention import register  # noqa: PLC0415 - it imports this module

    register(subparsers)
