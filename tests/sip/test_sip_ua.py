"""User agent core: calls, CANCEL, hold, REFER, INFO, auth, session timers, policy."""

from __future__ import annotations

import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carrier.sip.dialog import Replaces
from carrier.sip.digest import Credentials, DigestServer
from carrier.sip.events import (
    CallAnswered,
    CallCancelled,
    CallConfirmed,
    CallEnded,
    CallFailed,
    CallProgress,
    DtmfReceived,
    IncomingCall,
    OptionsResult,
    PolicyRefused,
    ReferProgress,
    ReferReceived,
    RegistrationChanged,
    ReInviteReceived,
    RequestResult,
)
from carrier.sip.message import Request, Response, parse_message
from carrier.sip.policy import InboundPolicy, TrunkRule
from carrier.sip.sdp import LocalMedia, build_answer, build_offer, parse_sdp
from carrier.sip.session_api import SessionState
from carrier.sip.ua import Registration, UaConfig, UserAgent
from carrier.sip.uri import parse_uri
from tests.sip.sip_uanet import Net, make_ua

OFFER = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=1)
B_MEDIA = LocalMedia("127.0.0.2", 30000, srtp="off")
VECTORS = pathlib.Path(__file__).parents[1] / "vectors" / "sip" / "rfc4475"


def setup_call(net: Net, a, b, *, answer: bool = True):  # type: ignore[no-untyped-def]
    call, outs = a.invite("sip:bob@127.0.0.2:5070", now=net.now, sdp=OFFER.serialize())
    net.send(a, outs)
    net.pump()
    (incoming,) = net.take(b, IncomingCall)
    inbound = incoming.call
    net.send(b, inbound.ring(net.now))
    net.pump()
    if answer:
        answer_sdp, _ = build_answer(
            parse_sdp(incoming.request.body), B_MEDIA, session_id=2, version=1
        )
        net.send(b, inbound.answer(answer_sdp.serialize(), net.now))
        net.pump()
    return call, inbound


def test_basic_call_setup_and_teardown() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    assert [e.response.status for e in net.take(a, CallProgress)] == [180]
    (answered,) = net.take(a, CallAnswered)
    assert parse_sdp(answered.response.body).media[0].port == 30000
    assert net.take(b, CallConfirmed) == [CallConfirmed(inbound)]
    assert call.state is SessionState.CONFIRMED
    assert inbound.state is SessionState.CONFIRMED
    assert call.dialog is not None
    assert inbound.dialog is not None
    assert call.dialog.remote_tag == inbound.local_tag
    net.send(a, call.bye(net.now))
    net.pump()
    assert [e.reason for e in net.take(a, CallEnded)] == ["bye-sent"]
    assert [e.reason for e in net.take(b, CallEnded)] == ["bye-received"]
    net.advance(net.now + 40)
    assert len(a.tx) == 0
    assert len(b.tx) == 0
    assert not a.calls
    assert not b.calls


def test_cancel_before_answer() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b, answer=False)
    net.send(a, call.cancel(net.now))
    net.pump()
    assert net.take(b, CallCancelled) == [CallCancelled(inbound)]
    (failed,) = net.take(a, CallFailed)
    assert failed.status == 487
    net.advance(net.now + 40)
    assert len(a.tx) == 0
    assert len(b.tx) == 0


def test_cancel_sent_before_any_provisional_waits_for_one() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, outs = a.invite("sip:bob@127.0.0.2:5070", now=0.0, sdp=OFFER.serialize())
    assert call.cancel(0.0) == []  # nothing heard yet: deferred
    net.send(a, outs)
    net.pump()  # the 100 Trying releases the CANCEL
    assert net.take(b, CallCancelled)
    assert [f.status for f in net.take(a, CallFailed)] == [487]


def test_hold_and_resume_by_reinvite() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    net.events[a].clear()
    net.events[b].clear()
    for direction, expected in (("sendonly", "recvonly"), ("sendrecv", "sendrecv")):
        offer = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=2,
                            direction=direction)  # fmt: skip
        net.send(a, call.reinvite(offer.serialize(), net.now))
        net.pump()
        (reinvite,) = net.take(b, ReInviteReceived)
        answer, negotiated = build_answer(parse_sdp(reinvite.request.body), B_MEDIA, session_id=2,
                                          version=2)  # fmt: skip
        assert negotiated.direction == expected
        net.send(b, inbound.respond(reinvite.key, 200, net.now, sdp=answer.serialize()))
        net.pump()
        (result,) = net.take(a, RequestResult)
        assert (result.method, result.status) == ("INVITE", 200)
        assert parse_sdp(call.remote_sdp or b"").media[0].direction == expected
    net.advance(net.now + 10)
    assert not net.take(a, CallEnded)
    assert not net.take(b, CallEnded)


