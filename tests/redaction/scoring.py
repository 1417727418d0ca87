"""Parse the labelled redaction set and measure recall per identifier type."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from agent.redact import KnownIdentifiers, find_spans

MARK = re.compile(r"\[\[([A-Z_]+):(.*?)\]\]")
HERE = Path(__file__).parent


@dataclass(frozen=True)
class Entity:
    label: str
    start: int
    end: int


@dataclass(frozen=True)
class Utterance:
    text: str
    entities: tuple[Entity, ...]


def parse(line: str) -> Utterance:
    out = []
    entities = []
    pos = 0
    length = 0
    for m in MARK.finditer(line):
        plain = line[pos:m.start()]
        out.append(plain)
        length += len(plain)
        entities.append(Entity(m.group(1), length, length + len(m.group(2))))
        out.append(m.group(2))
        length += len(m.group(2))
        pos = m.end()
    out.append(line[pos:])
    return Utterance("".join(out), tuple(entities))


def load(name: str = "labelled.txt") -> list[Utterance]:
    return [parse(line) for line in (HERE / name).read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")]


@dataclass
class Report:
    total: Counter[str] = field(default_factory=Counter)
    caught: Counter[str] = field(default_factory=Counter)
    labelled_right: Counter[str] = field(default_factory=Counter)
    false_positive_lines: int = 0
    negative_lines: int = 0
    misses: list[str] = field(default_factory=list)
    mislabelled: list[str] = field(default_factory=list)

    def recall(self, label: str) -> float:
        return self.caught[label] / self.total[label] if self.total[label] else 1.0

    @property
    def overall(self) -> float:
        return sum(self.caught.values()) / max(1, sum(self.total.values()))

    def lines(self) -> list[str]:
        out = [f"{'type':<10} {'n':>4} {'recall':>8} {'label ok':>9}"]
        for label in sorted(self.total):
            out.append(f"{label:<10} {self.total[label]:>4} {self.recall(label):>8.1%} "
                       f"{self.labelled_right[label] / self.total[label]:>9.1%}")
        out.append(f"{'all':<10} {sum(self.total.values()):>4} {self.overall:>8.1%}")
        out.append(f"negatives with something redacted: {self.false_positive_lines}/"
                   f"{self.negative_lines}")
        return out


def evaluate(utterances: list[Utterance], known: KnownIdentifiers | None = None) -> Report:
    report = Report()
    for utt in utterances:
        spans = find_spans(utt.text, known)
        if not utt.entities:
            report.negative_lines += 1
            if spans:
                report.false_positive_lines += 1
                report.misses.append(f"over-redacted: {utt.text!r}")
        for ent in utt.entities:
            report.total[ent.label] += 1
            covered = all(any(s.start <= i < s.end for s in spans)
                          for i in range(ent.start, ent.end) if not utt.text[i].isspace()
                          and utt.text[i] not in ",.-")
            if covered:
                report.caught[ent.label] += 1
                labels = {s.label for s in spans if s.start < ent.end and s.end > ent.start}
                ok = ent.label in labels or (ent.label == "DATE" and "DOB" in labels)
                report.labelled_right[ent.label] += ok
                if not ok:
                    report.mislabelled.append(f"{ent.label} as {sorted(labels)}: "
                                              f"{utt.text[ent.start:ent.end]!r}")
            else:
                report.misses.append(f"{ent.label}: {utt.text[ent.start:ent.end]!r} in "
                                     f"{utt.text!r}")
    return report


def precision(utterances: list[Utterance], known: KnownIdentifiers | None = None
              ) -> tuple[int, int]:
    """Spans found that cover part of a labelled identifier, and all spans found: a span
    over nothing labelled is a false positive (a weekday or "English" taken for a name)."""
    right = total = 0
    for utt in utterances:
        for span in find_spans(utt.text, known):
            total += 1
            right += any(span.start < e.end and span.end > e.start for e in utt.entities)
    return right, total
