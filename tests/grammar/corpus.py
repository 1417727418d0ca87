"""Load the labelled utterances and score the grammars on them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from agent.grammar import DatePreference, parse_slot, understand
from agent.grammar.es import to_canonical

HERE = Path(__file__).parent
NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)  # Monday 10:00 in New York


@dataclass(frozen=True)
class Row:
    text: str
    intent: str
    slot_type: str
    slot_value: str
    spanish: bool = False  # read as a Spanish call reads it (``to_canonical``)

    @property
    def said(self) -> str:
        return to_canonical(self.text) if self.spanish else self.text


def load(name: str) -> list[Row]:
    rows = []
    for line in (HERE / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip("\t"):
            continue
        text, intent, slot_type, value = line.split("\t")
        rows.append(Row(text, intent, slot_type, value))
    return rows


def canonical(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, DatePreference):
        day = value.date.isoformat() if value.date else "-"
        extra = (f" +{value.days}d" if value.days > 1 else "") + (
            " earliest" if value.earliest else "") + (
            " later_same_day" if value.later_same_day else "")
        return f"{day} {value.part_of_day or '-'}{extra}"
    return str(value)


# Answers that contradict each other: a row labelled "affirm!" fails when a no or an
# opt-out is found beside the yes (the engine could take either).
ANSWERS = frozenset({"affirm", "deny", "opt_out"})


def intent_ok(row: Row) -> bool | None:
    """``X``: X is found; ``X!``: and no other answer (``ANSWERS``, or a yes or no beside
    "dont_know!"); ``not:X``: X is not found; ``none``: nothing is."""
    if row.intent == "-":
        return None
    found = understand(row.said).intents
    if row.intent == "none":
        return not found
    if row.intent.startswith("not:"):
        return row.intent[4:] not in found
    if row.intent.endswith("!"):
        wanted = row.intent[:-1]
        return wanted in found and not found & (ANSWERS - {wanted})
    return row.intent in found


def slot_ok(row: Row) -> bool | None:
    if row.slot_type == "-":
        return None
    got = parse_slot(row.slot_type, row.said, NOW, options=3)
    return canonical(got) == row.slot_value


@dataclass(frozen=True)
class Score:
    intent_total: int
    intent_right: int
    slot_total: int
    slot_right: int
    misses: tuple[str, ...]

    @property
    def intent_accuracy(self) -> float:
        return self.intent_right / self.intent_total if self.intent_total else 1.0

    @property
    def slot_accuracy(self) -> float:
        return self.slot_right / self.slot_total if self.slot_total else 1.0


def score(rows: list[Row]) -> Score:
    it = ir = st = sr = 0
    misses = []
    for row in rows:
        i = intent_ok(row)
        if i is not None:
            it += 1
            ir += i
            if not i:
                misses.append(f"intent {row.intent!r}: {row.text!r} -> "
                              f"{sorted(understand(row.text).intents)}")
        s = slot_ok(row)
        if s is not None:
            st += 1
            sr += s
            if not s:
                got = canonical(parse_slot(row.slot_type, row.text, NOW, options=3))
                misses.append(f"{row.slot_type} {row.slot_value!r}: {row.text!r} -> {got!r}")
    return Score(it, ir, st, sr, tuple(misses))


def load_categorised(name: str) -> dict[str, list[Row]]:
    """Rows of a five-column file (category first), grouped by category in file order."""
    out: dict[str, list[Row]] = {}
    for line in (HERE / name).read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip("\t"):
            continue
        category, text, intent, slot_type, value = line.split("\t")
        out.setdefault(category, []).append(Row(text, intent, slot_type, value,
                                                spanish=category.startswith("es_")))
    return out


def row_ok(row: Row) -> bool:
    """Both the intent and the slot the row names are right."""
    return intent_ok(row) is not False and slot_ok(row) is not False


def category_accuracy(name: str) -> dict[str, tuple[int, int, tuple[str, ...]]]:
    """Per category: (right, total, the texts it got wrong)."""
    out = {}
    for category, rows in load_categorised(name).items():
        wrong = tuple(r.text for r in rows if not row_ok(r))
        out[category] = (len(rows) - len(wrong), len(rows), wrong)
    return out


def tuned_right_held_out_share(tuned_file: str, held_file: str,
                               categories: set[str]) -> tuple[int, int]:
    """Asserts both files hold exactly ``categories`` and every tuned row is right; returns
    the held-out split's (right, total), which callers print and floor (never tune)."""
    tuned = category_accuracy(tuned_file)
    held = category_accuracy(held_file)
    assert set(tuned) == set(held) == categories
    assert {c: wrong for c, (_r, _t, wrong) in tuned.items() if wrong} == {}
    return sum(r for r, _t, _w in held.values()), sum(t for _r, t, _w in held.values())
