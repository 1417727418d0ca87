"""What a redaction recogniser finds (a ``Span``) and the letters names are written in."""

from __future__ import annotations

from dataclasses import dataclass, field

# Letters of names and places: ASCII, Latin-1 and Latin Extended-A ("José", "Zoë", "Łukasz";
# ``re`` has no \p{Lu}), and accents typed apart ("Nu\u0301n\u0303ez", NFD: its "u" kept).
_UPPER, _LOWER = "A-ZÀ-ÖØ-ÞĀ-ž", "a-zß-öø-ÿĀ-ž\u0300-\u036f"


def latin(pattern: str) -> str:
    """``pattern`` with its ASCII letter classes widened to those letters."""
    return (pattern.replace("A-Za-z", _UPPER + _LOWER).replace("[A-Z]", f"[{_UPPER}]")
            .replace("[a-z", f"[{_LOWER}"))


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    label: str = field(compare=False)
