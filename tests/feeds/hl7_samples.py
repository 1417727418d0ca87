"""Synthetic HL7 v2 messages for the feed tests (no real patient: 555-01xx numbers).

``siu(trigger, ...)`` and ``adt(trigger, ...)`` build well-formed messages; the malformed
cases live in ``vectors/malformed_tuning.txt`` (the ones the parser was developed against)
and ``vectors/malformed_heldout.txt`` (written separately and never tuned to: its score is
reported, see ``test_heldout_malformed``).
"""

from __future__ import annotations

import datetime as dt


def ts(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S+0000")


def siu(trigger: str, control: str, *, appt: str = "FL1", mrn: str = "MRN1001",
        start: dt.datetime, minutes: int = 30, sent: dt.datetime | None = None,
        phone: str = "(555)555-0101", version: str = "2.5.1",
        name: str = "Testa^Patience", dob: str = "19700101") -> bytes:
    sent = sent or start - dt.timedelta(days=2)
    end = start + dt.timedelta(minutes=minutes)
    segs = [
        f"MSH|^~\\&|PM|CLINIC|CARRIER|CARRIER|{ts(sent)}||SIU^{trigger}^SIU_{trigger}|"
        f"{control}|P|{version}",
        f"SCH|PL-{appt}^PM|{appt}^PM|||||Checkup|ROUTINE|{minutes}|min|"
        f"^^{minutes}^{ts(start)}^{ts(end)}",
        f"PID|1||{mrn}^^^CLINIC^MR||{name}||{dob}|F|||1 Main St^^Springfield^CA^90210"
        f"||{phone}",
        "PV1|1|O",
        "RGS|1",
        "AIP|1||DR1^Doctor^Demo|PHYS",
    ]
    return ("\r".join(segs) + "\r").encode()


def adt(trigger: str, control: str, *, mrn: str = "MRN1001", sent: dt.datetime,
        phone: str = "(555)555-0101", name: str = "Testa^Patience") -> bytes:
    segs = [
        f"MSH|^~\\&|PM|CLINIC|CARRIER|CARRIER|{ts(sent)}||ADT^{trigger}^ADT_A01|"
        f"{control}|P|2.5.1",
        f"EVN|{trigger}|{ts(sent)}",
        f"PID|1||{mrn}^^^CLINIC^MR||{name}||19700101|F|||^^^NY||{phone}",
        "PV1|1|O",
    ]
    return ("\r".join(segs) + "\r").encode()


def load_cases(path: str) -> list[tuple[str, str, bytes]]:
    """``(expected ack code, ERR-3 code, message)`` per case: blocks separated by a line
    ``== AE 101 comment``; segment lines joined by CR (``\\n`` in the file)."""
    cases: list[tuple[str, str, bytes]] = []
    head: list[str] | None = None
    body: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if line.startswith("=="):
                if head is not None:
                    cases.append((head[0], head[1], ("\r".join(body) + "\r").encode()))
                head, body = line[2:].split()[:2], []
            elif line.strip() and head is not None:
                body.append(line.replace("<CR>", "\r"))
    if head is not None:
        cases.append((head[0], head[1], ("\r".join(body) + "\r").encode()))
    return cases
