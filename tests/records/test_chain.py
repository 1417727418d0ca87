"""Hash chain: every edit, deletion, insertion or reordering is detected (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from carrier.records import chain

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _rows(n: int) -> tuple[list[dict[str, Any]], chain.Head]:
    rows: list[dict[str, Any]] = [
        {
            "entry_id": UUID(int=i + 1),
            "at": T0 + timedelta(seconds=i),
            "actor": "op:test",
            "action": "patient.read",
            "record_type": "patient",
            "record_id": f"p{i}",
            "reason": "care",
            "details": "{}",
        }
        for i in range(n)
    ]
    head = chain.extend("audit", chain.Head(0, chain.GENESIS), rows)
    return rows, head


def test_intact_chain_verifies() -> None:
    rows, head = _rows(5)
    assert head.seq == 5
    assert chain.verify("audit", rows, head=head) == []


def test_canonical_row_is_stable() -> None:
    rows, _ = _rows(1)
    assert chain.canonical_row("audit", rows[0]) == (
        b'{"action":"patient.read","actor":"op:test","at":1767225600000000,'
        b'"details":"{}","entry_id":"00000000-0000-0000-0000-000000000001",'
        b'"reason":"care","record_id":"p0","record_type":"patient","seq":1}'
    )


def test_edited_row_detected() -> None:
    rows, head = _rows(5)
    rows[2]["reason"] = "curiosity"
    assert chain.verify("audit", rows, head=head) == [chain.ChainFault(3, "hash mismatch")]


def test_edit_with_recomputed_hash_breaks_next_link() -> None:
    rows, head = _rows(5)
    rows[2]["reason"] = "curiosity"
    rows[2]["row_hash"] = chain.row_hash("audit", rows[2]["prev_hash"], rows[2])
    assert chain.ChainFault(4, "broken link") in chain.verify("audit", rows, head=head)


def test_removed_middle_row_detected() -> None:
    rows, head = _rows(5)
    del rows[2]
    faults = chain.verify("audit", rows, head=head)
    assert chain.ChainFault(4, "gap") in faults
    assert chain.ChainFault(4, "broken link") in faults


def test_removed_last_row_detected_against_head() -> None:
    rows, head = _rows(5)
    assert chain.verify("audit", rows[:-1], head=head) == [chain.ChainFault(4, "head mismatch")]


def test_swapped_rows_detected() -> None:
    rows, head = _rows(5)
    rows[1], rows[2] = rows[2], rows[1]
    assert chain.verify("audit", rows, head=head)


def test_anchor_after_purge() -> None:
    rows, head = _rows(5)
    anchor = chain.Head(2, rows[1]["row_hash"])
    assert chain.verify("audit", rows[2:], anchor=anchor, head=head) == []
    assert chain.verify("audit", rows[3:], anchor=anchor, head=head)


@given(
    st.integers(0, 5),
    st.sampled_from(["actor", "action", "record_id", "reason", "details"]),
    st.text(min_size=1, max_size=5),
)
def test_any_field_change_is_detected(index: int, field: str, suffix: str) -> None:
    rows, head = _rows(6)
    rows[index][field] += suffix
    assert chain.verify("audit", rows, head=head)


def test_naive_time_refused() -> None:
    rows, _ = _rows(1)
    rows[0]["at"] = datetime(2026, 1, 1)
    try:
        chain.canonical_row("audit", rows[0])
    except ValueError:
        return
    raise AssertionError("naive datetime accepted")
