"""Hostile Identity headers (issue 11, the STIR side of "nothing unsafe leaves the wire"):
the verifier returns a `Verification` for any header text and never raises, and nothing
it passes holds a control character or a lone surrogate.

Before the fix: a PASSporT nested deeper than `json` can decode raised RecursionError
out of `Verifier.verify` (the gateway's call handler then failed: 500), and a validly
signed token whose origid was "\\ud800" passed, handing the audit writer a string no
UTF-8 encoder accepts.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stir_pki import DEST, NOW, ORIG, ORIGID, X5U, Pki

from stir_shaken.identity import Identity
from stir_shaken.jose import b64url_encode, es256_sign
from stir_shaken.verifier import Status, Verification

HEADER = ('{"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"' + X5U + '"}').encode()


def signed(pki: Pki, claims_json: bytes) -> str:
    """A full-form token over exactly these bytes, signed by the trusted SP key."""
    signing_input = b64url_encode(HEADER) + "." + b64url_encode(claims_json)
    signature = es256_sign(pki.sp_key, signing_input.encode("ascii"))
    token = signing_input + "." + b64url_encode(signature)
    return Identity(token, X5U, "ES256", "shaken").format()


def claims(origid: str) -> bytes:
    return (f'{{"attest":"A","dest":{{"tn":["{DEST}"]}},"iat":{int(NOW)},'
            f'"orig":{{"tn":"{ORIG}"}},"origid":"{origid}"}}').encode()  # fmt: skip


def test_a_signed_token_with_unsafe_text_fails_438(pki: Pki) -> None:
    verifier = pki.verifier()
    assert verifier.verify([signed(pki, claims(ORIGID))], ORIG, DEST, NOW).ok
    for origid in ("\\ud800", "a\\u0000b", "\\u001b[2J", "x\\u009bz"):
        result = verifier.verify([signed(pki, claims(origid))], ORIG, DEST, NOW)
        assert result.status is Status.FAILED
        assert result.sip_code == 438
        assert result.origid is None


def test_deep_nesting_fails_438_instead_of_raising(pki: Pki) -> None:
    verifier = pki.verifier()
    for body in (b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000):
        result = verifier.verify([signed(pki, body)], ORIG, DEST, NOW)
        assert result.sip_code == 438


PIECES = ["\x00", "\udc80", ";", ",", "=", "\"", "<", ">", "..", ".", "%", "\\", "info=",
          "alg=", "ppt=", "{", "[", "\u00b2", " ", "\t", "A" * 300]  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.integers(0, 2000), st.sampled_from(PIECES), st.integers(0, 3), st.booleans())
def test_fuzz_verifier_returns_a_verification_for_any_header(
    pki: Pki, pos: int, piece: str, cut: int, second: bool
) -> None:
    good = pki.signer().sign(ORIG, DEST, "A", ORIGID, NOW).format()
    pos %= len(good) + 1
    mutated = good[:pos] + piece + good[pos + cut :]
    headers = [mutated, good] if second else [mutated]
    result = pki.verifier().verify(headers, ORIG, DEST, NOW)
    assert isinstance(result, Verification)
    for text in (result.origid, result.attest, result.reason, result.reason_header):
        assert text is None or text.isprintable()