def test_blind_transfer_refer_and_notify_sipfrag() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    net.send(b, inbound.refer("sip:+15550009999@127.0.0.9", net.now))
    net.pump()
    (refer,) = net.take(a, ReferReceived)
    assert str(refer.target.uri) == "sip:+15550009999@127.0.0.9"
    assert refer.target.replaces is None
    assert [(r.method, r.status) for r in net.take(b, RequestResult)] == [("REFER", 202)]
    net.send(a, call.notify_refer(100, net.now, final=False))
    net.send(a, call.notify_refer(200, net.now, final=True))
    net.pump()
    assert [(p.status, p.final) for p in net.take(b, ReferProgress)] == [(100, False), (200, True)]


def test_attended_transfer_carries_replaces() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    _call, inbound = setup_call(net, a, b)
    replaces = Replaces("other-call@x", to_tag="t1", from_tag="f1")
    net.send(b, inbound.refer("sip:carol@127.0.0.3", net.now, replaces=replaces))
    net.pump()
    (refer,) = net.take(a, ReferReceived)
    assert refer.target.replaces == replaces
    assert refer.target.uri.host == "127.0.0.3"


def test_info_dtmf_both_ways() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    net.send(a, call.send_dtmf_info("5", net.now))
    net.send(b, inbound.send_dtmf_info("#", net.now, duration_ms=250))
    net.pump()
    assert [(d.digit, d.duration_ms) for d in net.take(b, DtmfReceived)] == [("5", 160)]
    assert [(d.digit, d.duration_ms) for d in net.take(a, DtmfReceived)] == [("#", 250)]


def test_lost_ack_is_recovered_by_2xx_retransmission() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    dropped: list[bytes] = []

    def drop_first_ack(data: bytes, dest: tuple[str, int]) -> bool:
        if data.startswith(b"ACK") and not dropped:
            dropped.append(data)
            return True
        return False

    net.drop = drop_first_ack
    _, inbound = setup_call(net, a, b)
    assert inbound.state is SessionState.ANSWERED
    assert dropped
    net.advance(0.5)
    assert inbound.state is SessionState.CONFIRMED


def test_ack_never_arriving_ends_the_call_after_64_t1() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    net.drop = lambda data, dest: data.startswith(b"ACK")
    _, inbound = setup_call(net, a, b)
    net.advance(31.9)
    assert inbound.state is SessionState.ANSWERED
    net.advance(32.0)
    assert [e.reason for e in net.take(b, CallEnded)] == ["ack-timeout"]
    retransmits = [w for w in net.wire if w.startswith(b"SIP/2.0 200") and b"INVITE" in w]
    assert len(retransmits) >= 8


def test_session_timer_refresh_and_expiry() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    (answered,) = net.take(a, CallAnswered)
    assert answered.response.get("Session-Expires") == "1800;refresher=uac"
    assert call.refresher_is_us
    assert not inbound.refresher_is_us
    net.advance(900.0)
    assert [(r.method, r.status) for r in net.take(a, RequestResult)] == [("UPDATE", 200)]
    # The refresher goes silent: the other side hangs up before the interval ends.
    net.drop = lambda data, dest: dest == ("127.0.0.2", 5070)
    net.advance(900.0 + 1800.0)
    assert [e.reason for e in net.take(b, CallEnded)] == ["session-expired"]


def test_422_retry_uses_min_se() -> None:
    a = UserAgent(UaConfig(contacts={"UDP": ("127.0.0.1", 5060)}, session_expires=60, min_se=30))
    b = make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    _, outs = a.invite("sip:bob@127.0.0.2:5070", now=0.0, sdp=OFFER.serialize())
    net.send(a, outs)
    net.pump()
    (incoming,) = net.take(b, IncomingCall)
    assert incoming.request.get("Session-Expires") == "90"
    assert incoming.request.cseq.seq == 2
    assert any(w.startswith(b"SIP/2.0 422") for w in net.wire)


def test_digest_challenge_from_a_trunk_is_answered() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    trunk = DigestServer(realm="trunk.test", secret=b"k" * 32)
    call, outs = a.invite(
        "sip:+15551230000@127.0.0.2:5070", now=0.0, sdp=OFFER.serialize(),
        credentials=Credentials("clinic", "s3cret"), headers=(("Identity", "abc.def.ghi;info=<https://x/c.pem>"),),
    )  # fmt: skip
    net.send(a, outs)
    net.pump()
    (first,) = net.take(b, IncomingCall)
    assert first.request.get("Identity") == "abc.def.ghi;info=<https://x/c.pem>"
    net.send(
        b, first.call.reject(407, net.now, headers=(("Proxy-Authenticate", trunk.challenge(0.0)),))
    )
    net.pump()
    (second,) = net.take(b, IncomingCall)
    auth = second.request.get("Proxy-Authorization")
    assert auth is not None
    assert trunk.verify(auth, method="INVITE", password="s3cret", now=1.0) is True
    assert second.request.cseq.seq == 2
    assert second.request.call_id == call.call_id
    answer_sdp, _ = build_answer(parse_sdp(second.request.body), B_MEDIA, session_id=2, version=1)
    net.send(b, second.call.answer(answer_sdp.serialize(), net.now))
    net.pump()
    assert net.take(a, CallAnswered)
    assert not net.take(a, CallFailed)


