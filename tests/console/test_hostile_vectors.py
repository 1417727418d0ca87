"""The hostile vectors of tests/vectors/hostile (STOP wordings, next= redirects, CSV
cells, GSM-7 escapes across parts) as a floor: every tuned case, and the held-out split's
score when it was last measured (68/69: before the fixes it scored 51/69). The held-out
miss is a lone escape at the very end of a text, shown as a non-breaking space (as the
link always showed it), where the split expected a plain space."""

from __future__ import annotations

from tests.vectors.hostile.score import score


def test_every_tuned_case() -> None:
    good, total, misses = score("tune")
    assert good == total, "\n".join(misses)


def test_the_held_out_split_keeps_its_score() -> None:
    good, total, misses = score("held_out")
    assert good >= 68, f"held-out {good}/{total}:\n" + "\n".join(misses)
