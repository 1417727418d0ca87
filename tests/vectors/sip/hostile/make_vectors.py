"""Write the hostile-input corpus (issue 11): datagrams that once stopped, crashed or
misled the stack, each with the answer it must now get.

    python tests/vectors/sip/hostile/make_vectors.py

writes `<name>.dat` and `expected.tsv` (name, expected outcome) here, and the same for
the held-out split in `heldout/` (datagrams written after the fixes, never tuned to;
`tests/sip/test_sip_hostile_corpus.py` reports how many the stack handles). The files
are committed so tests never depend on this script. Outcomes: a status code the stack
answers (400, 483, 488, 513), `ok` (accepted: 200 to the request), `drop` (no answer).

Every datagram targets 127.0.0.1 with a placeholder port; the wire test rewrites
nothing: a UAS answers to the source address whatever the Request-URI says.
"""

from __future__ import annotations

import pathlib

HERE = pathlib.Path(__file__).parent

SDP = (
    "v=0\r\n"
    "o=- 1 1 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c={c}\r\n"
    "t=0 0\r\n"
    "m=audio {port} RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a={direction}\r\n"
)


def sdp(c: str = "IN IP4 127.0.0.1", port: str = "40000", direction: str = "sendrecv",
        extra: str = "") -> bytes:  # fmt: skip
    return (SDP.format(c=c, port=port, direction=direction) + extra).encode()


def request(
    name: str,
    *,
    method: str = "INVITE",
    call_id: bytes | None = None,
    headers: bytes = b"",
    replace: tuple[bytes, bytes] | None = None,
    body: bytes | None = None,
    length: bytes | None = None,
) -> bytes:
    """One request; `replace` swaps bytes of the head, `length` forces Content-Length."""
    cid = call_id if call_id is not None else f"hostile-{name}@127.0.0.1".encode()
    if body is None:
        body = sdp() if method == "INVITE" else b""
    head = (
        f"{method} sip:+15550100200@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{name};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: \"Test\" <sip:+15550100100@127.0.0.1>;tag=f-{name}\r\n"
        "To: <sip:+15550100200@127.0.0.1>\r\n"
    ).encode()
    head += b"Call-ID: " + cid + b"\r\n" + f"CSeq: 1 {method}\r\n".encode()
    head += b"Contact: <sip:+15550100100@127.0.0.1:5999>\r\n"
    if body:
        head += b"Content-Type: application/sdp\r\n"
    head += headers
    head += b"Content-Length: " + (length or str(len(body)).encode()) + b"\r\n\r\n"
    if replace is not None:
        assert replace[0] in head, replace
        head = head.replace(*replace)
    return head + body


