"""InviteSession behaviour the dialog defects of issue 11 are about (sans-IO, uanet).

* item 5: no ACK for our 2xx -> BYE after 64*T1, CallEnded("ack-timeout"), the UA
  forgets the call, and the caller's side ends too;
* item 10: BYE / re-INVITE / CANCEL from outside the dialog's peers get 403 and change
  nothing (not even the dialog's remote CSeq); a source on the call's own trunk may.
  (A forged CANCEL copying the INVITE's Via takes the CANCEL's transaction key, so the
  real caller's CANCEL is answered 403 until that transaction ends: the call is not
  lost, only the caller's CANCEL; matching transactions by source is not RFC 3261.)
"""

from __future__ import annotations

import pytest

from carrier.sip.events import CallCancelled, CallEnded, IncomingCall, ReInviteReceived
from carrier.sip.message import Request, Response, parse_message
from carrier.sip.policy import InboundPolicy, TrunkRule
from carrier.sip.sdp import LocalMedia, build_offer
from carrier.sip.session import InviteSession
from carrier.sip.session_api import SessionState
from carrier.sip.ua import UserAgent
from tests.sip.sip_uanet import Net, make_ua
from tests.sip.test_sip_ua import setup_call

FORGER = ("UDP", "127.0.0.66", 5060)


def forged(call: InviteSession, method: str, *, seq: int = 99) -> bytes:
    """What a forger who saw the Call-ID and both tags would send to the callee."""
    assert call.dialog is not None
    req = call.dialog.new_request(method, seq=seq)
    req.prepend("Via", f"SIP/2.0/UDP {FORGER[1]}:{FORGER[2]};branch=z9hG4bKforge{seq}")
    req.add("Max-Forwards", "70")
    return req.serialize()


def statuses(outs: list[object]) -> list[int]:
    replies = [parse_message(o.data) for o in outs if hasattr(o, "data")]  # type: ignore[attr-defined]
    return [r.status for r in replies if isinstance(r, Response)]


def test_no_ack_ends_the_session_with_bye_on_both_sides() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    net.drop = lambda data, dest: data.startswith(b"ACK")
    call, inbound = setup_call(net, a, b)
    net.advance(64 * 0.5)
    assert [e.reason for e in net.take(b, CallEnded)] == ["ack-timeout"]
    assert inbound.state is SessionState.TERMINATED
    assert any(w.startswith(b"BYE ") for w in net.wire)
    assert [e.reason for e in net.take(a, CallEnded)] == ["bye-received"]
    assert call.state is SessionState.TERMINATED
    net.advance(net.now + 60)
    assert not a.calls
    assert not b.calls
    assert len(b.tx) == 0


def test_forged_bye_and_reinvite_are_refused_and_the_call_stays() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    assert inbound.dialog is not None
    seq_before = inbound.dialog.remote_seq
    assert statuses(b.receive(forged(call, "BYE"), FORGER, now=net.now)) == [403]
    assert statuses(b.receive(forged(call, "INVITE", seq=100), FORGER, now=net.now)) == [403]
    assert inbound.state is SessionState.CONFIRMED
    assert inbound.dialog.remote_seq == seq_before  # a forged CSeq moves nothing
    net.send(a, call.bye(net.now))
    net.pump()
    assert [e.reason for e in net.take(b, CallEnded)] == ["bye-received"]


def test_forged_cancel_does_not_end_a_ringing_call() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, outs = a.invite("sip:bob@127.0.0.2:5070", now=0.0, sdp=b"")
    invite = parse_message(outs[0].data)  # type: ignore[union-attr]
    net.send(a, outs)
    net.pump()
    (incoming,) = net.take(b, IncomingCall)
    assert isinstance(invite, Request)
    cancel = Request(method="CANCEL", uri=invite.uri)
    for name in ("Via", "From", "To", "Call-ID"):
        cancel.add(name, invite.get(name) or "")
    cancel.add("CSeq", f"{invite.cseq.seq} CANCEL")
    cancel.add("Max-Forwards", "70")
    assert statuses(b.receive(cancel.serialize(), FORGER, now=0.1)) == [403]
    assert incoming.call.state is SessionState.INITIAL
    assert not net.take(b, CallCancelled)
    session = incoming.call
    assert isinstance(session, InviteSession)
    net.send(b, session.answer(b"", net.now))  # the call goes on
    net.pump()
    assert call.state is SessionState.CONFIRMED


def test_bye_from_another_edge_of_the_calls_trunk_is_accepted() -> None:
    trunk = TrunkRule.from_strings("carrier", ["127.0.0.0/24"])
    a = make_ua("127.0.0.1", 5060)
    b = UserAgent(make_ua("127.0.0.2", 5070).config, policy=InboundPolicy(trunks=(trunk,)),
                  new_id=make_ua("127.0.0.2", 5070).new_id)  # fmt: skip
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    assert inbound.trunk == "carrier"
    edge = ("UDP", "127.0.0.77", 5060)
    outs = b.receive(forged(call, "BYE"), edge, now=net.now)
    assert statuses(outs) == [200]
    assert [e.reason for e in outs if isinstance(e, CallEnded)] == ["bye-received"]


