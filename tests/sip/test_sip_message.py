"""Parser/serializer tests on the RFC 4475 torture vectors and hand-built messages."""

from __future__ import annotations

import contextlib
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carrier.sip.headers import NameAddr, Via
from carrier.sip.message import (
    Request,
    Response,
    SipParseError,
    StreamFramer,
    parse_message,
)
from carrier.sip.stateless import error_response
from carrier.sip.uri import parse_uri

VECTORS = pathlib.Path(__file__).parents[1] / "vectors" / "sip" / "rfc4475"


def vector(name: str) -> bytes:
    return (VECTORS / f"{name}.dat").read_bytes()


# RFC 4475 3.1.1 (valid) plus the 3.2-3.4 messages that are syntactically valid.
VALID = [
    "wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq",
    "semiuri", "transports", "mpart01", "unreason", "noreason",
    "badbranch", "unkscm", "novelsc", "unksm2", "bext01", "invut", "regaut01",
    "bcast", "zeromf", "cparam01", "cparam02", "regescrt", "sdp01", "inv2543",
]  # fmt: skip

# RFC 4475 3.1.2 (invalid) and 3.3 messages that break syntax: the status to answer,
# or None where the RFC says the message (a response) is discarded.
INVALID: dict[str, int | None] = {
    "badinv01": 400, "clerr": 400, "ncl": 400, "scalar02": 400, "scalarlg": None,
    "quotbal": 400, "ltgtruri": 400, "lwsruri": 400, "lwsstart": 400, "trws": 400,
    "escruri": 400, "baddate": 400, "regbadct": 400, "badaspec": 400, "baddn": 400,
    "badvers": 505, "mismatch01": 400, "mismatch02": 400, "bigcode": None,
    "insuf": 400, "multi01": 400, "mcl01": 400,
}  # fmt: skip


def test_every_vector_is_classified() -> None:
    names = {p.stem for p in VECTORS.glob("*.dat")}
    assert names == set(VALID) | set(INVALID)


@pytest.mark.parametrize("name", VALID)
def test_valid_vectors_parse_and_round_trip(name: str) -> None:
    msg = parse_message(vector(name))
    again = parse_message(msg.serialize())
    assert type(again) is type(msg)
    assert again.body == msg.body
    strip = [(k, v) for k, v in msg.headers if k != "Content-Length"]
    assert [(k, v) for k, v in again.headers if k != "Content-Length"] == strip
    assert again.start_line() == msg.start_line()
    # Typed views work on every valid message.
    assert msg.vias
    assert msg.cseq.seq >= 0
    assert msg.call_id


@pytest.mark.parametrize(("name", "status"), sorted(INVALID.items()))
def test_invalid_vectors_get_the_right_answer(name: str, status: int | None) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(vector(name))
    response = error_response(info.value)
    if status is None:
        assert response is None
        return
    assert response is not None
    assert response.status == status
    assert info.value.status_code == status
    # The answer carries the request's identifiers as received (they may be the
    # malformed part, so they are copied, not re-parsed).
    wire = response.serialize()
    assert wire.startswith(f"SIP/2.0 {status} ".encode())
    assert b"\r\nVia: " in wire
    assert b"\r\nCSeq: " in wire


def test_wsinv_fields() -> None:
    msg = parse_message(vector("wsinv"))
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert msg.uri.user == "vivekg"
    assert msg.uri.params == (("unknownparam", None),)
    assert msg.to.tag == "1918181833n"
    assert msg.from_.display == 'J Rosenberg \\"'
    assert msg.from_.tag == "98asjd8"
    assert msg.get("Max-Forwards") == "0068"
    assert msg.cseq.seq == 9
    assert msg.cseq.method == "INVITE"
    vias = msg.vias
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert msg.get("Subject") == ""
    assert msg.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    (contact,) = msg.contacts
    assert contact.display == 'Quoted string ""'
    assert contact.param("newparam") == "newvalue"
    assert contact.param("secondparam") == ""
    assert contact.param("q") == "0.33"
    (route,) = msg.routes
    assert route.uri.param("lr") == ""
    assert route.uri.param("unknownwith") == "value"
    assert msg.content_type == "application/sdp"
    assert len(msg.body) == 150