def test_wrong_password_fails_with_the_challenge_status() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    trunk = DigestServer(realm="trunk.test", secret=b"k" * 32)
    _call, outs = a.invite("sip:x@127.0.0.2:5070", now=0.0, sdp=OFFER.serialize(),
                          credentials=Credentials("clinic", "wrong"))  # fmt: skip
    net.send(a, outs)
    net.pump()
    for _ in range(2):
        (incoming,) = net.take(b, IncomingCall)
        challenge = (("WWW-Authenticate", trunk.challenge(0.0)),)
        net.send(b, incoming.call.reject(401, net.now, headers=challenge))
        net.pump()
        if net.events[a]:
            break
    assert [f.status for f in net.take(a, CallFailed)] == [401]


def test_policy_acl_and_concurrency_limits() -> None:
    a = make_ua("127.0.0.1", 5060)
    b = make_ua("127.0.0.2", 5070, policy=InboundPolicy.from_strings(["10.0.0.0/8"]))
    net = Net(a, b)
    _call, outs = a.invite("sip:bob@127.0.0.2:5070", now=0.0, sdp=OFFER.serialize())
    net.send(a, outs)
    net.pump()
    assert [f.status for f in net.take(a, CallFailed)] == [403]
    (refused,) = net.take(b, PolicyRefused)
    assert refused.rule == "acl"
    assert refused.source[1] == "127.0.0.1"
    c = make_ua("127.0.0.3", 5080, policy=InboundPolicy(max_concurrent=1, retry_after=7))
    net = Net(a, c)
    _first, outs = a.invite("sip:x@127.0.0.3:5080", now=0.0, sdp=OFFER.serialize())
    net.send(a, outs)
    second, outs = a.invite("sip:y@127.0.0.3:5080", now=0.0, sdp=OFFER.serialize())
    net.send(a, outs)
    net.pump()
    (failed,) = net.take(a, CallFailed)
    assert failed.call is second
    assert failed.status == 503
    assert failed.response is not None
    assert failed.response.get("Retry-After") == "7"
    assert len(net.take(c, IncomingCall)) == 1


def test_cps_limit_token_bucket() -> None:
    policy = InboundPolicy(max_cps=2.0)
    assert [policy.check("127.0.0.1", 0, 0.0) for _ in range(3)][2] is not None
    assert policy.check("127.0.0.1", 0, 0.5) is None


def test_options_keepalive_and_registration_with_auth() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    key, outs = a.options("sip:127.0.0.2:5070", now=0.0)
    net.send(a, outs)
    net.pump()
    assert net.take(a, OptionsResult) == [OptionsResult(key, 200)]
    key, outs = a.options("sip:127.0.0.9:5070", now=0.0)  # nobody there
    net.send(a, outs)
    net.advance(40.0)
    assert net.take(a, OptionsResult) == [OptionsResult(key, None)]


def registrar_reply(data: bytes, server: DigestServer, now: float) -> bytes:
    req = parse_message(data)
    assert isinstance(req, Request)
    auth = req.get("Authorization")
    if auth is None or not server.verify(auth, method="REGISTER", password="pw", now=now):
        resp = Response.for_request(req, 401, to_tag="r")
        resp.add("WWW-Authenticate", server.challenge(now))
    else:
        resp = Response.for_request(req, 200, to_tag="r")
        resp.add("Contact", f"{req.get('Contact')};expires=60")
    return resp.serialize()


def test_registration_refreshes_at_half_expiry() -> None:
    a = make_ua("127.0.0.1", 5060)
    server = DigestServer(realm="reg.test", secret=b"r" * 32)
    reg = Registration(parse_uri("sip:127.0.0.5:5060"), "sip:clinic@reg.test",
                       Credentials("clinic", "pw"))  # fmt: skip
    outs = a.register(reg, now=0.0)
    events: list[object] = []
    now = 0.0
    for _ in range(6):
        for out in outs:
            if hasattr(out, "data"):
                reply = registrar_reply(out.data, server, now)
                outs = a.receive(reply, ("UDP", "127.0.0.5", 5060), now=now)
                break
            events.append(out)
        else:
            events += [o for o in outs if not hasattr(o, "data")]
            now = a.next_timer or now
            if now > 100:
                break
            outs = a.handle_timer(now)
    changes = [e for e in events if isinstance(e, RegistrationChanged)]
    assert changes
    assert changes[0].registered
    assert changes[0].expires == 60
    assert reg.registered
    assert reg.seq >= 4  # REGISTER, auth retry, then a refresh at t=30


