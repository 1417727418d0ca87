"""The per-key ES256 signer and verifier (``cryptography`` only, issue 10) agree with the
one-shot functions on every input and reject degenerate signatures."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from stir_pki import DEST, NOW, ORIG, ORIGID, Pki

from stir_shaken.certs import TrustStore
from stir_shaken.jose import es256_sign, es256_signer, es256_verifier, es256_verify
from stir_shaken.signer import Signer
from stir_shaken.verifier import Verifier

N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256 order


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=300))
def test_bound_and_one_shot_agree(pki: Pki, data: bytes) -> None:
    pub = pki.sp.public_key()
    bound_sign = es256_signer(pki.sp_key)
    bound_verify = es256_verifier(pub)  # type: ignore[arg-type]
    ours = bound_sign(data)
    theirs = es256_sign(pki.sp_key, data)
    assert len(ours) == 64
    assert es256_verify(pub, ours, data)  # type: ignore[arg-type]
    assert bound_verify(theirs, data)
    assert bound_verify(ours, data)
    assert not bound_verify(ours, data + b"x")
    flipped = bytes([ours[0] ^ 1]) + ours[1:]
    assert bound_verify(flipped, data) is es256_verify(pub, flipped, data)  # type: ignore[arg-type]


def test_bound_verify_rejects_degenerate_signatures(pki: Pki) -> None:
    verify = es256_verifier(pki.sp.public_key())  # type: ignore[arg-type]
    good = es256_sign(pki.sp_key, b"data")
    assert verify(good, b"data")
    for bad in (b"", good[:63], good + b"\0", bytes(64), b"\xff" * 64,
                N.to_bytes(32, "big") + good[32:], good[:32] + N.to_bytes(32, "big")):
        assert not verify(bad, b"data")
    assert verify(good, b"data")  # a refused signature leaves the bound verifier usable


def test_bound_verify_is_bound_to_its_key(pki: Pki) -> None:
    other = es256_verifier(pki.range_cert.public_key())  # type: ignore[arg-type]
    assert not other(es256_sign(pki.sp_key, b"data"), b"data")


def test_verifier_accepts_ours_and_refuses_an_impostor(pki: Pki) -> None:
    signer = Signer(pki.sp_key, "https://cert.example.test/sp.pem")
    verifier = Verifier(TrustStore([pki.ca]), pki.cache())
    ident = signer.sign(ORIG, DEST, "A", ORIGID, NOW)
    assert verifier.verify([ident], ORIG, DEST, NOW).ok
    impostor = Signer(pki.range_key, "https://cert.example.test/sp.pem")
    assert verifier.verify([impostor.sign(ORIG, DEST, "A", ORIGID, NOW)], ORIG, DEST,
                           NOW).sip_code == 438
