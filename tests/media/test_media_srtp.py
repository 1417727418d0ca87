"""SDES SRTP/SRTCP through pylibsrtp: keys, round trips, tampering, replay."""

from __future__ import annotations

import base64

import pytest

from media.rtcp import ReceiverReport, SourceDescription, serialize_compound
from media.rtp import RtpPacket
from media.srtp import SrtpContext, SrtpError, SrtpKey

# RFC 4568 section 6 example key (30 bytes of key||salt)
RFC4568_INLINE = "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32"
FIXED = bytes(range(30))
OTHER = bytes(range(30, 60))


def rtp(seq: int) -> bytes:
    return RtpPacket(0, seq, seq * 160, 0xCAFE, b"\x11" * 160).serialize()


def test_inline_key_parsing() -> None:
    with pytest.raises(ValueError, match="MKI"):
        SrtpKey.from_inline("AES_CM_128_HMAC_SHA1_80", RFC4568_INLINE)
    key = SrtpKey.from_inline("AES_CM_128_HMAC_SHA1_80", RFC4568_INLINE.rsplit("|", 1)[0])
    assert key.master == base64.b64decode("PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR")
    assert key.to_inline() == "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"
    assert key.crypto_attribute(1) == "1 AES_CM_128_HMAC_SHA1_80 " + key.to_inline()
    with pytest.raises(ValueError, match="30 bytes"):
        SrtpKey.from_inline("AES_CM_128_HMAC_SHA1_80", "inline:AAAA")
    with pytest.raises(ValueError, match="base64"):
        SrtpKey.from_inline("AES_CM_128_HMAC_SHA1_80", "inline:***")
    with pytest.raises(ValueError, match="suite"):
        SrtpKey("F8_128_HMAC_SHA1_80", FIXED)
    with pytest.raises(ValueError, match="inline"):
        SrtpKey.from_inline("AES_CM_128_HMAC_SHA1_80", "uri:x")


@pytest.mark.parametrize(
    ("suite", "tag"), [("AES_CM_128_HMAC_SHA1_80", 10), ("AES_CM_128_HMAC_SHA1_32", 4)]
)
def test_rtp_round_trip_and_tag_length(suite: str, tag: int) -> None:
    alice = SrtpContext(SrtpKey(suite, FIXED), SrtpKey(suite, OTHER))
    bob = SrtpContext(SrtpKey(suite, OTHER), SrtpKey(suite, FIXED))
    for seq in range(5):
        clear = rtp(seq)
        protected = alice.protect(clear)
        assert len(protected) == len(clear) + tag
        assert protected[:12] == clear[:12]  # header stays clear
        assert protected[12:172] != clear[12:]  # payload is encrypted
        assert bob.unprotect(protected) == clear
        assert alice.unprotect(bob.protect(clear)) == clear


def test_rtcp_round_trip() -> None:
    alice = SrtpContext(
        SrtpKey("AES_CM_128_HMAC_SHA1_32", FIXED), SrtpKey("AES_CM_128_HMAC_SHA1_32", OTHER)
    )
    bob = SrtpContext(
        SrtpKey("AES_CM_128_HMAC_SHA1_32", OTHER), SrtpKey("AES_CM_128_HMAC_SHA1_32", FIXED)
    )
    clear = serialize_compound([ReceiverReport(0xCAFE), SourceDescription(0xCAFE, "a@b")])
    protected = alice.protect_rtcp(clear)
    assert len(protected) == len(clear) + 4 + 10  # SRTCP index + 80-bit tag (RFC 4568)
    assert bob.unprotect_rtcp(protected) == clear


@pytest.mark.parametrize("offset", [0, 1, 12, 100, -1])
def test_tampered_packet_is_rejected(offset: int) -> None:
    alice = SrtpContext(
        SrtpKey("AES_CM_128_HMAC_SHA1_80", FIXED), SrtpKey("AES_CM_128_HMAC_SHA1_80", OTHER)
    )
    bob = SrtpContext(
        SrtpKey("AES_CM_128_HMAC_SHA1_80", OTHER), SrtpKey("AES_CM_128_HMAC_SHA1_80", FIXED)
    )
    protected = bytearray(alice.protect(rtp(1)))
    protected[offset] ^= 0x01
    with pytest.raises(SrtpError, match=r"^SRTP packet rejected$"):
        bob.unprotect(bytes(protected))


def test_wrong_key_and_replay_are_rejected() -> None:
    alice = SrtpContext(SrtpKey.generate(), SrtpKey.generate())
    stranger = SrtpContext(SrtpKey.generate(), SrtpKey.generate())
    with pytest.raises(SrtpError):
        stranger.unprotect(alice.protect(rtp(1)))
    bob = SrtpContext(
        SrtpKey("AES_CM_128_HMAC_SHA1_80", OTHER), SrtpKey("AES_CM_128_HMAC_SHA1_80", FIXED)
    )
    sender = SrtpContext(
        SrtpKey("AES_CM_128_HMAC_SHA1_80", FIXED), SrtpKey("AES_CM_128_HMAC_SHA1_80", OTHER)
    )
    packet = sender.protect(rtp(7))
    bob.unprotect(packet)
    with pytest.raises(SrtpError):
        bob.unprotect(packet)  # replayed


def test_generated_keys_differ() -> None:
    assert SrtpKey.generate().master != SrtpKey.generate().master
