"""FTC registry file format: accepted line forms, rejects, scrub correctness."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carrier.dialer.ftc import ParseStats, iter_numbers, parse_line, scrub, sorted_unique, to_e164


@pytest.mark.parametrize(
    "line",
    [
        "2125550142",
        "212,5550142",
        "212-555-0142",
        " 212 555 0142 \n",
        "(212) 555-0142",
        "+1 212-555-0142",
        "1,212,5550142",
    ],
)
def test_accepted_forms(line: str) -> None:
    assert parse_line(line) == 2125550142
    assert to_e164(2125550142) == "+12125550142"


@pytest.mark.parametrize(
    "line", ["212555014", "21255501421", "112,5550142", "212,1550142", "abc", "212,555014x"]
)
def test_rejected_forms(line: str) -> None:
    assert parse_line(line) is None


def test_bad_lines_are_counted_by_number_never_echoed() -> None:
    stats = ParseStats()
    numbers = list(iter_numbers(["2125550142", "", "junk", "305,5550123"], stats))
    assert numbers == [2125550142, 3055550123]
    assert (stats.accepted, stats.bad_count, stats.bad_lines) == (2, 1, [3])


@settings(max_examples=100, deadline=None)
@given(
    registry=st.lists(st.integers(2_000_000_000, 9_999_999_999), max_size=50),
    campaign=st.lists(st.integers(2_000_000_000, 9_999_999_999), max_size=50),
)
def test_scrub_matches_set_membership(registry: list[int], campaign: list[int]) -> None:
    campaign = campaign + registry[:3]
    mask = scrub(np.array(campaign, dtype=np.int64), sorted_unique(registry))
    assert mask.tolist() == [c in set(registry) for c in campaign]