def response(reason: bytes) -> bytes:
    return (
        b"SIP/2.0 200 " + reason + b"\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-not-ours\r\n"
        b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\n"
        b"Call-ID: resp@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )


MANY_VIAS = b"".join(
    f"Via: SIP/2.0/UDP 192.0.2.{i % 250}:5060;branch=z9hG4bK-v{i}\r\n".encode()
    for i in range(120)
)

PAD = b"X-Pad: " + b"p" * 17000 + b"\r\n"  # past the 16 KiB header limit

# The tuned split: written with the fixes, from the campaign's findings and the class.
CORPUS: dict[str, tuple[bytes, str]] = {
    # item 1: identifiers that are not UTF-8 (the datagram that stopped the audit writer)
    "callid_latin1": (request("callid_latin1", call_id=b"caf\xe9-1@127.0.0.1"), "400"),
    "callid_lone_continuation": (request("cont", call_id=b"\x80\x80@h"), "400"),
    "from_display_latin1": (
        request("dn_latin1", replace=(b'"Test"', b'"Jos\xe9"')), "400"),
    "from_tag_not_utf8": (request("tag_latin1", replace=(b"tag=f-tag_latin1", b"tag=\xff")),
                          "400"),
    "branch_not_utf8": (request("br", replace=(b"branch=z9hG4bK-br", b"branch=z9hG4bK\xfe")),
                        "400"),
    "subject_overlong_utf8": (request("overlong", headers=b"Subject: \xc0\xaf\r\n"), "400"),
    "subject_utf16_surrogate": (request("surr", headers=b"Subject: \xed\xa0\x80\r\n"), "400"),
    "ruri_not_utf8": (request("ruri", replace=(b"sip:+15550100200@127.0.0.1:5060 ",
                                               b"sip:\xff@127.0.0.1:5060 ")), "400"),
    "response_reason_not_utf8": (response(b"O\xff"), "drop"),
    # item 10: control characters
    "nul_in_subject": (request("nul_subject", headers=b"Subject: a\x00b\r\n"), "400"),
    "nul_in_callid": (request("nul_callid", call_id=b"abc\x00def@127.0.0.1"), "400"),
    "bare_cr_in_header": (request("bare_cr", headers=b"X-Note: a\rb\r\n"), "400"),
    "esc_in_user_agent": (request("esc", headers=b"User-Agent: \x1b[2Jx\r\n"), "400"),
    "c1_csi_in_subject": (request("c1", headers=b"Subject: \xc2\x9b31m\r\n"), "400"),
    "del_in_header": (request("del", headers=b"X-Note: a\x7fb\r\n"), "400"),
    # item 10: Max-Forwards 0
    "maxforwards_zero_invite": (request("mf0", replace=(b"Max-Forwards: 70", b"Max-Forwards: 0")),
                                "483"),
    "maxforwards_zero_bye": (request("mf0bye", method="BYE",
                                     replace=(b"Max-Forwards: 70", b"Max-Forwards: 0")), "483"),
    "maxforwards_zero_options": (request("mf0opt", method="OPTIONS",
                                         replace=(b"Max-Forwards: 70", b"Max-Forwards: 0")), "ok"),
    # numbers int() refuses or misreads
    "content_length_superscript": (request("cl_sup", length="\u00b2".encode()), "400"),
    "cseq_superscript": (request("cseq_sup", replace=(b"CSeq: 1 ", "CSeq: \u00b9 ".encode())),
                         "400"),
    "cseq_arabic_indic": (request("cseq_ar", replace=(b"CSeq: 1 ", "CSeq: \u0661 ".encode())),
                          "400"),
    "cseq_negative": (request("cseq_neg", replace=(b"CSeq: 1 ", b"CSeq: -1 ")), "400"),
    "cseq_too_large": (request("cseq_big", replace=(b"CSeq: 1 ", b"CSeq: 4294967296 ")), "400"),
    "maxforwards_superscript": (request("mf_sup", replace=(b"Max-Forwards: 70",
                                                           "Max-Forwards: \u00b2".encode())),
                                "400"),
    "session_expires_superscript": (request("se_sup",
                                            headers="Session-Expires: \u00b2\r\n".encode()), "400"),
    "content_length_huge": (request("cl_huge", length=b"999999999"), "400"),
    "content_length_ten_digits": (request("cl_10", length=b"1000000000"), "400"),
    "via_port_superscript": (request("via_sup", replace=(b"127.0.0.1:5999;branch",
                                                         "127.0.0.1:5\u00b2;branch".encode())),
                             "400"),
    # duplicated single-valued fields, oversize, abuse of structure
    "duplicate_call_id": (request("dup_cid", headers=b"Call-ID: other@127.0.0.1\r\n"), "400"),
    "duplicate_session_expires": (request("dup_se", headers=b"Session-Expires: 1800\r\n"
                                                            b"Session-Expires: 90\r\n"), "400"),
    "too_many_header_fields": (request("many", headers=b"X-Pad: a\r\n" * 300), "400"),
    "too_many_vias": (request("vias", headers=MANY_VIAS), "400"),
    # RFC 3261 21.5.11 (and 18.1.1): past our header limit the request is still answered,
    # 513, from the fields a response copies; with one of them missing (or an ACK, or a
    # response) nothing can be answered: dropped.
    "header_section_too_large": (request("big", headers=b"X-Pad: " + b"a" * 17000 + b"\r\n"),
                                 "513"),
    "oversized_options": (request("big_opt", method="OPTIONS", headers=PAD), "513"),
    "oversized_many_fields": (request("big_many", headers=(b"X-Pad: " + b"b" * 90 + b"\r\n")
                                      * 200), "513"),
    "oversized_ack": (request("big_ack", method="ACK", headers=PAD), "drop"),
    # answered since session 23: a CSeq is rebuilt from the method (RFC 3261 8.2.6.2)
    "oversized_without_cseq": (request("big_nocseq", headers=PAD,
                                       replace=(b"CSeq: 1 INVITE\r\n", b"")), "513"),
    "oversized_response": (response(b"OK").replace(b"Content-Length", PAD + b"Content-Length"),
                           "drop"),
    # a bad header line: 400 from the fields a response copies (it was dropped)
    "header_line_without_colon": (request("nocolon", headers=b"Subject urgent\r\n"), "400"),
    "header_name_empty": (request("noname", headers=b": urgent\r\n"), "400"),
    "header_name_with_space": (request("namesp", headers=b"Sub ject: urgent\r\n"), "400"),
    "folded_line_after_start_line": (request("foldfirst", replace=(
        b" SIP/2.0\r\n", b" SIP/2.0\r\n continued\r\n")), "400"),
    "callid_with_space_by_folding": (request("fold", call_id=b"abc\r\n def@127.0.0.1"), "400"),
    "callid_too_long": (request("longcid", call_id=b"c" * 300 + b"@127.0.0.1"), "400"),
    # item 10: an SDP whose connection address cannot be used, 488 instead of 200
    "sdp_c_hostname": (request("sdp_host", body=sdp(c="IN IP4 media.example.com")), "488"),
    "sdp_c_multicast": (request("sdp_mcast", body=sdp(c="IN IP4 224.2.1.1/127")), "488"),
    "sdp_c_ipv6_on_ipv4": (request("sdp_v6", body=sdp(c="IN IP6 2001:db8::1")), "488"),
    # RFC 3264 8.4: taken, nothing sent to it (was 488 while the media layer sent there)
    "sdp_c_unspecified_sendrecv": (request("sdp_zero", body=sdp(c="IN IP4 0.0.0.0")), "ok"),
    "sdp_c_unparseable": (request("sdp_bad", body=sdp(c="IN IP4 999.1.1.1")), "488"),
    "sdp_c_broadcast": (request("sdp_bcast", body=sdp(c="IN IP4 255.255.255.255")), "488"),
    "sdp_c_family_mismatch": (request("sdp_mis", body=sdp(c="IN IP6 127.0.0.1")), "488"),
    "sdp_c_unspecified_on_hold": (request("sdp_hold", body=sdp(c="IN IP4 0.0.0.0",
                                                               direction="sendonly")), "ok"),
    "sdp_port_superscript": (request("sdp_sup", body=sdp(port="4\u00b2")), "400"),
    "sdp_not_utf8": (request("sdp_l1", body=sdp(extra="a=tool:caf\xe9\r\n").replace(
        b"caf\xc3\xa9", b"caf\xe9")), "400"),
    "sdp_nul": (request("sdp_nul", body=sdp(extra="a=tool:a\x00b\r\n")), "400"),
    # relabelled 400 -> 488: well formed, more streams than we answer (RFC 3261 21.4.26)
    "sdp_too_many_media": (request("sdp_many", body=sdp(
        extra="m=video 0 RTP/AVP 31\r\n" * 20)), "488"),
    # a clean INVITE: the corpus also proves the ordinary path still answers
    "clean_invite": (request("clean"), "ok"),
}

# The held-out split: written after the fixes were finished and never tuned to.
HELDOUT: dict[str, tuple[bytes, str]] = {
    "to_display_cp1252_quote": (request("h1", replace=(b"To: <", b'To: "\x93Q\x94" <')), "400"),
    "contact_user_not_utf8": (request("h2", replace=(b"Contact: <sip:+15550100100",
                                                     b"Contact: <sip:\xe9t\xe9")), "400"),
    "vertical_tab_in_via": (request("h3", replace=(b";rport\r\n", b";rport\x0b\r\n")), "400"),
    "nul_in_method": (request("h4", replace=(b"INVITE sip:", b"INV\x00TE sip:")), "400"),
    "maxforwards_zero_message": (request("h5", method="MESSAGE",
                                         replace=(b"Max-Forwards: 70", b"Max-Forwards: 0")),
                                 "483"),
    "rseq_fullwidth_digit": (request("h6", headers="RSeq: \uff11\r\n".encode()), "400"),
    "expires_superscript": (request("h7", headers="Expires: \u00b3\r\n".encode()), "400"),
    "sdp_c_ipv4_mapped_v6": (request("h8", body=sdp(c="IN IP6 ::ffff:127.0.0.1")), "488"),
    "sdp_c_link_local_zone": (request("h9", body=sdp(c="IN IP6 fe80::1%eth0")), "488"),
    "sdp_rtpmap_superscript": (request("h10", body=sdp(extra="a=rtpmap:9\u00b2 X/8000\r\n")),
                               "400"),
    "sdp_c_reserved_class_e": (request("h11", body=sdp(c="IN IP4 240.0.0.1")), "488"),
    "duplicate_max_forwards": (request("h12", headers=b"Max-Forwards: 10\r\n"), "400"),
    "content_length_plus": (request("h13", length=b"+185"), "400"),
    "callid_with_semicolon": (request("h14", call_id=b"abc;def@127.0.0.1"), "400"),
    "nul_in_folded_continuation": (request("h15", headers=b"Subject: a\r\n b\x00c\r\n"), "400"),
    "cseq_method_dotted_i": (request("h16", replace=(b"CSeq: 1 INVITE",
                                                     "CSeq: 1 INV\u0130TE".encode())), "400"),
    "via_received_latin1": (request("h17", replace=(b";rport\r\n", b";received=\xe9\r\n")),
                            "400"),
    "sdp_audio_port_zero_only": (request("h18", body=sdp(port="0")), "488"),
    "sdp_c_unicast_with_ttl": (request("h19", body=sdp(c="IN IP4 10.0.0.1/127")), "488"),
    "sdp_with_bom": (request("h20", body=b"\xef\xbb\xbf" + sdp()), "400"),
    "response_nul_in_reason": (response(b"O\x00K"), "drop"),
    "maxforwards_double_zero": (request("h22", replace=(b"Max-Forwards: 70",
                                                        b"Max-Forwards: 00")), "483"),
    "register_maxforwards_zero": (request("h23", method="REGISTER",
                                          replace=(b"Max-Forwards: 70", b"Max-Forwards: 0")),
                                  "405"),
    # relabelled drop -> 400 (RFC 3261 8.2, 21.4.1: a malformed request gets 400)
    "header_name_not_ascii": (request("h25", headers="S\u00fcbject: x\r\n".encode()), "400"),
    # Written before the 513 fix (SIP/RTP edge hunt), labels from RFC 3261 21.5.11 / 8.2.6.
    "oversized_bye": (request("h26", method="BYE", headers=PAD), "513"),
    "oversized_register": (request("h27", method="REGISTER", headers=PAD), "513"),
    "oversized_compact_names": (request("h28", headers=PAD, replace=(
        b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-h28;rport\r\nMax-Forwards: 70\r\n"
        b"From: \"Test\" <sip:+15550100100@127.0.0.1>;tag=f-h28\r\n"
        b"To: <sip:+15550100200@127.0.0.1>\r\nCall-ID: ",
        b"v: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-h28;rport\r\nMax-Forwards: 70\r\n"
        b"f: \"Test\" <sip:+15550100100@127.0.0.1>;tag=f-h28\r\n"
        b"t: <sip:+15550100200@127.0.0.1>\r\ni: ")), "513"),
    "oversized_pad_first": (request("h29", replace=(b"Via: ", PAD + b"Via: ")), "513"),
    "oversized_lf_line_ends": (request("h30", headers=PAD).replace(b"\r\n", b"\n"), "513"),
    "oversized_folded_pad": (request("h31", headers=b"X-Pad: a" + (b"\r\n " + b"q" * 80) * 210
                                     + b"\r\n"), "513"),
    "oversized_without_via": (request("h32", headers=PAD, replace=(
        b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-h32;rport\r\n", b"")), "drop"),
    # Written before the m= line count fix: a valid offer past our stream limit is not
    # malformed, it is not acceptable here (RFC 3261 13.3.1.3, 21.4.26): 488, not 400.
    "sdp_seventeen_audio_streams": (request("h33", body=sdp(extra="m=audio 0 RTP/AVP 0\r\n" * 16)),
                                    "488"),
    "sdp_many_declined_text_streams": (request("h34", body=sdp(
        extra="m=text 0 RTP/AVP 98\r\n" * 40)), "488"),
    "sdp_m_line_without_format": (request("h35", body=sdp(extra="m=audio 40002 RTP/AVP\r\n")),
                                  "400"),
    "oversized_response_180": (response(b"Ringing").replace(b"200 Ringing", b"180 Ringing")
                               .replace(b"Content-Length", PAD + b"Content-Length"), "drop"),
}


def write(folder: pathlib.Path, vectors: dict[str, tuple[bytes, str]]) -> None:
    folder.mkdir(exist_ok=True)
    lines = []
    for name, (data, expect) in sorted(vectors.items()):
        (folder / f"{name}.dat").write_bytes(data)
        lines.append(f"{name}\t{expect}\n")
    (folder / "expected.tsv").write_text("".join(lines))


if __name__ == "__main__":
    write(HERE, CORPUS)
    write(HERE / "heldout", HELDOUT)
