"""`carrier call TO --trunk NAME [--from NUMBER]`: one operator test call through a trunk.

The call takes the stack's one outbound path (`Gateway.dial`): it needs a clearance.
A number on `dialer.operator_test_numbers` is called as an operator test, audited as
`operator_test`; any other number goes through the compliance gate like a campaign call
(the callee's consent, do-not-call lists, calling window, caps), and a refusal prints
the rule's code on stderr and exits 77 without dialling. The INVITE carries its Identity header,
takes a slot on the trunk (CPS, concurrency, failover) and, when answered, plays a
one-second 440 Hz tone, prints the media statistics and hangs up. Exits non-zero when
the call did not connect.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
import uuid
from collections.abc import Mapping

import numpy as np

from carrier.call import Call, Clearance, DialFailure, DialRequest
from carrier.cli import default_actor
from carrier.dialer.gate import Consent
from carrier.dialer.ports import Contact
from carrier.dialer.records_adapter import RecordsFacts
from carrier.dialer.wiring import gate_from_settings, gate_once
from carrier.errors import OperatorError, UnknownName
from carrier.gateway import Gateway
from carrier.plugin import CallContext, CallOutcome, OutcomeKind
from carrier.records.cli import add_database_args
from carrier.records.cli_context import run as run_command
from carrier.records.cli_context import where, with_records
from carrier.records.crypto import InvalidPhoneNumber, normalize_e164
from carrier.records.store import Records
from carrier.settings import Settings
from carrier.sip.endpoint import EndpointConfig
from carrier.stir_setup import build_stir
from media.session import MediaSession

TONE_SECONDS = 1.0
OPERATOR_TEST = "operator_test"
GATE_REFUSED = 77  # EX_NOPERM (docs/exit-codes.md): not 2, which is a usage error
UNKNOWN_CALLEE = "unknown-callee"  # the gate's patient id for a number no patient has


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("call", help="place an operator test call through a trunk")
    parser.add_argument("to", type=_callee, help="E.164 number to call")
    parser.add_argument("--trunk", required=True, help="trunk name from trunks.yaml")
    parser.add_argument("--from", dest="from_number", default=None,
                        help="calling number (default: dialer.caller_id)")
    parser.add_argument("--config", default=None, help="config folder")
    parser.add_argument("--purpose", default="appointment_reminder",
                        help="the gate's purpose for a number not on the test list")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for answer")
    parser.add_argument("--actor", default=default_actor(),
                        help="who places the call, for the audit log (default: this user)")
    add_database_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = where(args).settings  # the config folder, --data-dir, --database-url
    try:
        settings.trunk(args.trunk)  # an unknown trunk is refused before anything starts
    except UnknownName:  # what was typed there may be a number or a name: not repeated
        known = ", ".join(t.name for t in settings.trunks) or "none"
        raise OperatorError(f"--trunk: no trunk of the name given (trunks: {known})") from None
    check_calling_number(settings, args.trunk, args.from_number)
    # The records as every records command opens them: migrated, a spool of its own that
    # is replayed and removed at the end, database failures as one line.
    return run_command(with_records(args, lambda records: operator_call(settings, records,
                                                                         args)))


def _callee(text: str) -> str:
    """An argparse type: the number to call, in E.164 (the value is never repeated)."""
    try:
        return normalize_e164(text)
    except InvalidPhoneNumber:
        raise argparse.ArgumentTypeError(
            "not a phone number (E.164, e.g. +15550100199)") from None


def tone(seconds: float, freq: float = 440.0) -> list[np.ndarray]:
    t = np.arange(int(16000 * seconds)) / 16000.0
    pcm = (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16)
    return [pcm[i : i + 320] for i in range(0, len(pcm) - 319, 320)]


class _UnknownCallee(RecordsFacts):
    """A number no patient has: nobody has given consent; do-not-call lists still apply."""

    async def consent(self, patient_id: str) -> Mapping[str, Consent]:
        return {}


def check_calling_number(settings: Settings, trunk: str, number: str | None) -> None:
    """``--from`` must be a number the clinic owns, as ``dialer.caller_id`` must
    (``carrier.settings_checks.check_caller_id``): one the trunk delivers and, when calls
    are signed, one of ``stir.own_numbers``. Before, any number went out, signed with
    attestation C (labelled as likely spam) and shown as if the clinic owned it. The
    value is not repeated (what was typed may be a patient's number)."""
    if number is None:
        return
    if number not in settings.trunk(trunk).numbers:
        raise OperatorError(f"--from: not a number of trunk {trunk!r} (trunks[*].numbers);"
                            " a call shows only a number the clinic owns")
    if settings.stir.enabled and number not in settings.stir.own_numbers:
        raise OperatorError("--from: not in stir.own_numbers; the call would be signed as"
                            " a number the clinic does not own")


async def clearance_for(records: Records, settings: Settings, to: str, *, purpose: str,
                        actor: str, origid: str, now: dt.datetime | None = None
                        ) -> tuple[Clearance, dt.datetime | None] | str:
    """The clearance for calling ``to`` with the time the gate's allowance ends (the
    calling window's close: the INVITE is not sent after it), or the refusing rule
    (both audited)."""
    now = now or dt.datetime.now(dt.UTC)
    if to in settings.dialer.operator_test_numbers:
        await records.audit(actor, "dial.decision", ("call", origid), OPERATOR_TEST,
                            {"dial": True, "rule": OPERATOR_TEST, "purpose": "operator_test",
                             "test_number": True})
        return Clearance(OPERATOR_TEST, operator_test=True), None
    found = await records.find_patients_by_phone(to, actor=actor, reason="operator test call")
    gate = gate_from_settings(settings)
    if len(found) == 1:
        decision = await gate_once(records, str(found[0].id), purpose, now, gate=gate)
    else:  # unknown (or ambiguous): the gate decides on the number alone, without consent
        contact = Contact(number=to, address=None, number_given_by_patient=False)
        decision = await gate_once(records, UNKNOWN_CALLEE, purpose, now, gate=gate,
                                   contact=contact, facts=_UnknownCallee(records))
    if not decision.allowed:
        return decision.rule
    return Clearance(decision.rule), decision.valid_until


async def _tone_handler(call: Call, context: CallContext) -> CallOutcome:
    await call.media.play(tone(TONE_SECONDS))
    await call.hangup("operator test done")
    return CallOutcome(call.call_id, OutcomeKind.COMPLETED)


async def operator_call(settings: Settings, records: Records,
                        args: argparse.Namespace) -> int:
    origid = str(uuid.uuid4())
    cleared = await clearance_for(records, settings, args.to, purpose=args.purpose,
                                  actor=args.actor, origid=origid)
    if isinstance(cleared, str):  # the rule's code only: never the number or a name
        print(f"carrier call: refused by the compliance gate: {cleared} (nothing dialled)",
              file=sys.stderr)
        return GATE_REFUSED
    return await _place(settings, records, args, *cleared, origid=origid)


async def _place(settings: Settings, records: Records, args: argparse.Namespace,
                 clearance: Clearance, not_after: dt.datetime | None, *, origid: str) -> int:
    host = settings.sip.bind_host
    stir = await build_stir(settings)
    config = EndpointConfig(udp=(host, 0), tcp=(host, 0), tls=None, tls_verify=False)
    try:
        async with Gateway(settings, handler=_tone_handler, audit=records.audit,
                           stir=stir.context if stir else None,
                           endpoint_config=config) as gateway:
            call = await gateway.dial(DialRequest(
                to=args.to, from_number=args.from_number or settings.dialer.caller_id,
                trunk=args.trunk, origid=origid, ring_timeout_s=args.timeout,
                clearance=clearance, not_after=not_after))
            if isinstance(call, DialFailure):
                print(f"carrier call: call failed: {call.code or ''} {call.outcome.value}"
                      f" ({call.reason})", file=sys.stderr)
                return 1
            print(f"answered: 200 on trunk {call.context.trunk} ({clearance.rule})")
            await gateway.run_outbound(call, {})
            media = call.media
            if isinstance(media, MediaSession):
                stats = media.stats()
                print(f"media: sent {stats.packets_sent} received {stats.packets_received} "
                      f"lost {stats.packets_lost} jitter {stats.jitter_ms:.1f} ms")
                if stats.packets_received == 0:
                    # Answered but nothing heard: one-way audio is a failed test call.
                    print("carrier call: silent call: no audio came back from the far end",
                          file=sys.stderr)
                    return 3
    finally:
        if stir is not None:
            with contextlib.suppress(OSError):
                await stir.close()
    return 0
