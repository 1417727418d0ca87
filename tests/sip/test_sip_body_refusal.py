"""A body we cannot read is refused with 415, never read as something else (RFC 3261
8.2.3, 20.11, 20.12): an INVITE, re-INVITE or UPDATE whose body is compressed
(Content-Encoding), is not SDP (Content-Type), or is marked for a use other than the
session with handling=required (Content-Disposition) gets 415 Unsupported Media Type
with the Accept, Accept-Encoding the peer can retry with; nothing reaches the application.

Before: the first INVITE checked the Content-Type only (a gzip body went on to the SDP
parser, a plain one with "Content-Encoding: gzip" was answered 200), and in a dialog no
check was made at all (a text/plain re-INVITE got 400 "bad SDP line" from the gateway).
"""

from __future__ import annotations

import pytest

from carrier.sip.body import ACCEPT
from carrier.sip.events import IncomingCall, ReInviteReceived, UpdateReceived
from carrier.sip.message import Response, parse_message
from carrier.sip.sdp import LocalMedia, build_offer
from carrier.sip.transaction import SendData
from tests.sip.sip_uanet import Net, make_ua
from tests.sip.test_sip_ua import setup_call

SDP = build_offer(LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=1).serialize()

# (extra header lines, content type, the 415's header that names what we take)
REFUSED = {
    "gzip": ("Content-Encoding: gzip\r\n", "application/sdp", ("Accept-Encoding", "identity")),
    "compact_e": ("e: deflate\r\n", "application/sdp", ("Accept-Encoding", "identity")),
    "two_codings": ("Content-Encoding: identity, gzip\r\n", "application/sdp",
                    ("Accept-Encoding", "identity")),
    "text_plain": ("", "text/plain", ("Accept", ACCEPT)),
    "no_type": ("", None, ("Accept", ACCEPT)),
    "render": ("Content-Disposition: render\r\n", "application/sdp",
               ("Accept", ACCEPT)),
    "icon_required": ("Content-Disposition: icon;handling=required\r\n", "application/sdp",
                      ("Accept", ACCEPT)),
}  # fmt: skip
ACCEPTED = {
    "identity": "Content-Encoding: identity\r\n",
    "session": "Content-Disposition: session\r\n",
    "session_required": "Content-Disposition: session;handling=required\r\n",
    "render_optional": "Content-Disposition: render;handling=optional\r\n",
    "plain": "",
}


def invite(extra: str, content_type: str | None, body: bytes = SDP) -> bytes:
    head = (
        "INVITE sip:+15550100@127.0.0.2:5070 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-body\r\nMax-Forwards: 70\r\n"
        "From: <sip:+15550101@127.0.0.1>;tag=f1\r\nTo: <sip:+15550100@127.0.0.2>\r\n"
        "Call-ID: body@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:5060>\r\n"
    )
    head += extra
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def finals(outs: list[object]) -> list[Response]:
    replies = [parse_message(o.data) for o in outs if isinstance(o, SendData)]
    return [r for r in replies if isinstance(r, Response) and r.status > 100]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_an_invite_with_a_body_we_cannot_read_gets_415(name: str) -> None:
    extra, content_type, names = REFUSED[name]
    ua = make_ua("127.0.0.2", 5070)
    outs = ua.receive(invite(extra, content_type), ("UDP", "127.0.0.1", 5060), now=0.0)
    assert not [o for o in outs if isinstance(o, IncomingCall)]
    (resp,) = finals(outs)
    assert resp.status == 415
    assert resp.get(names[0]) == names[1]
    assert not ua.calls


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_an_invite_with_a_readable_sdp_body_rings(name: str) -> None:
    ua = make_ua("127.0.0.2", 5070)
    outs = ua.receive(invite(ACCEPTED[name], "application/sdp"), ("UDP", "127.0.0.1", 5060),
                      now=0.0)  # fmt: skip
    assert [o for o in outs if isinstance(o, IncomingCall)]
    assert not finals(outs)


@pytest.mark.parametrize("method", ["INVITE", "UPDATE"])
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_an_offer_in_the_dialog_with_a_body_we_cannot_read_gets_415(method: str, name: str
                                                                    ) -> None:  # fmt: skip
    extra, content_type, names = REFUSED[name]
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, inbound = setup_call(net, a, b)
    net.events[b].clear()
    outs = call.reinvite(SDP, net.now) if method == "INVITE" else call.update(net.now, sdp=SDP)
    net.send(a, outs)
    data, dest, sender = net.queue.pop()
    typed = f"Content-Type: {content_type}\r\n" if content_type else ""
    data = data.replace(b"Content-Type: application/sdp\r\n", (extra + typed).encode())
    net.queue.append((data, dest, sender))
    net.pump()
    assert not net.take(b, ReInviteReceived)
    assert not net.take(b, UpdateReceived)
    replies = [parse_message(w) for w in net.wire if w.startswith(b"SIP/2.0 415")]
    assert len(replies) == 1
    assert replies[0].get(names[0]) == names[1]
    assert replies[0].to.tag == inbound.local_tag  # answered inside the dialog