def test_our_session_refresh_refused_491_in_a_glare_is_sent_again() -> None:
    """RFC 3261 14.1 with RFC 4028: our refresh re-INVITE crosses the peer's re-INVITE and
    both get 491. Before: our refresh was given up (a RequestResult nobody acts on) and no
    later one was armed: only a retry by the peer could still refresh the session. Now it
    is sent again after 3 s (we own the Call-ID: RFC 3261 14.1 says 2.1-4 s; the peer's
    own retry, 0-2 s, goes first) and the session timer runs on from its 2xx."""
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    assert call.refresher_is_us
    call.peer_allows_update = False  # a peer without UPDATE: the refresh is a re-INVITE
    while (due := a.next_timer) is not None and due < 899:  # the 2xx timers first
        net.advance(due)
    assert a.next_timer == 900.0  # half of Session-Expires 1800
    hold = build_offer(LocalMedia("127.0.0.2", 30000, srtp="off"), session_id=2, version=2,
                       direction="sendonly").serialize()  # fmt: skip
    theirs = inbound.reinvite(hold, 900.0)
    net.now = 900.0
    net.send(a, a.handle_timer(900.0))  # our refresh and their re-INVITE cross
    net.send(b, theirs)
    net.pump()
    assert sum(w.startswith(b"SIP/2.0 491") for w in net.wire) == 2
    refreshes = [w for w in net.wire if w.startswith(b"INVITE sip:ua5070")]
    assert len(refreshes) == 1
    net.advance(903.0)
    refreshes = [w for w in net.wire if w.startswith(b"INVITE sip:ua5070")]
    assert len(refreshes) == 2  # sent again
    (again,) = net.take(b, ReInviteReceived)
    net.send(b, inbound.respond(again.key, 200, net.now, sdp=inbound.local_sdp))
    net.pump()
    assert call.state is SessionState.CONFIRMED
    net.advance(1802.0)
    assert len([w for w in net.wire if w.startswith(b"INVITE sip:ua5070")]) == 2
    net.advance(1803.0)  # the next refresh: half an interval after the one that took
    assert len([w for w in net.wire if w.startswith(b"INVITE sip:ua5070")]) == 3
    assert call.state is SessionState.CONFIRMED


@pytest.mark.parametrize("update", [True, False], ids=["UPDATE", "re-INVITE"])
def test_the_refresher_refreshes_every_half_interval_for_the_whole_call(update: bool) -> None:
    """RFC 4028 7.4 / 10. Before: our refresh carried no Session-Expires, so the peer's 2xx
    carried none either and no next refresh was armed: the one at 900 s was the last, and
    a peer enforcing the interval (our own UA does) sent BYE at about 2670 s: every call
    with us as refresher ended after some 44 minutes. Now each refresh asks for the
    interval again (refresher=uac, Supported: timer) and the next one follows its 2xx."""
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    assert call.refresher_is_us
    call.peer_allows_update = update
    start = len(net.wire)
    for t in (901.0, 1801.0, 2701.0, 3601.0, 3700.0):  # just after each refresh is due
        net.advance(t)
        for event in net.take(b, ReInviteReceived):  # the refresh re-INVITE's offer
            net.send(b, inbound.respond(event.key, 200, net.now, sdp=inbound.local_sdp))
            net.pump()
    requests = [parse_message(w) for w in net.wire[start:] if not w.startswith(b"SIP/")]
    sent = sorted({(r.cseq.seq, r.cseq.method) for r in requests if r.cseq.method != "ACK"})
    method = "UPDATE" if update else "INVITE"
    assert [m for _, m in sent] == [method] * 4  # at 900, 1800, 2700, 3600 s
    assert call.state is SessionState.CONFIRMED
    assert inbound.state is SessionState.CONFIRMED


class NattedNet(Net):
    """``a`` sends from 192.0.2.7 (a trunk elsewhere) while its Contact names 127.0.0.1,
    as an SBC advertising its inside address does."""

    SOURCE = ("UDP", "192.0.2.7", 5060)

    def pump(self) -> None:
        while self.queue:
            data, dest, sender = self.queue.pop(0)
            self.wire.append(data)
            target = self.uas.get((dest[1], dest[2]))
            if target is None:
                continue
            source = self.SOURCE if sender.config.contacts["UDP"][0] == "127.0.0.1" else (
                "UDP", *sender.config.contacts["UDP"])
            self.send(target, target.receive(data, source, now=self.now))


def test_in_dialog_requests_to_a_contact_naming_this_host_go_to_the_peers_source() -> None:
    """Before: a trunk on another host whose Contact named 127.0.0.1 got none of our
    in-dialog requests: our BYE went to our own loopback, so the trunk kept the call up
    (and billing) until its own timers ran out. Now a next hop that names this host while
    the dialog's peer is elsewhere is that peer's source address (its Request-URI stays
    the Contact, as the trunk wrote it)."""
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = NattedNet(a, b)
    net.uas = {("192.0.2.7", 5060): a, ("127.0.0.2", 5070): b}
    _call, inbound = setup_call(net, a, b)
    assert inbound.state is SessionState.CONFIRMED
    (bye,) = [o for o in inbound.bye(net.now) if hasattr(o, "data")]
    assert bye.dest == NattedNet.SOURCE  # type: ignore[attr-defined]
    assert bye.data.startswith(b"BYE sip:ua5060@127.0.0.1:5060")  # type: ignore[attr-defined]
    net.send(b, [bye])
    net.pump()
    assert [e.reason for e in net.take(a, CallEnded)] == ["bye-received"]


def test_a_contact_on_this_host_from_a_peer_on_this_host_is_kept() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    _call, inbound = setup_call(net, a, b)
    (bye,) = [o for o in inbound.bye(net.now) if hasattr(o, "data")]
    assert bye.dest == ("UDP", "127.0.0.1", 5060)  # type: ignore[attr-defined]
