"""The README's demo call (``carrier serve --demo-call``, setting ``agent.demo_call``).

A reminder to the synthetic patient Testa goes through the dialer's compliance gate like
any campaign call; when the gate allows it, the gateway places it (with its Identity
header, verified at the patient's phone on arrival). When the gate refuses (outside
calling hours), the patient calls the clinic instead. Either way the redacted transcript
and the records written are printed. Synthetic data only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any

from agent.handler import patient_uuid
from agent.runtime import restore_demo_appointment
from carrier.call import Call, Clearance, DialFailure, DialRequest
from carrier.dialer.wiring import gate_from_settings, gate_once
from carrier.plugin import CallOutcome
from demo.phone import PatientPhone
from stir_shaken.aio import verify_fetching

# The patient first asks who is calling (or what the call is about): before identity the
# agent names only the clinic and the purpose, then asks again (issue 12).
DEMO_SCRIPT = ("Hello?", "Who is this?", "Yes, this is Testa.", "March fifth, nineteen eighty.",
               "Yes, I will be there. Confirm.")
CALL_IN_SCRIPT = ("What's this about?", "Yes, this is Testa.", "March fifth, nineteen eighty.",
                  "Yes, I will be there. Confirm.")
PATIENT_NUMBER = "+15550100123"
REMINDER_LINE = "+15550100101"


async def demo_call(stack: Any) -> int:
    """Place the demo reminder through the compliance gate and print what happened."""
    settings, rt = stack.settings, stack.runtime
    trunk = settings.trunk(settings.dialer.trunk)
    phone = PatientPhone(rt.tts, trunk.host, trunk.port, DEMO_SCRIPT)
    pid = str(patient_uuid("pat-1001"))
    # No name or number on the console (issue 11 item 9): the patient by record id only.
    print("\n=== demo: appointment reminder to synthetic patient pat-1001 (number masked) ===")
    _verify_on_arrival(stack, phone)
    for line in DEMO_SCRIPT:  # the patient's voice is ready before the phone rings
        await rt.tts.synthesize(line)
    # Every run reminds the same booked visit, however an earlier run ended it.
    await restore_demo_appointment(settings, stack.records, "appt-1", dt.datetime.now(dt.UTC))
    print("demo appointment appt-1: booked, as config/clinic.yaml has it")
    async with phone.endpoint:
        allowed, why = await _demo_gate(stack, pid)
        print(f"compliance gate: {'dial' if allowed else 'refused'} ({why})")
        if allowed:
            outcome = await _dial_out(stack, pid)
            if outcome is None:
                return 1
        else:
            await _call_in(stack, phone)
        try:
            await asyncio.wait_for(phone.done.wait(), timeout=30)
        except TimeoutError:
            print("the patient's phone was still waiting for the agent 30 s after the call")
    v = phone.verification
    if v is not None and allowed:
        print(f"Identity header verified at the patient's phone on arrival: {v.status} "
              f"(attest {v.attest}, {v.verstat})")
    recorded = await _print_records(stack, phone.call_id)
    return 0 if recorded == "confirmed" else 1


def _verify_on_arrival(stack: Any, phone: PatientPhone) -> None:
    stir = stack.gateway.stir
    if stir is None or stir.verifier is None:
        return

    async def verify(identities: list[str]) -> Any:
        return await verify_fetching(stir.verifier, stir.fetcher, identities,
                                     stack.settings.dialer.caller_id, PATIENT_NUMBER,
                                     now=time.time())

    phone.verify = verify


async def _demo_gate(stack: Any, pid: str) -> tuple[bool, str]:
    """The dialer's compliance gate decides, exactly as for a campaign call (and records it)."""
    decision = await gate_once(stack.records, pid, "appointment_reminder",
                               dt.datetime.now(dt.UTC), gate=gate_from_settings(stack.settings))
    if decision.allowed:
        return True, "all rules passed: " + ", ".join(decision.passed)
    return False, f"{decision.rule}; {decision.reason}"


async def _dial_out(stack: Any, pid: str) -> CallOutcome | None:
    settings, gateway = stack.settings, stack.gateway
    req = DialRequest(to=PATIENT_NUMBER, from_number=settings.dialer.caller_id,
                      trunk=settings.dialer.trunk, origid=str(uuid.uuid4()),
                      clearance=Clearance("allowed"))
    call: Call | DialFailure = await gateway.dial(req)
    if isinstance(call, DialFailure):
        print(f"dial failed: {call.outcome.value} {call.code or ''}")
        return None
    outcome: CallOutcome | None = await gateway.run_outbound(call, {
        "purpose": "appointment_reminder", "patient_id": pid, "appointment_id": "appt-1"})
    return outcome


async def _call_in(stack: Any, phone: PatientPhone) -> None:
    print("Nothing was dialled. Instead, the patient calls the clinic's reminder line "
          "(inbound calls are not limited by calling hours).")
    settings, gateway, records = stack.settings, stack.gateway, stack.records
    phone.script = CALL_IN_SCRIPT
    for line in CALL_IN_SCRIPT:
        await stack.runtime.tts.synthesize(line)
    signer = gateway.stir.signer if gateway.stir is not None else None
    identity = signer.sign(PATIENT_NUMBER, REMINDER_LINE, "C", str(uuid.uuid4()),
                           time.time()).format() if signer is not None else None
    port = gateway.endpoint.port("UDP")
    await phone.call_in(f"sip:{REMINDER_LINE}@{settings.sip.bind_host}:{port}", identity)
    row = None
    for _ in range(300):  # bounded wait: the agent finishes writing its call record
        row = await records.pool.fetchrow(
            "SELECT outcome, verstat FROM call_records WHERE call_id = $1", phone.call_id)
        if row is not None:
            break
        await asyncio.sleep(0.1)
    if row is not None:
        print(f"caller's STIR/SHAKEN result recorded: {row['verstat']}")


async def _print_records(stack: Any, call_id: str) -> str | None:
    """Print the stored transcript and records of ``call_id``; its recorded outcome."""
    records = stack.records
    print("\n--- redacted transcript (as stored) ---")
    for speaker, text in await records.call_transcript(call_id):
        print(f"{speaker:>7}: {text}")
    record = await records.call_record(call_id)
    recorded = record.outcome if record is not None else None
    status = await records.pool.fetchval(
        "SELECT status FROM sched_appointments WHERE id = 'appt-1'")
    audits = await records.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE record_id = $1", call_id)
    print("\n--- records written ---")
    print(f"outcome: {recorded or 'none'}")
    print(f"appointment appt-1 status: {status}")
    print(f"audit entries for this call: {audits}; call record and transcript committed")
    problems = await records.verify_chain("audit")
    print(f"audit hash chain: {'intact' if not problems else f'{len(problems)} faults'}")
    return None if recorded is None else str(recorded)
