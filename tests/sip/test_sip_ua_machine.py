"""Hypothesis drives two user agents through random call actions over a lossy wire.

Invariants: nothing raises except LocalProtocolError for an action the call's state does
not allow; once the clock runs far enough every transaction and timer has ended, and
both sides agree the call is over once one of them hung up.
"""

from __future__ import annotations

import contextlib
import random

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from carrier.sip.errors import LocalProtocolError
from carrier.sip.events import IncomingCall, ReInviteReceived, UpdateReceived
from carrier.sip.sdp import LocalMedia, build_offer
from carrier.sip.session import InviteSession
from carrier.sip.session_api import SessionState
from tests.sip.sip_uanet import Net, make_ua

SDP = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=1).serialize()


class TwoAgents(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.a = make_ua("127.0.0.1", 5060)
        self.b = make_ua("127.0.0.2", 5070)
        self.net = Net(self.a, self.b)
        self.rng = random.Random(0)
        self.loss = 0.0
        self.net.drop = lambda data, dest: self.rng.random() < self.loss
        self.out: InviteSession | None = None
        self.inbound: InviteSession | None = None

    def _do(self, ua, action) -> None:  # type: ignore[no-untyped-def]
        try:
            self.net.send(ua, action(self.net.now))
        except LocalProtocolError:
            return
        self.net.pump()
        self._collect()

    def _collect(self) -> None:
        for event in self.net.take(self.b, IncomingCall):
            self.inbound = event.call
        pending = [
            e
            for ua in (self.a, self.b)
            for e in self.net.take(ua, ReInviteReceived) + self.net.take(ua, UpdateReceived)
        ]
        for event in pending:
            if event.call.state is SessionState.TERMINATED:
                continue
            call = event.call
            self.net.send(call.host, call.respond(event.key, 200, self.net.now, sdp=SDP))
            self.net.pump()

    @rule(seed=st.integers(0, 1000), loss=st.sampled_from([0.0, 0.0, 0.2, 0.5]))
    def wire(self, seed: int, loss: float) -> None:
        self.rng.seed(seed)
        self.loss = loss

    @precondition(lambda self: self.out is None)
    @rule()
    def dial(self) -> None:
        call, outs = self.a.invite("sip:b@127.0.0.2:5070", now=self.net.now, sdp=SDP)
        self.out = call
        self.net.send(self.a, outs)
        self.net.pump()
        self._collect()

    @precondition(lambda self: self.inbound is not None)
    @rule(action=st.sampled_from(["ring", "answer", "reject", "bye", "info", "reinvite", "refer"]))
    def callee(self, action: str) -> None:
        call = self.inbound
        assert call is not None
        self._act(call, self.b, action)

    @precondition(lambda self: self.out is not None)
    @rule(action=st.sampled_from(["cancel", "bye", "info", "reinvite", "refer"]))
    def caller(self, action: str) -> None:
        call = self.out
        assert call is not None
        self._act(call, self.a, action)

    def _act(self, call: InviteSession, ua, action: str) -> None:  # type: ignore[no-untyped-def]
        actions = {
            "ring": call.ring,
            "answer": lambda now: call.answer(SDP, now),
            "reject": lambda now: call.reject(486, now),
            "bye": call.bye,
            "cancel": call.cancel,
            "info": lambda now: call.send_dtmf_info("1", now),
            "reinvite": lambda now: call.reinvite(SDP, now),
            "refer": lambda now: call.refer("sip:c@127.0.0.3", now),
        }
        self._do(ua, actions[action])

    @rule(seconds=st.sampled_from([0.5, 4.0, 40.0]))
    def wait(self, seconds: float) -> None:
        self.net.advance(self.net.now + seconds)
        self._collect()

    @invariant()
    def settles(self) -> None:
        # Only checked at the end of a run (teardown), see below.
        pass

    def teardown(self) -> None:
        self.loss = 0.0
        for call in (self.out, self.inbound):
            if call is not None and call.state is not SessionState.TERMINATED:
                ua = call.host
                with contextlib.suppress(LocalProtocolError):
                    self.net.send(ua, call.bye(self.net.now))
                self.net.pump()
        self.net.advance(self.net.now + 200.0)
        assert len(self.a.tx) == 0
        assert len(self.b.tx) == 0
        assert self.a.next_timer is None
        assert self.b.next_timer is None


TwoAgents.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
test_two_agents = TwoAgents.TestCase
