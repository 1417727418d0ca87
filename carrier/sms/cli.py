"""``carrier sms send`` (one gated text to a patient through the SMSC) and ``carrier sms
status`` (texts by direction and status, from ``sms_messages``: no numbers, no bodies)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from typing import Any

from carrier.dialer.gate import DialRefused
from carrier.dialer.records_adapter import RecordsDecisionRecorder, RecordsDirectory, RecordsFacts
from carrier.dialer.store import OutreachStore
from carrier.dialer.wiring import gate_from_settings
from carrier.errors import OperatorError
from carrier.records.cli import add_database_args
from carrier.records.cli_context import add_json, emit, run, where, with_records
from carrier.records.store import Records
from carrier.sms.compliance import ExemptTextError
from carrier.sms.service import SmsService
from carrier.sms.smpp import SmppLink, SmsRefused

GATE_REFUSED = 77  # EX_NOPERM (docs/exit-codes.md), as `carrier call` refused by the gate


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("sms", help="texts to patients through the SMSC (SMPP)")
    sub = parser.add_subparsers(dest="sms_command", metavar="ACTION", required=True)
    p = sub.add_parser("send", help="send one text to a patient, through the compliance gate")
    add_database_args(p)
    add_json(p)
    p.add_argument("--patient", required=True, help="patient id (uuid)")
    p.add_argument("--text", required=True, help="the message (at most 160 characters if exempt)")
    p.add_argument("--purpose", default="appointment_reminder", help="why (the gate's purpose)")
    p.set_defaults(func=_send)
    p = sub.add_parser("status", help="texts sent and received, by status")
    add_database_args(p)
    add_json(p)
    p.set_defaults(func=_status)


def _send(args: argparse.Namespace) -> int:
    settings = where(args).settings
    sms = settings.sms
    if not sms.enabled:
        raise OperatorError("texts are off: set sms.enabled: true (and a trunk campaign_id)")
    password = os.environ.get(sms.password_env)
    if not password:
        raise OperatorError(f"set ${sms.password_env} to the SMPP bind password")

    async def go(records: Records) -> dict[str, Any]:
        link = SmppLink.from_settings(sms, password)
        try:
            async with link:
                service = SmsService(link, records, gate_from_settings(settings), settings=sms,
                                     facts=RecordsFacts(records),
                                     history=OutreachStore(records.pool),
                                     locks=OutreachStore(records.pool),
                                     directory=RecordsDirectory(records),
                                     recorder=RecordsDecisionRecorder(records),
                                     clock=lambda: dt.datetime.now(dt.UTC))
                sent = await service.send_to_patient(args.patient, args.purpose, args.text)
        except DialRefused as exc:
            return {"sent": False, "rule": exc.rule, "reason": exc.decision.reason,
                    "compliance": True}
        except ExemptTextError as exc:
            return {"sent": False, "rule": exc.rule, "reason": str(exc), "compliance": True}
        except SmsRefused as exc:
            return {"sent": False, "rule": getattr(exc, "rule", "smsc.refused"),
                    "reason": str(exc), "compliance": False}
        except OSError as exc:
            raise OperatorError(f"SMSC unreachable ({exc.__class__.__name__})") from None
        return {"sent": True, "parts": len(sent.smsc_ids), "smsc_ids": list(sent.smsc_ids),
                "exempt": sent.exempt}

    doc = run(with_records(args, go))
    if doc.pop("compliance", False):
        # As `carrier call` refused by the gate: exit 77, the rule's code only on stderr
        # (never the number or a name); the document for scripts with --json.
        if args.json:
            emit(args, doc, [])
        print(f"carrier sms: refused by the compliance gate: {doc['rule']} (nothing sent)",
              file=sys.stderr)
        return GATE_REFUSED
    line = (f"sent in {doc['parts']} part(s): {', '.join(doc['smsc_ids'])}" if doc["sent"]
            else f"refused by {doc['rule']}: {doc['reason']}")
    emit(args, doc, [line])
    return 0 if doc["sent"] else 3


def _status(args: argparse.Namespace) -> int:
    async def go(records: Records) -> list[dict[str, Any]]:
        rows = await records.pool.fetch(
            "SELECT direction, status, count(*) AS n, coalesce(sum(parts), 0) AS parts"
            " FROM sms_messages GROUP BY direction, status ORDER BY direction, status")
        return [dict(r) for r in rows]

    rows = run(with_records(args, go))
    emit(args, rows, [f"{r['direction']:3} {r['status']:10} {r['n']:6} texts {r['parts']:6} parts"
                      for r in rows] or ["no texts yet"])
    return 0
