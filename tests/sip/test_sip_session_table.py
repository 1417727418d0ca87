"""The INVITE session's tables (RFC 3261 12-14, 9; RFC 4028), driven pair by pair.

* every input the peer or a timer can cause has a row in every state of its role;
* every (role, state, input) pair is driven on a real session put into that state over
  the in-memory network: a pair with a row lands in the row's state, a pair without one
  raises LocalProtocolError and changes nothing; afterwards both user agents settle
  (no transaction, timer or call left once the clock has run);
* Hypothesis runs random sequences of inputs, wire deliveries and clock moves through
  both sessions of one call, checking every step against the table.
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from carrier.sip.errors import LocalProtocolError
from carrier.sip.session_table import REMOTE, STATES, TABLES, Input
from tests.sip.session_drive import Pair

PAIRS = [(role, state, event) for role in ("uac", "uas") for state in STATES[role]
         for event in Input]  # fmt: skip


@pytest.mark.parametrize("role", ["uac", "uas"])
def test_every_remote_input_has_a_row_in_every_state(role: str) -> None:
    missing = [(state.value, event.value) for state in STATES[role] for event in REMOTE[role]
               if (state, event) not in TABLES[role]]  # fmt: skip
    assert missing == []
    assert {state for state, _ in TABLES[role]} <= set(STATES[role])


def drive(pair: Pair, role: str, event: Input) -> None:
    session = pair.session(role)
    before = session.state
    ctx = pair.ctx(session, event)
    row = TABLES[role].get((before, event))
    if row is None:
        with pytest.raises(LocalProtocolError):
            session.step(event, ctx)
        assert session.state is before
        return
    outs = session.step(event, ctx)
    assert session.state is row[0], (role, before, event, session.state)
    pair.do(session, outs)


@pytest.mark.parametrize(("role", "state", "event"), PAIRS,
                         ids=[f"{r}-{s.value}-{e.name}" for r, s, e in PAIRS])  # fmt: skip
def test_every_state_input_pair(role: str, state: object, event: Input) -> None:
    pair = Pair()
    pair.into(role, state)  # type: ignore[arg-type]
    drive(pair, role, event)
    pair.net.advance(pair.net.now + 1.0)
    pair.settle()


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pair = Pair()
        self.pair.dial()

    @rule(role=st.sampled_from(["uac", "uas"]), event=st.sampled_from(list(Input)))
    def feed(self, role: str, event: Input) -> None:
        drive(self.pair, role, event)

    @rule()
    def deliver(self) -> None:
        self.pair.net.pump()

    @rule(seconds=st.sampled_from([0.5, 4.0, 40.0]))
    def wait(self, seconds: float) -> None:
        self.pair.net.advance(self.pair.net.now + seconds)

    def teardown(self) -> None:
        self.pair.settle()


SessionMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=25,
                                            deadline=None)  # fmt: skip
test_session_machine = SessionMachine.TestCase