# ---- SIP-I: multipart/mixed bodies (RFC 5621, ITU-T Q.1912.5) ----------------------------
# Before: every multipart INVITE got 415 (the Content-Type was not application/sdp), so a
# SIP-I trunk, which sends the SDP beside the ISUP IAM, could not reach us at all.
ISUP = b"\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63\x21\x43\x00\x80\x90"
MULTIPART = 'multipart/mixed;boundary="sip-i-1"'


def sip_i(sdp: bytes | None = SDP, isup_handling: str = "optional") -> bytes:
    parts = b""
    if sdp is not None:
        parts += b"--sip-i-1\r\nContent-Type: application/sdp\r\n\r\n" + sdp + b"\r\n"
    parts += (b"--sip-i-1\r\nContent-Type: application/ISUP;version=itu-t92+\r\n"
              b"Content-Disposition: signal;handling=" + isup_handling.encode() + b"\r\n\r\n"
              + ISUP + b"\r\n")  # fmt: skip
    return parts + b"--sip-i-1--\r\n"


def as_sip_i(data: bytes) -> bytes:
    """``data`` (a message with an SDP body) with that SDP inside a SIP-I body."""
    body = sip_i()
    head = data.partition(b"\r\n\r\n")[0]
    head = head.replace(b"Content-Type: application/sdp", f"Content-Type: {MULTIPART}".encode())
    head = head.split(b"\r\nContent-Length:")[0] + f"\r\nContent-Length: {len(body)}".encode()
    return head + b"\r\n\r\n" + body


def test_a_sip_i_invite_rings_with_the_sdp_part_as_its_offer() -> None:
    ua = make_ua("127.0.0.2", 5070)
    outs = ua.receive(invite("", MULTIPART, sip_i()), ("UDP", "127.0.0.1", 5060), now=0.0)
    (incoming,) = [o for o in outs if isinstance(o, IncomingCall)]
    assert not finals(outs)
    assert incoming.call.remote_sdp == SDP


@pytest.mark.parametrize(("body", "status"), [
    (sip_i(isup_handling="required"), 415),  # a part we cannot take, handling required
    (sip_i(None, isup_handling="required"), 415),
    (sip_i().replace(b"--sip-i-1--\r\n", b""), 400),  # never closed: cannot be split
])  # fmt: skip
def test_a_multipart_invite_we_cannot_take_is_refused(body: bytes, status: int) -> None:
    ua = make_ua("127.0.0.2", 5070)
    outs = ua.receive(invite("", MULTIPART, body), ("UDP", "127.0.0.1", 5060), now=0.0)
    assert not [o for o in outs if isinstance(o, IncomingCall)]
    (resp,) = finals(outs)
    assert resp.status == status
    if status == 415:
        assert "multipart/mixed" in (resp.get("Accept") or "")
    # and the next INVITE is served
    outs = ua.receive(invite("", "application/sdp").replace(b"body@", b"next@"),
                      ("UDP", "127.0.0.1", 5060), now=1.0)  # fmt: skip
    assert [o for o in outs if isinstance(o, IncomingCall)]


def test_a_multipart_invite_without_sdp_and_only_optional_parts_is_a_late_offer() -> None:
    ua = make_ua("127.0.0.2", 5070)
    outs = ua.receive(invite("", MULTIPART, sip_i(None)), ("UDP", "127.0.0.1", 5060), now=0.0)
    (incoming,) = [o for o in outs if isinstance(o, IncomingCall)]
    assert incoming.call.remote_sdp is None  # the gateway offers in its 200 (RFC 3264 5)


def test_a_sip_i_reinvite_offers_its_sdp_part() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, _ = setup_call(net, a, b)
    net.events[b].clear()
    net.send(a, call.reinvite(SDP, net.now))
    data, dest, sender = net.queue.pop()
    net.queue.append((as_sip_i(data), dest, sender))
    net.pump()
    (event,) = net.take(b, ReInviteReceived)
    assert event.sdp == SDP


def test_a_sip_i_answer_in_the_200_is_read_from_its_sdp_part() -> None:
    a, b = make_ua("127.0.0.1", 5060), make_ua("127.0.0.2", 5070)
    net = Net(a, b)
    call, _ = setup_call(net, a, b, answer=False)
    # the UAS answers with a SIP-I 200: the answer SDP beside an ISUP ANM
    inbound = b.calls[call.call_id]
    outs = inbound.answer(SDP, net.now)
    for out in outs:
        if isinstance(out, SendData) and out.data.startswith(b"SIP/2.0 200"):
            net.queue.append((as_sip_i(out.data), out.dest, b))
        else:
            net.send(b, [out])
    net.pump()
    assert call.remote_sdp == SDP
