"""The session table (pure, a hand-moved clock) and the live-call number mask."""

from __future__ import annotations

import datetime as dt

from carrier.console.live import mask_number
from carrier.console.roles import Operator, Role
from carrier.console.sessions import MAX_AGE, Sessions

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
ALICE = Operator("id-a", "alice", Role.SUPERVISOR)
BOB = Operator("id-b", "bob", Role.AUDITOR)


def test_idle_and_absolute_limits_and_background_requests() -> None:
    table = Sessions(idle_timeout_s=60)
    s = table.open(ALICE, T0)
    assert s.token != s.csrf
    assert table.get(s.token, T0 + dt.timedelta(seconds=59)) is s  # activity: touched
    assert table.get(s.token, T0 + dt.timedelta(seconds=100), touch=False) is s
    assert table.get(s.token, T0 + dt.timedelta(seconds=120)) is None  # idle 61 s
    assert table.get(s.token, T0) is None  # ended for good
    busy = table.open(ALICE, T0)
    t = T0
    while t - T0 < MAX_AGE - dt.timedelta(seconds=30):
        t += dt.timedelta(seconds=30)
        assert table.get(busy.token, t) is busy
    assert table.get(busy.token, T0 + MAX_AGE + dt.timedelta(seconds=1)) is None


def test_close_and_close_operator() -> None:
    table = Sessions(idle_timeout_s=60)
    a1, a2, b = table.open(ALICE, T0), table.open(ALICE, T0), table.open(BOB, T0)
    assert table.close_operator("id-a") == 2
    assert table.get(a1.token, T0) is None
    assert table.get(a2.token, T0) is None
    assert table.close(b.token) is b
    assert table.close(None) is None
    assert len(table) == 0


def test_numbers_are_masked_to_their_last_four_digits() -> None:
    assert mask_number("+15555550101") == "+1******0101"
    assert mask_number("5555550101") == "******0101"
    assert mask_number("0101") == "****"
    assert mask_number("") == ""


def test_the_table_keeps_at_most_the_cap_of_one_operator_oldest_ending_first() -> None:
    table = Sessions(idle_timeout_s=600, max_per_operator=2)
    a1 = table.open(ALICE, T0)
    b = table.open(BOB, T0)
    a2 = table.open(ALICE, T0 + dt.timedelta(seconds=1))
    a3, ended = table.sign_in(ALICE, T0 + dt.timedelta(seconds=2))
    assert ended == [a1]
    now = T0 + dt.timedelta(seconds=3)
    assert [table.get(s.token, now) for s in (a1, a2, a3, b)] == [None, a2, a3, b]
