"""HL7 v2 outbound, pure: a call's outcome as an SIU (appointment status) or an ORU^R01
(one observation), and the reading of the receiver's acknowledgement.

Minimum necessary: the PID carries the source's own patient identifier and nothing else
(no name, no phone); the SCH carries the source's appointment id. ``control_id`` is fixed
per outbox row, so a resend after a lost ACK is recognisably the same message.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from carrier.feeds.hl7_ack import escape, hl7_ts

# Outcome -> (SIU trigger, SCH-25 filler status) for appointment outcomes.
SIU_FOR = {
    "confirmed": ("S14", "Booked"),
    "rescheduled": ("S13", "Booked"),  # SCH-11 carries the new slot when known
    "cancelled": ("S15", "Cancelled"),
}
OUTCOME_TEXT = {
    "confirmed": "Confirmed by patient", "cancelled": "Cancelled by patient",
    "rescheduled": "Rescheduled by patient", "no_answer": "No answer",
    "opted_out": "Opted out of calls", "refill_request": "Refill requested",
    "intake_answers": "Intake answers", "screening_result": "Screening result",
}
# Write-backs that carry what the patient answered (FHIR QuestionnaireResponse): the kind
# -> the kinds of call answers (``call_answers``) it holds.
ANSWER_KINDS = {"intake_answers": ("demographics", "insurance", "visit_reason"),
                "screening_result": ("screening",)}


@dataclass(frozen=True)
class Outcome:
    """One outcome to write back (JSON-ready; stored encrypted in ``feed_outbox``)."""

    kind: str  # a key of OUTCOME_TEXT
    source: str
    authority: str
    mrn: str
    appointment_ref: str | None
    call_id: str
    at: dt.datetime
    control_id: str
    detail: str = ""
    answers: tuple[tuple[str, str], ...] = ()  # (question, answer), for ANSWER_KINDS
    new_start: dt.datetime | None = None  # rescheduled: the new slot's start, end, provider
    new_end: dt.datetime | None = None
    new_provider: str | None = None

    def __repr__(self) -> str:  # never print PHI by accident
        return f"Outcome(kind={self.kind!r}, control_id={self.control_id!r})"


def _msh(o: Outcome, message: str, version: str = "2.5.1") -> str:
    return "|".join(["MSH", "^~\\&", "CARRIER", "CARRIER", "", escape(o.source), hl7_ts(o.at),
                     "", message, escape(o.control_id), "P", version])


def _pid(o: Outcome) -> str:
    return f"PID|1||{escape(o.mrn)}^^^{escape(o.authority)}^MR"


def siu_message(o: Outcome) -> bytes:
    """SIU^S13/S14/S15 for an appointment outcome (caller checks ``o.kind in SIU_FOR``)."""
    trigger, status = SIU_FOR[o.kind]
    if o.kind == "rescheduled" and o.new_start is None:
        trigger = "S14"  # the new time is not known: a status modification only
    ref = escape(o.appointment_ref or "")
    timing = ""  # SCH-11 (TQ): ^^^start^end
    if o.new_start is not None:
        end = hl7_ts(o.new_end) if o.new_end is not None else ""
        timing = f"^^^{hl7_ts(o.new_start)}^{end}"
    segs = [_msh(o, f"SIU^{trigger}^SIU_S12"),
            f"SCH||{ref}|||||||||{timing}||||||||||||||{status}",
            f"NTE|1|L|{escape(OUTCOME_TEXT[o.kind])}",
            _pid(o), "RGS|1"]
    if o.new_provider:
        segs.append(f"AIP|1||{escape(o.new_provider)}")
    return ("\r".join(segs) + "\r").encode()


def oru_message(o: Outcome) -> bytes:
    """ORU^R01 with one coded observation, the outcome of the outreach call (and the new
    slot of a reschedule)."""
    ref = escape(o.appointment_ref or "")
    segs = [_msh(o, "ORU^R01^ORU_R01"), _pid(o),
            f"OBR|1|{escape(o.call_id)}|{ref}|OUTREACH^Outreach call outcome^L|||"
            f"{hl7_ts(o.at)}",
            f"OBX|1|CWE|OUTCOME^Call outcome^L||{escape(o.kind)}^"
            f"{escape(OUTCOME_TEXT[o.kind])}^L||||||F|||{hl7_ts(o.at)}"]
    if o.new_start is not None:  # a reschedule: the new slot as a date range (DR)
        end = hl7_ts(o.new_end) if o.new_end is not None else ""
        segs.append(f"OBX|2|DR|NEWSLOT^New appointment time^L||{hl7_ts(o.new_start)}^{end}"
                    f"||||||F|||{hl7_ts(o.at)}")
    return ("\r".join(segs) + "\r").encode()


def message_for(o: Outcome, style: str) -> bytes:
    """``style`` ``siu``: SIU for appointment outcomes, ORU for the rest; ``oru``: ORU."""
    if style == "siu" and o.kind in SIU_FOR and o.appointment_ref:
        return siu_message(o)
    return oru_message(o)


def ack_code(data: bytes) -> tuple[str, str, str]:
    """(MSA-1, ERR-3 code or "", MSA-2: the control id acknowledged) of a receiver's
    acknowledgement, read with the delimiters of its own MSH; ("", "", "") if unreadable."""
    code, err, acked = "", "", ""
    text = data.decode("utf-8", "replace").replace("\n", "\r").strip("\r\x0b\x1c ")
    sep, comp = (text[3], text[4]) if text.startswith("MSH") and len(text) > 4 else ("|", "^")
    for seg in text.split("\r"):
        fields = seg.split(sep)
        if fields[0] == "MSA" and len(fields) > 1:
            code, acked = fields[1].strip(), (fields[2].strip() if len(fields) > 2 else "")
        elif fields[0] == "ERR" and len(fields) > 3:
            err = fields[3].split(comp)[0]
    return code, err, acked
