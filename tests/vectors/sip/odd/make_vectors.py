"""Write the odd-but-legal and malformed corpus of the SIP edge (session 23, sipedge3).

    python tests/vectors/sip/odd/make_vectors.py

writes `heldout/<name>.dat` and `heldout/expected.tsv` (name, expected outcome): the
held-out split, written BEFORE the fixes of that session and never tuned to
(`tests/sip/test_sip_odd_corpus.py` reports the score). Outcomes as in the hostile
corpus: the final status the gateway answers, `ok` (200) or `drop` (no answer).

What a carrier or a careful attacker sends: compact and folded headers, header names in
any case, IPv6 references, a method in lower case (methods are case-sensitive, RFC 3261
7.1: an unknown method, 501), SIP-I multipart/mixed bodies (RFC 5621), content and
disposition a UAS must refuse with 415 (RFC 3261 8.2.3, 20.11) and the usual 4xx/5xx.
The expected answers are the RFC's, decided when the vectors were written.
"""

from __future__ import annotations

import pathlib

HERE = pathlib.Path(__file__).parent

SDP = (
    "v=0\r\n"
    "o=- 7 7 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 40010 RTP/AVP 8 0 101\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a={direction}\r\n"
)
# An ISUP IAM as SIP-I carries it (binary: bytes that are not UTF-8 included).
ISUP = b"\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63\x21\x43\x00\x0a\x03\x06\x0d\x03\x80\x90\xa2"


def sdp(direction: str = "sendrecv") -> bytes:
    return SDP.format(direction=direction).encode()


def multipart(parts: list[tuple[bytes, bytes]], boundary: bytes = b"unique-boundary-1") -> bytes:
    out = b""
    for headers, body in parts:
        out += b"--" + boundary + b"\r\n" + headers + b"\r\n" + body + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


SIP_I = [
    (b"Content-Type: application/sdp\r\n", sdp()),
    (b"Content-Type: application/ISUP;version=itu-t92+\r\n"
     b"Content-Disposition: signal;handling=optional\r\n", ISUP),
]


def request(
    name: str,
    *,
    method: str = "INVITE",
    cseq_method: str | None = None,
    headers: bytes = b"",
    content_type: bytes | None = None,
    body: bytes | None = None,
    replace: tuple[tuple[bytes, bytes], ...] = (),
    length: bool = True,
    uri: str = "sip:+15550100200@127.0.0.1:5060",
) -> bytes:
    if body is None:
        body = sdp() if method == "INVITE" else b""
    if content_type is None and body:
        content_type = b"application/sdp"
    head = (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-odd-{name};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: \"Test\" <sip:+15550100100@127.0.0.1>;tag=f-{name}\r\n"
        "To: <sip:+15550100200@127.0.0.1>\r\n"
        f"Call-ID: odd-{name}@127.0.0.1\r\n"
        f"CSeq: 1 {cseq_method or method}\r\n"
        "Contact: <sip:+15550100100@127.0.0.1:5999>\r\n"
    ).encode()
    if content_type:
        head += b"Content-Type: " + content_type + b"\r\n"
    head += headers
    if length:
        head += f"Content-Length: {len(body)}\r\n".encode()
    head += b"\r\n"
    for old, new in replace:
        assert old in head, old
        head = head.replace(old, new)
    return head + body


def compact(name: str) -> bytes:
    body = sdp()
    return (
        f"INVITE sip:+15550100200@127.0.0.1:5060 SIP/2.0\r\n"
        f"v: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-odd-{name};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"f: <sip:+15550100100@127.0.0.1>;tag=f-{name}\r\n"
        "t: <sip:+15550100200@127.0.0.1>\r\n"
        f"i: odd-{name}@127.0.0.1\r\n"
        "CSeq: 1 INVITE\r\n"
        "m: <sip:+15550100100@127.0.0.1:5999>\r\n"
        "k: timer\r\n"
        "s: compact\r\n"
        "c: application/sdp\r\n"
        f"l: {len(body)}\r\n\r\n"
    ).encode() + body


MP = b'multipart/mixed;boundary="unique-boundary-1"'

