"""Print intent and slot accuracy of the grammars on the labelled corpus.

    .venv/bin/python bench/nlu_accuracy.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from grammar.corpus import load, score


def main() -> int:
    for name in ("examples.tsv", "corpus.tsv", "heldout.tsv", "heldout2.tsv"):
        rows = load(name)
        result = score(rows)
        print(f"{name}: {len(rows)} utterances; intent {result.intent_right}/"
              f"{result.intent_total} ({result.intent_accuracy:.1%}); slots "
              f"{result.slot_right}/{result.slot_total} ({result.slot_accuracy:.1%})")
        for miss in result.misses:
            print("  miss:", miss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
