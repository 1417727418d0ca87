"""Transaction state machines under a hand-driven clock (RFC 3261 sec 17, RFC 6026)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from carrier.sip.message import Request, Response, parse_message
from carrier.sip.transaction import (
    Deliver,
    Kind,
    SendData,
    State,
    Transaction,
    TxTimeout,
    new_client,
    new_server,
)
from carrier.sip.transaction_layer import NewRequest, StrayResponse, TransactionLayer

PEER = ("UDP", "127.0.0.1", 5062)


def request(method: str = "INVITE", branch: str = "z9hG4bKabc", cseq: int = 1) -> Request:
    text = (
        f"{method} sip:bob@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
        "To: <sip:bob@127.0.0.1>\r\n"
        "Call-ID: tx-test-1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


def response(req: Request, status: int, tag: str | None = "b1") -> Response:
    return Response.for_request(req, status, to_tag=tag if status > 100 else None)


def sends(actions: list) -> list[bytes]:
    return [a.data for a in actions if isinstance(a, SendData)]


def run_until(tx: Transaction, end: float) -> list[tuple[float, object]]:
    """Fire every timer up to `end`; returns (time, action) pairs."""
    out: list[tuple[float, object]] = []
    while tx.next_timer is not None and tx.next_timer <= end:
        now = tx.next_timer
        out += [(now, a) for a in tx.handle_timer(now)]
    return out


def test_ict_udp_retransmits_with_timer_a_then_times_out_with_timer_b() -> None:
    tx = new_client(request(), PEER, reliable=False)
    assert len(sends(tx.start(0.0))) == 1
    events = run_until(tx, 100.0)
    resend_times = [t for t, a in events if isinstance(a, SendData)]
    assert resend_times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert [(t, type(a)) for t, a in events if isinstance(a, TxTimeout)] == [(32.0, TxTimeout)]
    assert tx.state is State.TERMINATED


def test_ict_provisional_stops_retransmission_and_non_2xx_is_acked_again_on_duplicates() -> None:
    req = request()
    tx = new_client(req, PEER, reliable=False)
    tx.start(0.0)
    assert [type(a) for a in tx.receive_response(response(req, 180), 0.2)] == [Deliver]
    assert tx.state is State.PROCEEDING
    assert run_until(tx, 20.0) == []  # timers A and B cancelled
    busy = response(req, 486)
    actions = tx.receive_response(busy, 21.0)
    (ack,) = sends(actions)
    ack_msg = parse_message(ack)
    assert isinstance(ack_msg, Request)
    assert ack_msg.method == "ACK"
    assert ack_msg.via.branch == "z9hG4bKabc"
    assert ack_msg.to.tag == "b1"
    assert ack_msg.cseq.seq == 1
    assert any(isinstance(a, Deliver) for a in actions)
    # A retransmitted 486 is ACKed again and not passed up.
    again = tx.receive_response(busy, 22.0)
    assert sends(again) == [ack]
    assert not any(isinstance(a, Deliver) for a in again)
    run_until(tx, 21.0 + 31.9)
    assert tx.state is State.COMPLETED
    run_until(tx, 21.0 + 32.0)
    assert tx.state is State.TERMINATED


def test_ict_2xx_goes_to_accepted_and_passes_retransmitted_2xx_up() -> None:
    req = request()
    tx = new_client(req, PEER, reliable=False)
    tx.start(0.0)
    ok = response(req, 200)
    assert [type(a) for a in tx.receive_response(ok, 0.1)] == [Deliver]
    assert tx.state is State.ACCEPTED
    assert [type(a) for a in tx.receive_response(ok, 0.6)] == [Deliver]
    run_until(tx, 0.1 + 32.0)
    assert tx.state is State.TERMINATED


def test_ict_reliable_has_no_timer_a_and_zero_timer_d() -> None:
    req = request()
    tx = new_client(req, ("TCP", "127.0.0.1", 5062), reliable=True)
    tx.start(0.0)
    assert tx.next_timer == 32.0
    tx.receive_response(response(req, 503), 1.0)
    assert tx.next_timer == 1.0
    tx.handle_timer(1.0)
    assert tx.state is State.TERMINATED


def test_nict_timer_e_backs_off_to_t2_and_timer_f_times_out() -> None:
    tx = new_client(request("OPTIONS"), PEER, reliable=False)
    tx.start(0.0)
    events = run_until(tx, 40.0)
    times = [t for t, a in events if isinstance(a, SendData)]
    assert times[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]
    assert [t for t, a in events if isinstance(a, TxTimeout)] == [32.0]


def test_nict_proceeding_retransmits_every_t2_and_final_starts_timer_k() -> None:
    req = request("OPTIONS")
    tx = new_client(req, PEER, reliable=False)
    tx.start(0.0)
    tx.receive_response(response(req, 100), 0.2)
    assert tx.state is State.PROCEEDING
    tx.handle_timer(0.5)
    assert tx.next_timer == 4.5
    assert [type(a) for a in tx.receive_response(response(req, 200), 5.0)] == [Deliver]
    assert tx.state is State.COMPLETED
    assert tx.receive_response(response(req, 200), 6.0) == []  # duplicate absorbed
    run_until(tx, 10.0)
    assert tx.state is State.TERMINATED


def test_ist_retransmits_final_with_timer_g_until_ack_then_timer_i() -> None:
    req = request()
    tx = new_server(req, PEER, reliable=False)
    trying = response(req, 100)
    assert len(sends(tx.send_response(trying, 0.0))) == 1
    # A retransmitted INVITE gets the 100 again.
    assert sends(tx.receive_request(req, 0.3)) == [trying.serialize()]
    tx.send_response(response(req, 486), 1.0)
    assert tx.state is State.COMPLETED
    events = run_until(tx, 1.0 + 8.0)
    assert [t for t, a in events if isinstance(a, SendData)] == [1.5, 2.5, 4.5, 8.5]
    ack = request("ACK")
    assert tx.receive_request(ack, 9.0) == []
    assert tx.state is State.CONFIRMED
    assert run_until(tx, 13.9) == []
    run_until(tx, 14.0)
    assert tx.state is State.TERMINATED


def test_ist_timer_h_reports_a_lost_ack() -> None:
    req = request()
    tx = new_server(req, PEER, reliable=False)
    tx.send_response(response(req, 480), 0.0)
    events = run_until(tx, 40.0)
    assert [(t, type(a)) for t, a in events if not isinstance(a, SendData)] == [(32.0, TxTimeout)]


def test_ist_2xx_enters_accepted_and_absorbs_invite_retransmissions() -> None:
    req = request()
    tx = new_server(req, PEER, reliable=False)
    tx.send_response(response(req, 200), 0.0)
    assert tx.state is State.ACCEPTED
    assert tx.receive_request(req, 0.5) == []  # the UA core retransmits the 2xx itself
    run_until(tx, 32.0)
    assert tx.state is State.TERMINATED


def test_nist_absorbs_retransmissions_until_answered_then_resends_and_timer_j() -> None:
    req = request("OPTIONS")
    tx = new_server(req, PEER, reliable=False)
    assert tx.receive_request(req, 0.1) == []
    ok = response(req, 200)
    tx.send_response(ok, 0.2)
    assert sends(tx.receive_request(req, 0.7)) == [ok.serialize()]
    run_until(tx, 0.2 + 31.9)
    assert tx.state is State.COMPLETED
    run_until(tx, 0.2 + 32.0)
    assert tx.state is State.TERMINATED
    reliable = new_server(req, ("TCP", "127.0.0.1", 1), reliable=True)
    reliable.send_response(ok, 0.0)
    reliable.handle_timer(0.0)
    assert reliable.state is State.TERMINATED


def test_layer_matches_by_branch_cancel_and_ack() -> None:
    layer = TransactionLayer()
    inv = request()
    (event,) = layer.receive(inv, PEER, reliable=False, now=0.0)
    assert isinstance(event, NewRequest)
    assert event.key is not None
    # Retransmission matches the same server transaction.
    assert layer.receive(inv, PEER, reliable=False, now=0.1) == []
    cancel = request("CANCEL")
    (cancel_event,) = layer.receive(cancel, PEER, reliable=False, now=0.2)
    assert isinstance(cancel_event, NewRequest)
    assert cancel_event.key != event.key
    invite_tx = layer.invite_for_cancel(cancel)
    assert invite_tx is not None
    assert invite_tx.key == event.key
    layer.send_response(event.key, response(inv, 487), 0.3)
    # ACK for the non-2xx final shares the INVITE branch: absorbed by the IST.
    assert layer.receive(request("ACK"), PEER, reliable=False, now=0.4) == []
    assert layer.get(event.key).state is State.CONFIRMED
    # An ACK for a 2xx has a new branch: it reaches the UA core.
    (ack2xx,) = layer.receive(request("ACK", branch="z9hG4bKother"), PEER, reliable=False, now=1)
    assert isinstance(ack2xx, NewRequest)
    assert ack2xx.key is None


def test_layer_client_side_and_stray_responses() -> None:
    layer = TransactionLayer()
    req = request("OPTIONS", branch="z9hG4bKopt")
    tx, actions = layer.send_request(req, PEER, reliable=False, now=0.0)
    assert len(sends(actions)) == 1
    other = request("OPTIONS", branch="z9hG4bKunknown")
    (stray,) = layer.receive(response(other, 200), PEER, reliable=False, now=0.1)
    assert isinstance(stray, StrayResponse)
    (delivered,) = layer.receive(response(req, 200), PEER, reliable=False, now=0.2)
    assert isinstance(delivered, Deliver)
    assert delivered.key == tx.key
    layer.handle_timer(5.2)
    assert len(layer) == 0


def test_rfc2543_requests_without_cookie_still_match() -> None:
    layer = TransactionLayer()
    old = request("OPTIONS", branch="oldstyle")
    assert len(layer.receive(old, PEER, reliable=False, now=0.0)) == 1
    assert layer.receive(old, PEER, reliable=False, now=0.5) == []


class LossyWire:
    """A seeded network that drops and duplicates datagrams (trio's test_dtls idea)."""

    def __init__(self, seed: int, loss: float, dup: float) -> None:
        self.rng = random.Random(seed)
        self.loss = loss
        self.dup = dup

    def carry(self, data: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for item in data:
            if self.rng.random() < self.loss:
                continue
            out.append(item)
            if self.rng.random() < self.dup:
                out.append(item)
        return out


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 10_000),
    st.floats(0.0, 0.5),
    st.floats(0.0, 0.5),
    st.sampled_from(["INVITE", "OPTIONS"]),
    st.integers(100, 699).filter(lambda s: s >= 200),
)
def test_client_and_server_over_a_lossy_wire_agree(
    seed: int, loss: float, dup: float, method: str, status: int
) -> None:
    wire = LossyWire(seed, loss, dup)
    client_layer, server_layer = TransactionLayer(), TransactionLayer()
    req = request(method, branch=f"z9hG4bK{seed}")
    _, first = client_layer.send_request(req, PEER, reliable=False, now=0.0)
    to_server = wire.carry(sends(first))
    to_client: list[bytes] = []
    finals: list[int] = []
    timeouts = 0
    answered = False
    now = 0.0
    for _ in range(2000):
        for data in to_server:
            msg = parse_message(data)
            for ev in server_layer.receive(msg, PEER, reliable=False, now=now):
                if isinstance(ev, NewRequest) and ev.key and not answered:
                    answered = True
                    to_client += wire.carry(
                        sends(server_layer.send_response(ev.key, response(ev.request, status), now))
                    )
                elif isinstance(ev, SendData):
                    to_client += wire.carry([ev.data])
        to_server = []
        for data in to_client:
            msg = parse_message(data)
            for ev in client_layer.receive(msg, PEER, reliable=False, now=now):
                if isinstance(ev, Deliver) and isinstance(ev.message, Response):
                    finals.append(ev.message.status)
                elif isinstance(ev, SendData):
                    to_server += wire.carry([ev.data])
        to_client = []
        dues = [t for t in (client_layer.next_timer, server_layer.next_timer) if t is not None]
        if not dues:
            break
        now = max(now, min(dues))
        for ev in client_layer.handle_timer(now):
            if isinstance(ev, TxTimeout):
                timeouts += 1
            elif isinstance(ev, SendData):
                to_server += wire.carry([ev.data])
        for ev in server_layer.handle_timer(now):
            if isinstance(ev, SendData):
                to_client += wire.carry([ev.data])
    assert len(client_layer) == 0
    assert len(server_layer) == 0
    if status >= 300 or method != "INVITE":
        # Non-2xx finals and non-INVITE responses are delivered at most once.
        assert len(finals) <= 1
    # Exactly one outcome reaches the client's user: a final response or a timeout.
    assert timeouts <= 1
    assert bool(finals) != (timeouts == 1)


@given(st.sampled_from(list(Kind)), st.integers(100, 699), st.sampled_from(list(State)))
def test_any_input_in_any_state_never_raises_for_peer_messages(
    kind: Kind, status: int, state: State
) -> None:
    req = request("INVITE" if kind in (Kind.ICT, Kind.IST) else "OPTIONS")
    factory = new_client if kind in (Kind.ICT, Kind.NICT) else new_server
    tx = factory(req, PEER, reliable=False)
    tx.state = state
    if kind in (Kind.ICT, Kind.NICT):
        tx.receive_response(response(req, status), 1.0)
    else:
        tx.receive_request(req, 1.0)
        tx.receive_request(request("ACK"), 1.0)
    tx.handle_timer(1000.0)
    tx.transport_error(1000.0)
