"""`carrier redact`: read text on stdin, print it redacted, one line per line.

So a compliance officer can test the policy: ``echo "my SSN is 123-45-6789" | carrier redact``.
Known identifiers of one patient can be given (or read from the clinic file with
``--patient``) to exercise the known-identifier recogniser too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from agent.redact import KnownIdentifiers, redact
from carrier.errors import OperatorError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("redact", help="redact PHI from text on stdin")
    parser.add_argument("--name", action="append", default=[], help="a known name (repeatable)")
    parser.add_argument("--dob", help="known date of birth, YYYY-MM-DD")
    parser.add_argument("--phone", action="append", default=[], help="a known phone number")
    parser.add_argument("--member-id", action="append", default=[], help="a known member ID")
    parser.add_argument("--mrn", action="append", default=[], help="a known MRN")
    parser.add_argument("--patient", help="take known identifiers of this clinic patient")
    parser.add_argument("--clinic",
                        help="clinic file for --patient (default CONFIG_DIR/clinic.yaml)")
    parser.set_defaults(func=run)


def known_from_args(args: argparse.Namespace) -> KnownIdentifiers | None:
    names, phones = list(args.name), list(args.phone)
    member_ids, mrns = list(args.member_id), list(args.mrn)
    dob = None
    if args.dob:
        try:
            dob = dt.date.fromisoformat(args.dob)
        except ValueError:
            raise OperatorError("--dob must be YYYY-MM-DD") from None
    if args.patient:
        from agent.workflow.records import ClinicFileSource  # noqa: PLC0415 - only when asked

        config_dir = Path(getattr(args, "config_dir", None)
                          or os.environ.get("CARRIER_CONFIG_DIR") or "config")
        clinic = args.clinic or config_dir / "clinic.yaml"
        patient = ClinicFileSource(clinic).patient(args.patient)
        if patient is None:  # what was typed may be a name or a number: never repeated
            raise OperatorError(f"--patient: no patient with the id given in {clinic}")
        names.append(f"{patient.get('first_name', '')} {patient.get('last_name', '')}".strip())
        phones += [str(patient["phone"])] if patient.get("phone") else []
        member_ids += [str(patient["member_id"])] if patient.get("member_id") else []
        mrns += [str(patient["mrn"])] if patient.get("mrn") else []
        if patient.get("dob") and dob is None:
            try:
                dob = dt.date.fromisoformat(str(patient["dob"]))
            except ValueError:  # the value is a date of birth: never shown
                raise OperatorError(f"{clinic}: patients[].dob of the patient given is not"
                                    " a date (YYYY-MM-DD)") from None
    if not (names or phones or member_ids or mrns or dob):
        return None
    return KnownIdentifiers(names=tuple(names), dob=dob, phones=tuple(phones),
                            member_ids=tuple(member_ids), mrns=tuple(mrns))


def run(args: argparse.Namespace) -> int:
    known = known_from_args(args)
    for line in sys.stdin:
        print(redact(line.rstrip("\n"), known), flush=True)
    return 0