def test_intmeth_fields() -> None:
    msg = parse_message(vector("intmeth"))
    assert isinstance(msg, Request)
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert msg.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert msg.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert msg.to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.from_.display == "token1~` token2'+_ token3*%!.-"
    assert msg.from_.tag == "_token~1'+`*%!-."
    assert msg.from_.param("fromParam''~+*_!.-%") == '"работающий"'
    assert msg.via.branch == "z9hG4bK-.!%66*_+`'~"
    assert msg.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def test_escapes_are_kept_verbatim() -> None:
    msg = parse_message(vector("esc01"))
    assert isinstance(msg, Request)
    assert msg.uri.user == "sips%3Auser%40example.com"
    (contact,) = msg.contacts
    assert contact.uri.params == (("%6C%72", None), ("n%61me", "v%61lue%25%34%31"))
    esc02 = parse_message(vector("esc02"))
    assert isinstance(esc02, Request)
    assert esc02.method == "RE%47IST%45R"
    assert len(esc02.contacts) == 2  # C%6Fntact is a different (unknown) header
    assert esc02.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_semicolon_in_user_part_and_list_header_folding() -> None:
    msg = parse_message(vector("semiuri"))
    assert isinstance(msg, Request)
    assert msg.uri.user == "user;par=u%40example.net"
    assert msg.uri.host == "example.com"
    assert msg.uri.params == ()
    assert msg.get_all("Accept") == [
        "application/sdp", "application/pkcs7-mime", "multipart/mixed",
        "multipart/signed", "message/sip", "message/sipfrag",
    ]  # fmt: skip


def test_responses_with_unusual_reason_phrases() -> None:
    unreason = parse_message(vector("unreason"))
    assert isinstance(unreason, Response)
    assert unreason.status == 200
    assert unreason.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    noreason = parse_message(vector("noreason"))
    assert isinstance(noreason, Response)
    assert (noreason.status, noreason.reason) == (100, "")


def test_datagram_with_two_requests_keeps_the_first() -> None:
    msg = parse_message(vector("dblreq"))
    assert isinstance(msg, Request)
    assert msg.method == "REGISTER"
    assert msg.body == b""
    assert msg.contacts[0].uri.user == "j.user"


def test_binary_multipart_body_is_framed_by_content_length() -> None:
    msg = parse_message(vector("mpart01"))
    assert len(msg.body) == 553
    assert b"\x00" in msg.body
    assert msg.body.endswith(b"--7a9cbec02ceef655--\r\n")


def test_bare_addr_spec_params_belong_to_the_header() -> None:
    cparam01 = parse_message(vector("cparam01"))
    (contact,) = cparam01.contacts
    assert contact.uri.params == ()
    assert contact.param("unknownparam") == ""
    cparam02 = parse_message(vector("cparam02"))
    (contact,) = cparam02.contacts
    assert contact.uri.param("unknownparam") == ""
    assert contact.params == ()


def test_longreq_has_34_vias_in_order() -> None:
    msg = parse_message(vector("longreq"))
    hosts = [v.host for v in msg.vias]
    assert len(hosts) == 34
    assert hosts[0] == "sip33.example.com"
    assert hosts[-1] == "host.example.com"


def test_unknown_scheme_kept_opaque() -> None:
    msg = parse_message(vector("unkscm"))
    assert isinstance(msg, Request)
    assert msg.uri.scheme == "nobodyknowsthisscheme"
    assert not msg.uri.is_sip


def test_stream_framer_cuts_every_vector_fed_in_small_chunks() -> None:
    # inv2543 has no Content-Length (RFC 2543) and dblreq is one datagram whose
    # trailing "INVITE" is noise (RFC 4475 3.1.1.8): both are datagram-only cases.
    names = [n for n in VALID if n not in ("inv2543", "dblreq")]
    stream = b"\r\n".join(vector(n) for n in names)
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(0, len(stream), 37):
        out.extend(framer.feed(stream[i : i + 37]))
    assert len(out) == len(names)
    for data in out:
        parse_message(data)
    assert framer.buffered == 0


def test_stream_framer_waits_for_a_short_body_and_refuses_a_negative_length() -> None:
    framer = StreamFramer()
    assert framer.feed(vector("clerr")) == []
    assert framer.buffered > 0
    with pytest.raises(SipParseError):
        StreamFramer().feed(vector("ncl"))


def test_serializer_builds_a_response_for_a_request() -> None:
    req = parse_message(vector("lwsdisp"))
    assert isinstance(req, Request)
    resp = Response.for_request(req, 200, to_tag="abc")
    parsed = parse_message(resp.serialize())
    assert isinstance(parsed, Response)
    assert parsed.to.tag == "abc"
    assert parsed.cseq.method == "OPTIONS"
    assert parsed.get("Content-Length") == "0"


