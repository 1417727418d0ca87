"""Print redaction recall per identifier type on the labelled set.

    .venv/bin/python bench/redaction_recall.py
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

# Appended, not put first: tests/agent would shadow the agent package (the installed
# checkout was measured instead of this one).
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))

from redaction.scoring import evaluate, load, precision

from agent.redact import KnownIdentifiers

KNOWN = KnownIdentifiers(names=("Testa Patientson",), dob=dt.date(1980, 3, 5),
                         phones=("+15550100123",), member_ids=("ZZX123456789",),
                         mrns=("MRN-900001",))


def main() -> int:
    utterances = load()
    for title, known in (("patterns only", None), ("with the patient's known identifiers", KNOWN)):
        report = evaluate(utterances, known)
        print(f"{len(utterances)} utterances, {title}:")
        print("\n".join("  " + line for line in report.lines()))
        for miss in report.misses:
            print("  miss:", miss)
    for name in ("heldout.txt", "heldout2.txt", "heldout3.txt", "heldout5.txt", "heldout6.txt"):
        heldout = load(name)
        report = evaluate(heldout, None)
        right, found = precision(heldout, None)
        print(f"held-out {name}, {len(heldout)} lines, patterns only; precision "
              f"{right}/{found} ({right / max(1, found):.1%}):")
        print("\n".join("  " + line for line in report.lines()))
        for miss in report.misses:
            print("  miss:", miss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
