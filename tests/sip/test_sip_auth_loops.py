"""A trunk that keeps challenging does not make us keep sending (RFC 3261 22.2, 22.4):
credentials that were refused (a new challenge, not stale, after we answered one) end
the attempt with the challenge's status, whatever nonce the new challenge carries, and
a trunk that says "stale" is followed a bounded number of times.

Before: the loop guard compared nonces only, so a trunk issuing a fresh nonce with each
401 (Asterisk, Kamailio and most servers do) was sent a new INVITE or REGISTER for every
challenge, without end (a REGISTER or in-dialog retry was even checked against the
first request, never the retry); and our BYE, once challenged, was never sent again, so
the trunk kept its side of the call up.
"""

from __future__ import annotations

import pytest

from carrier.sip.authretry import MAX_CHALLENGES
from carrier.sip.digest import Credentials, DigestServer
from carrier.sip.events import CallFailed, IncomingCall, RegistrationChanged
from carrier.sip.message import Request, Response, parse_message
from carrier.sip.sdp import LocalMedia, build_offer
from carrier.sip.ua import Registration
from carrier.sip.uri import parse_uri
from tests.sip.sip_uanet import Net, make_ua

OFFER = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=1)
ROUNDS = 12  # far more challenges than any bounded client answers


@pytest.mark.parametrize("stale", [False, True])
def test_an_invite_challenged_again_and_again_stops(stale: bool) -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    trunk = DigestServer(realm="trunk.test", secret=b"k" * 32)
    _call, outs = a.invite("sip:x@127.0.0.2:5070", now=0.0, sdp=OFFER.serialize(),
                           credentials=Credentials("clinic", "wrong"))  # fmt: skip
    net.send(a, outs)
    net.pump()
    sent = 0
    for round_ in range(ROUNDS):
        invites = net.take(b, IncomingCall)
        if not invites:
            break
        (incoming,) = invites
        sent += 1
        challenge = (("WWW-Authenticate", trunk.challenge(float(round_), stale=stale)),)
        net.send(b, incoming.call.reject(401, net.now, headers=challenge))
        net.pump()
    assert sent <= 1 + MAX_CHALLENGES
    assert [f.status for f in net.take(a, CallFailed)] == [401]


@pytest.mark.parametrize("stale", [False, True])
def test_a_register_challenged_again_and_again_stops(stale: bool) -> None:
    a = make_ua("127.0.0.1", 5060)
    trunk = DigestServer(realm="reg.test", secret=b"r" * 32)
    reg = Registration(parse_uri("sip:127.0.0.5:5060"), "sip:clinic@reg.test",
                       Credentials("clinic", "wrong"))  # fmt: skip
    outs = a.register(reg, now=0.0)
    sent, changes = 0, []
    for round_ in range(ROUNDS):
        datas = [o.data for o in outs if hasattr(o, "data")]
        changes += [o for o in outs if isinstance(o, RegistrationChanged)]
        if not datas:
            break
        req = parse_message(datas[0])
        assert isinstance(req, Request)
        sent += 1
        resp = Response.for_request(req, 401, to_tag=f"t{round_}")
        resp.add("WWW-Authenticate", trunk.challenge(float(round_), stale=stale))
        outs = a.receive(resp.serialize(), ("UDP", "127.0.0.5", 5060), now=0.0)
    assert sent <= 1 + MAX_CHALLENGES
    assert [(c.registered, c.status) for c in changes] == [(False, 401)]


@pytest.mark.parametrize("stale", [False, True])
def test_a_bye_challenged_again_and_again_stops(stale: bool) -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    trunk = DigestServer(realm="trunk.test", secret=b"k" * 32)
    call, outs = a.invite("sip:x@127.0.0.2:5070", now=0.0, sdp=OFFER.serialize(),
                          credentials=Credentials("clinic", "wrong"))  # fmt: skip
    net.send(a, outs)
    net.pump()
    (incoming,) = net.take(b, IncomingCall)
    net.send(b, incoming.call.answer(OFFER.serialize(), net.now))
    net.pump()
    outs = call.bye(net.now)
    sent = 0
    for round_ in range(ROUNDS):
        byes = [parse_message(o.data) for o in outs if hasattr(o, "data")]
        byes = [r for r in byes if isinstance(r, Request) and r.method == "BYE"]
        if not byes:
            break
        sent += 1
        resp = Response.for_request(byes[0], 401)
        resp.add("WWW-Authenticate", trunk.challenge(float(round_), stale=stale))
        outs = a.receive(resp.serialize(), ("UDP", "127.0.0.2", 5070), now=net.now)
    assert 2 <= sent <= 1 + MAX_CHALLENGES  # the challenge was answered, then no more