def test_via_received_rport_and_ipv6() -> None:
    via = Via.parse("SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKx;rport;received=192.0.2.1")
    assert via.host == "[2001:db8::9]"
    assert via.port == 5070
    assert via.has_rport
    assert via.rport is None
    assert via.received == "192.0.2.1"
    via2 = via.with_param("rport", "5071")
    assert Via.parse(str(via2)).rport == 5071


def test_name_addr_round_trip() -> None:
    na = NameAddr.parse('"Clinic \\"A\\"" <sip:+15551230000@192.0.2.1:5060;user=phone>;tag=x')
    assert na.display == 'Clinic "A"'
    assert NameAddr.parse(str(na)) == na
    uri = parse_uri("sips:alice:pw@example.com:5061;transport=tcp?Subject=hi&X=1")
    assert (uri.user, uri.password, uri.port, uri.transport) == ("alice", "pw", 5061, "TCP")
    assert parse_uri(str(uri)) == uri


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_only_raise_parse_errors(data: bytes) -> None:
    try:
        parse_message(data)
    except SipParseError as err:
        error_response(err)


MUTATIONS = st.sampled_from(VALID + list(INVALID))


@settings(max_examples=400, deadline=None)
@given(MUTATIONS, st.integers(0, 4000), st.binary(min_size=0, max_size=8), st.integers(0, 8))
def test_fuzz_mutated_vectors_only_raise_parse_errors(
    name: str, pos: int, insert: bytes, cut: int
) -> None:
    data = vector(name)
    pos %= len(data) + 1
    mutated = data[:pos] + insert + data[pos + cut :]
    try:
        msg = parse_message(mutated)
    except SipParseError as err:
        response = error_response(err)
        if response is not None:
            response.serialize()
        return
    parse_message(msg.serialize())
    framer = StreamFramer()
    with contextlib.suppress(SipParseError):
        framer.feed(mutated)


def test_empty_list_header_has_no_elements() -> None:
    data = vector("lwsdisp").replace(b"l: 0\r\n", b"Supported:\r\nAllow: \r\nl: 0\r\n")
    msg = parse_message(data)
    assert msg.tokens("Supported") == []
    assert msg.get_all("Allow") == []


def test_unquoted_utf8_display_name_is_accepted_but_separators_are_not() -> None:
    assert NameAddr.parse("José Núñez <sip:a@192.0.2.1>").display == "José Núñez"
    with pytest.raises(SipParseError):
        NameAddr.parse("Núñez, José <sip:a@192.0.2.1>")


def test_stream_framer_counts_double_crlf_keepalives() -> None:
    framer = StreamFramer()
    out = framer.feed(b"\r\n\r\n" + vector("lwsdisp") + b"\r\n\r\n")
    assert len(out) == 1
    assert framer.pings == 2


def test_empty_via_is_refused() -> None:
    data = vector("lwsdisp").replace(
        b"Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw", b"Via: "
    )
    with pytest.raises(SipParseError):
        parse_message(data)


def test_stream_framer_takes_bare_lf_line_ends_as_the_datagram_parser_does() -> None:
    """Real stacks (and our UDP parser) accept LF-only line ends. Before: the framer looked
    for CRLFCRLF only, so such a message was never cut and the connection hung."""
    lf = vector("lwsdisp").replace(b"\r\n", b"\n")
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(0, len(lf) * 2, 7):  # two messages, fed in small pieces
        out.extend(framer.feed((lf + lf)[i : i + 7]))
    assert [parse_message(m).call_id for m in out] == [parse_message(lf).call_id] * 2
    assert framer.buffered == 0
    # a body is framed by Content-Length after the blank line, whatever the line ends
    invite = vector("inv2543").replace(b"\r\n", b"\n")
    head, _, body = invite.partition(b"\n\n")
    msg = head + f"\nContent-Length: {len(body)}".encode() + b"\n\n" + body
    (cut,) = StreamFramer().feed(msg + b"OPTIONS")
    assert cut == msg


def test_stream_framer_counts_a_keepalive_ping_split_across_reads() -> None:
    """RFC 5626 4.4.1: CRLFCRLF is a ping wherever TCP cuts it. Before: a lone CRLF was
    thrown away at once, so a ping in two reads was never answered."""
    framer = StreamFramer()
    assert framer.feed(b"\r\n") == []
    assert framer.feed(b"\r") == []
    assert framer.feed(b"\n") == []
    assert framer.pings == 1
    out = framer.feed(b"\r\n" + vector("lwsdisp"))  # a lone CRLF before a message: skipped
    assert len(out) == 1
    assert framer.pings == 1
