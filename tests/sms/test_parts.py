"""The reassembly core (carrier.sms.parts): incomplete texts do not wait for ever, and
at most ``max_pending`` wait at once (before, the library kept parts three days, with no
bound: a peer sending first parts under new references grew the store without end)."""

from __future__ import annotations

from carrier.sms.parts import InboundParts, TextKey

A, B, US = "+12125550171", "+12125550172", "+15550100100"


def test_a_text_whose_parts_stop_coming_is_dropped_after_the_wait() -> None:
    parts = InboundParts(wait_s=60.0)
    assert parts.add(TextKey(A, US, 1, 2), 1, "Hel", now=0.0) is None
    assert parts.add(TextKey(B, US, 2, 2), 1, "x", now=59.0) is None
    assert parts.add(TextKey(A, US, 1, 2), 2, "lo", now=60.0) is None  # too late: a new text waits
    assert parts.dropped == 1
    assert parts.add(TextKey(B, US, 2, 2), 2, "y", now=60.0) == "xy"


def test_at_most_max_pending_texts_wait_the_oldest_goes_first() -> None:
    parts = InboundParts(max_pending=2)
    for ref in range(3):
        assert parts.add(TextKey(A, US, ref, 2), 1, f"{ref}-", now=float(ref)) is None
    assert len(parts) == 2
    assert parts.dropped == 1
    assert parts.add(TextKey(A, US, 0, 2), 2, "end", now=3.0) is None  # ref 0 was dropped
    assert parts.add(TextKey(A, US, 2, 2), 2, "end", now=3.0) == "2-end"


def test_a_part_arriving_twice_counts_once() -> None:
    parts = InboundParts()
    assert parts.add(TextKey(A, US, 5, 3), 1, "a", now=0.0) is None
    assert parts.add(TextKey(A, US, 5, 3), 1, "a", now=0.0) is None  # the SMSC's retry
    assert parts.add(TextKey(A, US, 5, 3), 2, "b", now=0.0) is None
    assert parts.add(TextKey(A, US, 5, 3), 3, "c", now=0.0) == "abc"