HELDOUT: dict[str, tuple[bytes, str]] = {
    "compact_form_invite": (compact("compact"), "ok"),
    "folded_subject_and_via": (request("folded", headers=b"Subject: a call\r\n  folded over\r\n",
                                       replace=((b"Via: SIP/2.0/UDP", b"Via:\r\n SIP/2.0/UDP"),)),
                               "ok"),
    "header_names_any_case": (request("case", replace=((b"Call-ID:", b"cAlL-iD:"),
                                                       (b"CSeq:", b"cseq:"), (b"Via:", b"VIA:"))),
                              "ok"),
    "lowercase_method_invite": (request("lcmethod", method="invite"), "501"),
    "ipv6_via_sent_by": (request("v6via", replace=((b"UDP 127.0.0.1:5999", b"UDP [2001:db8::9]:5999"),)),
                         "ok"),
    "ipv6_contact": (request("v6contact", replace=((b"@127.0.0.1:5999>", b"@[2001:db8::9]:5999>"),)),
                     "ok"),
    "ipv6_request_uri_options": (request("v6ruri", method="OPTIONS", uri="sip:[::1]:5060"), "ok"),
    "uppercase_uri_scheme": (request("upscheme", uri="SIP:+15550100200@127.0.0.1:5060"), "ok"),
    "tab_after_colon": (request("tab", replace=((b"CSeq: 1", b"CSeq:\t1"),)), "ok"),
    "space_before_colon": (request("spcolon", replace=((b"Max-Forwards: 70", b"Max-Forwards  :  70"),)),
                           "ok"),
    "leading_crlf_before_start_line": (b"\r\n" + request("leadcrlf"), "ok"),
    "content_type_mixed_case_params": (request("ctcase", content_type=b"Application/SDP ; charset=UTF-8"),
                                       "ok"),
    "no_content_length_on_udp": (request("nolen", length=False), "ok"),
    "two_vias_in_one_header": (request("twovia", replace=((b";rport\r\n", b";rport, SIP/2.0/UDP "
                                                            b"192.0.2.7:5060;branch=z9hG4bK-up\r\n"),)),
                               "ok"),
    "inactive_initial_offer": (request("inactive", body=sdp("inactive")), "ok"),
    "escaped_quote_display_name": (request("esc", replace=((b'"Test"', b'"Te\\"st"'),)), "ok"),
    "disposition_session_required": (request("dispreq", headers=b"Content-Disposition: session;"
                                             b"handling=required\r\n"), "ok"),
    "multipart_sdp_then_isup": (request("sipi", content_type=MP, body=multipart(SIP_I)), "ok"),
    "multipart_isup_then_sdp": (request("sipi2", content_type=MP, body=multipart(SIP_I[::-1])), "ok"),
    "multipart_isup_required_only": (request("isuponly", content_type=MP, body=multipart([
        (b"Content-Type: application/ISUP;version=itu-t92+\r\n"
         b"Content-Disposition: signal;handling=required\r\n", ISUP)])), "415"),
    "multipart_without_boundary": (request("nobound", content_type=b"multipart/mixed",
                                           body=multipart(SIP_I)), "400"),
    "multipart_sdp_part_malformed": (request("mpbad", content_type=MP, body=multipart([
        (b"Content-Type: application/sdp\r\n", b"v=0\r\nthis is not sdp\r\n"), SIP_I[1]])), "400"),
    "content_encoding_gzip": (request("gzip", headers=b"Content-Encoding: gzip\r\n"), "415"),
    "unknown_disposition_required": (request("dispfoo", headers=b"Content-Disposition: "
                                             b"x-odd;handling=required\r\n"), "415"),
    "unknown_method": (request("foo", method="FOO"), "501"),
    "require_unknown_extension": (request("req", headers=b"Require: x-nothing\r\n"), "420"),
    "sip_version_3": (request("v3", replace=((b"SIP/2.0\r\nVia", b"SIP/3.0\r\nVia"),)), "505"),
    "bye_out_of_dialog": (request("bye", method="BYE",
                                  replace=((b"127.0.0.1>\r\nCall", b"127.0.0.1>;tag=gone\r\nCall"),)),
                          "481"),
    "cancel_unknown": (request("cancel", method="CANCEL"), "481"),
    "session_expires_compact_small": (request("sesmall", headers=b"x: 30\r\n"), "422"),
}


def write(folder: pathlib.Path, vectors: dict[str, tuple[bytes, str]]) -> None:
    folder.mkdir(exist_ok=True)
    lines = []
    for name, (data, expect) in sorted(vectors.items()):
        (folder / f"{name}.dat").write_bytes(data)
        lines.append(f"{name}\t{expect}\n")
    (folder / "expected.tsv").write_text("".join(lines))


if __name__ == "__main__":
    write(HERE / "heldout", HELDOUT)
