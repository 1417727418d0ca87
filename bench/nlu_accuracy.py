"""Print intent and slot accuracy of the grammars on the labelled corpus.

    .venv/bin/python bench/nlu_accuracy.py [--misses]

The issue-12 categories (identity, questions, dates of birth, rescheduling preferences,
cancel-or-stop, declines, intake names, insurers, screening answers) are scored per
category on the tuned split and on the held-out split written before the grammars
changed (``tests/grammar/issue12_heldout.tsv``, never tuned to).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Appended, not put first: tests/agent must not shadow the agent package.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))

from grammar.corpus import category_accuracy, load, score

# (tuned, held-out) pairs, each held-out file written before the change it scores.
PAIRS = (("issue12_tuned.tsv", "issue12_heldout.tsv"), ("slots_tuned.tsv", "slots_heldout.tsv"),
         ("names_tuned.tsv", "names_heldout.tsv"), ("conv_tuned.tsv", "conv_heldout.tsv"),
         ("conv2_tuned.tsv", "conv2_heldout.tsv"), ("conv3_tuned.tsv", "conv3_heldout.tsv"),
         ("conv4_tuned.tsv", "conv4_heldout.tsv"),
         ("conv4b_tuned.tsv", "conv4b_heldout.tsv"), ("conv5_tuned.tsv", "conv5_heldout.tsv"))


def main() -> int:
    show_misses = "--misses" in sys.argv
    for name in ("examples.tsv", "corpus.tsv", "heldout.tsv", "heldout2.tsv"):
        rows = load(name)
        result = score(rows)
        print(f"{name}: {len(rows)} utterances; intent {result.intent_right}/"
              f"{result.intent_total} ({result.intent_accuracy:.1%}); slots "
              f"{result.slot_right}/{result.slot_total} ({result.slot_accuracy:.1%})")
        for miss in result.misses if show_misses else ():
            print("  miss:", miss)
    for pair in PAIRS:
        _table(tuple(zip(("tuned", "held-out"), pair, strict=True)), show_misses)
    # Further held-out splits of a round, each written after the one before it scored.
    for name in ("conv3_heldout2.tsv", "conv3_heldout3.tsv", "conv4_heldout_int.tsv",
                 "conv5_heldout_int.tsv"):
        table = category_accuracy(name)
        right, total = (sum(v[i] for v in table.values()) for i in (0, 1))
        print(f"\n{name}: {right}/{total} ({right / total:.1%})")
        for category, (_r, _t, wrong) in table.items() if show_misses else ():
            for text in wrong:
                print(f"  held-out miss [{category}]: {text!r}")
    return 0


def _table(splits: tuple[tuple[str, str], ...], show_misses: bool) -> None:
    tables = {split: category_accuracy(file) for split, file in splits}
    print(f"\n{'category':<15}" + "".join(f"{split + ' ' + file:>34}" for split, file in splits))
    totals = {split: [0, 0] for split, _ in splits}
    for category in tables["tuned"]:
        cells = []
        for split, _ in splits:
            right, total, _wrong = tables[split].get(category, (0, 0, ()))
            totals[split][0] += right
            totals[split][1] += total
            cells.append(f"{right}/{total} ({right / total:.0%})" if total else "-")
        print(f"{category:<15}" + "".join(f"{c:>34}" for c in cells))
    cells = [f"{r}/{t} ({r / t:.1%})" for r, t in totals.values()]
    print(f"{'all':<15}" + "".join(f"{c:>34}" for c in cells))
    if show_misses:
        for split, _ in splits:
            for category, (_r, _t, wrong) in tables[split].items():
                for text in wrong:
                    print(f"  {split} miss [{category}]: {text!r}")


if __name__ == "__main__":
    sys.exit(main())
