"""SDP parse/serialize and offer/answer (RFC 4566, 3264, 4568)."""

from __future__ import annotations

import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carrier.sip.sdp import (
    Crypto,
    LocalMedia,
    SdpError,
    accept_answer,
    build_answer,
    build_offer,
    parse_sdp,
)

VECTORS = pathlib.Path(__file__).parents[1] / "vectors" / "sip"
KEY_A = bytes(range(30))
KEY_B = bytes(range(30, 60))
LOCAL = LocalMedia(address="127.0.0.1", port=20000)


def pjsua_offer() -> bytes:
    return (VECTORS / "sdp" / "pjsua_srtp_offer.sdp").read_bytes()


def test_parse_and_round_trip_a_real_offer() -> None:
    sdp = parse_sdp(pjsua_offer())
    audio = sdp.media[0]
    assert audio.proto == "RTP/SAVP"
    assert audio.port == 4000
    assert audio.rtpmap()[101] == ("telephone-event", 8000, 1)
    assert [c.suite for c in audio.cryptos] == [
        "AES_CM_128_HMAC_SHA1_80",
        "AES_CM_128_HMAC_SHA1_32",
    ]
    assert audio.cryptos[0].lifetime == "2^20"
    assert audio.cryptos[0].mki == "1:32"
    assert len(audio.cryptos[0].key) == 30
    assert sdp.serialize() == pjsua_offer()


def test_answer_skips_g722_picks_pcmu_keeps_dtmf_and_refuses_video() -> None:
    answer, neg = build_answer(
        parse_sdp(pjsua_offer()), LOCAL, session_id=1, version=1, srtp_key=KEY_B
    )
    assert (neg.codec, neg.payload_type, neg.dtmf_payload_type) == ("PCMU", 0, 101)
    assert (neg.remote_address, neg.remote_port, neg.direction) == ("127.0.0.1", 4000, "sendrecv")
    assert neg.remote_crypto is not None
    assert neg.remote_crypto.suite == "AES_CM_128_HMAC_SHA1_80"
    assert neg.local_crypto == Crypto(1, "AES_CM_128_HMAC_SHA1_80", KEY_B)
    reparsed = parse_sdp(answer.serialize())
    assert reparsed.media[0].proto == "RTP/SAVP"
    assert reparsed.media[0].formats == ["0", "101"]
    assert reparsed.media[1].port == 0


@pytest.mark.parametrize(
    ("offered", "answered"),
    [("sendonly", "recvonly"), ("recvonly", "sendonly"), ("inactive", "inactive")],
)
def test_hold_directions_are_mirrored(offered: str, answered: str) -> None:
    offer = build_offer(
        LocalMedia("127.0.0.1", 30000, srtp="off"), session_id=5, version=2, direction=offered
    )
    answer, neg = build_answer(
        offer, LocalMedia("127.0.0.1", 20000, srtp="off"), session_id=1, version=1
    )
    assert neg.direction == answered
    assert parse_sdp(answer.serialize()).media[0].direction == answered
    back = accept_answer(offer, answer)
    assert back.direction == offered


def test_offer_answer_round_trip_with_srtp() -> None:
    offer = build_offer(LOCAL, session_id=7, version=1, srtp_key=KEY_A)
    answer, server_side = build_answer(
        parse_sdp(offer.serialize()),
        LocalMedia("127.0.0.1", 40000),
        session_id=9,
        version=1,
        srtp_key=KEY_B,
    )
    client_side = accept_answer(offer, parse_sdp(answer.serialize()))
    assert client_side.remote_port == 40000
    assert server_side.remote_port == 20000
    assert client_side.local_crypto is not None
    assert client_side.local_crypto.key == KEY_A
    assert client_side.remote_crypto is not None
    assert client_side.remote_crypto.key == KEY_B
    assert server_side.remote_crypto is not None
    assert server_side.remote_crypto.key == KEY_A


def test_refusals_carry_488() -> None:
    g722_only = parse_sdp(
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 9\r\n"
    )
    with pytest.raises(SdpError) as info:
        build_answer(g722_only, LOCAL, session_id=1, version=1)
    assert info.value.status_code == 488
    plain = build_offer(LocalMedia("127.0.0.1", 1, srtp="off"), session_id=1, version=1)
    with pytest.raises(SdpError):
        build_answer(plain, LocalMedia("127.0.0.1", 2, srtp="required"), session_id=1, version=1)
    with pytest.raises(SdpError) as bad:
        parse_sdp(b"nonsense")
    assert bad.value.status_code == 400


@given(st.text(max_size=300))
def test_fuzz_parse_only_raises_sdp_error(text: str) -> None:
    try:
        sdp = parse_sdp(text)
    except SdpError:
        return
    parse_sdp(sdp.serialize())