VALID_ANSWERS = {
    "wsinv": 481, "esc01": 180,  # wsinv carries a To tag: a dialog we do not know
    "longreq": 180, "dblreq": 405, "escnull": 405,
    "esc02": 501, "intmeth": 501, "lwsdisp": 200, "semiuri": 200, "transports": 200,
    "mpart01": 405, "badbranch": 200, "unkscm": 416, "novelsc": 416, "unksm2": 405,
    "bext01": 420, "invut": 415, "regaut01": 405, "zeromf": 200, "cparam01": 405,
    "cparam02": 405, "regescrt": 405, "sdp01": 406, "inv2543": 180,
    "unreason": None, "noreason": None, "bcast": None,
}  # fmt: skip


@pytest.mark.parametrize(("name", "status"), sorted(VALID_ANSWERS.items()))
def test_torture_messages_get_the_ua_answer(name: str, status: int | None) -> None:
    ua = make_ua("127.0.0.1", 5060)
    outs = ua.receive((VECTORS / f"{name}.dat").read_bytes(), ("UDP", "127.0.0.7", 5099), now=0.0)
    replies = [parse_message(o.data) for o in outs if hasattr(o, "data")]
    calls = [e for e in outs if isinstance(e, IncomingCall)]
    if calls:  # the application rings
        replies += [parse_message(o.data) for o in calls[0].call.ring(0.0) if hasattr(o, "data")]
    finals = [r.status for r in replies if isinstance(r, Response) and r.status > 100]
    assert finals == ([] if status is None else [status])
    for reply in replies:
        assert all(o.dest == ("UDP", "127.0.0.7", 5099) for o in outs if hasattr(o, "dest"))
        assert isinstance(reply, Response)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(p.stem for p in VECTORS.glob("*.dat"))),
    st.integers(0, 4000),
    st.binary(max_size=6),
    st.integers(0, 6),
)
def test_fuzz_ua_receive_never_raises(name: str, pos: int, insert: bytes, cut: int) -> None:
    """Mutated torture messages: the UA answers or drops, never raises (RFC 4475's aim)."""
    ua = make_ua("127.0.0.1", 5060)
    data = (VECTORS / f"{name}.dat").read_bytes()
    pos %= len(data) + 1
    outs = ua.receive(data[:pos] + insert + data[pos + cut :], ("UDP", "127.0.0.7", 5099), now=0.0)
    for event in outs:
        if isinstance(event, IncomingCall):
            event.call.ring(0.0)
            event.call.reject(486, 0.0)
    ua.handle_timer(100.0)


def test_per_trunk_acl_and_limits() -> None:
    rules = (
        TrunkRule.from_strings("a", ["127.0.0.1/32"], max_concurrent=1),
        TrunkRule.from_strings("b", ["127.0.0.5/32"], max_cps=1.0),
    )
    caller = make_ua("127.0.0.1", 5060)
    stranger = make_ua("127.0.0.9", 5090)
    gw = make_ua("127.0.0.2", 5070, policy=InboundPolicy(trunks=rules))
    net = Net(caller, stranger, gw)
    _, outs = caller.invite("sip:x@127.0.0.2:5070", now=0.0, sdp=OFFER.serialize())
    net.send(caller, outs)
    _, outs = caller.invite("sip:y@127.0.0.2:5070", now=0.0, sdp=OFFER.serialize())
    net.send(caller, outs)
    _, outs = stranger.invite("sip:z@127.0.0.2:5070", now=0.0, sdp=OFFER.serialize())
    net.send(stranger, outs)
    net.pump()
    (incoming,) = net.take(gw, IncomingCall)
    assert incoming.call.trunk == "a"
    assert [f.status for f in net.take(caller, CallFailed)] == [503]
    assert [f.status for f in net.take(stranger, CallFailed)] == [403]
    assert [r.rule for r in net.take(gw, PolicyRefused)] == ["concurrent-calls", "acl"]


def test_a_2xx_from_a_second_fork_is_acked_and_hung_up() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, _ = setup_call(net, a, b)
    (answered,) = net.take(a, CallAnswered)
    fork = answered.response
    fork.set("To", str(fork.to.with_tag("other-fork")))
    outs = a.receive(fork.serialize(), ("UDP", "127.0.0.2", 5070), now=net.now)
    sent = [parse_message(o.data) for o in outs if hasattr(o, "data")]
    assert [(m.method, m.to.tag) for m in sent if isinstance(m, Request)] == [
        ("ACK", "other-fork"),
        ("BYE", "other-fork"),
    ]
    assert call.state is SessionState.CONFIRMED
    assert call.dialog is not None
    assert call.dialog.remote_tag != "other-fork"