SESSION = "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n"
CRYPTO = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
SAVP_THEN_AVP = (SESSION + "m=audio 4000 RTP/SAVP 0\r\n" + CRYPTO
                 + "m=audio 4002 RTP/AVP 0\r\n")  # "best effort" SRTP: the same stream twice
AVP_THEN_SAVP = SESSION + "m=audio 4002 RTP/AVP 0\r\nm=audio 4000 RTP/SAVP 0\r\n" + CRYPTO


@pytest.mark.parametrize(("offer", "srtp", "taken", "secure"), [
    (SAVP_THEN_AVP, "off", 1, False),
    (SAVP_THEN_AVP, "optional", 0, True),  # both usable: the offerer's order
    (AVP_THEN_SAVP, "required", 1, True),
    (SESSION + "m=audio 4000 RTP/AVP 18\r\nm=audio 4002 RTP/AVP 8\r\n", "off", 1, False),
    (SESSION + "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 224.2.1.1\r\nm=audio 4002 RTP/AVP 0\r\n",
     "off", 1, False),
])
def test_the_answer_takes_the_first_audio_stream_it_can_use(
        offer: str, srtp: str, taken: int, secure: bool) -> None:
    """RFC 3264 6: each stream is accepted or refused (port 0) on its own. Before: only the
    first audio stream was looked at, and an offer whose first audio stream we cannot take
    (SRTP where ours is off, G.729 only, a multicast address) was refused 488 whole."""
    local = LocalMedia(address="127.0.0.1", port=20000, srtp=srtp)
    answer, neg = build_answer(parse_sdp(offer), local, session_id=1, version=1, srtp_key=KEY_A)
    offered = parse_sdp(offer).media[taken]
    assert (neg.remote_port, neg.remote_crypto is not None) == (offered.port, secure)
    # every offered stream is answered (RFC 3264 6), the one taken with our port
    assert [m.port for m in answer.media] == [20000 if i == taken else 0 for i in range(2)]


def test_when_no_audio_stream_can_be_taken_the_first_ones_reason_is_given() -> None:
    local = LocalMedia(address="127.0.0.1", port=20000, srtp="off")
    with pytest.raises(SdpError, match="SRTP offered but disabled"):
        build_answer(parse_sdp(SESSION + "m=audio 4000 RTP/SAVP 0\r\n" + CRYPTO
                               + "m=audio 4002 RTP/AVP 18\r\n"), local, session_id=1, version=1)


# ---- transport protocols we do not speak (RFC 3264 6, RFC 4566 5.14) ----------------------
# Before: an audio stream offered over DTLS-SRTP (UDP/TLS/RTP/SAVPF), AVPF, RTP over TCP or
# bare "udp" was answered "RTP/AVP" on the same m= line: the peer expects another protocol
# than the plain RTP we then send (a silent call), and our answer broke RFC 3264 6 (the
# answer's m= line is the offer's protocol, or the stream is refused with port 0).
_HEAD = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


@pytest.mark.parametrize("proto", ["UDP/TLS/RTP/SAVPF", "RTP/AVPF", "RTP/SAVPF", "TCP/RTP/AVP",
                                   "udp", "UDP/TLS/RTP/SAVP"])
def test_an_audio_stream_over_a_protocol_we_do_not_speak_is_refused_488(proto: str) -> None:
    offer = parse_sdp(_HEAD + f"m=audio 4000 {proto} 0\r\na=rtpmap:0 PCMU/8000\r\n")
    with pytest.raises(SdpError) as info:
        build_answer(offer, LocalMedia("127.0.0.1", 30000, srtp="off"), session_id=1, version=1)
    assert info.value.status_code == 488


def test_a_plain_rtp_twin_of_a_dtls_stream_is_taken_and_the_dtls_one_refused() -> None:
    offer = parse_sdp(_HEAD + "m=audio 4000 UDP/TLS/RTP/SAVPF 0\r\n"
                      "m=audio 4002 RTP/AVP 0\r\n")  # fmt: skip
    answer, neg = build_answer(offer, LocalMedia("127.0.0.1", 30000, srtp="off"),
                               session_id=1, version=1)  # fmt: skip
    assert [(m.port, m.proto) for m in answer.media] == [(0, "UDP/TLS/RTP/SAVPF"),
                                                         (30000, "RTP/AVP")]
    assert neg.remote_port == 4002


def test_an_answer_on_another_protocol_than_our_offer_is_refused() -> None:
    offer = build_offer(LocalMedia("127.0.0.1", 30000, srtp="off"), session_id=1, version=1)
    answer = parse_sdp(_HEAD + "m=audio 4000 RTP/AVPF 0\r\n")
    with pytest.raises(SdpError) as info:
        accept_answer(offer, answer)
    assert info.value.status_code == 488
