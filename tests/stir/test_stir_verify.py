"""Verifier outcomes: every failure class gives its SIP code, Reason and verstat."""

from __future__ import annotations

import dataclasses
import json

import pytest
from stir_pki import DEST, NOW, ORIG, ORIGID, X5U, X5U_RANGE, Pki

from stir_shaken import devca
from stir_shaken.identity import Identity
from stir_shaken.jose import b64url_decode, b64url_encode, canonical_json
from stir_shaken.passport import PPT_SHAKEN
from stir_shaken.signer import Signer
from stir_shaken.tnauthlist import Spc, TNAuthList
from stir_shaken.verifier import Status
from stir_shaken.x5u import CertCache


def _shaken(pki: Pki, *, iat: float = NOW, orig: str = ORIG, dest: str = DEST) -> Identity:
    return pki.signer().sign(orig, dest, "A", ORIGID, iat)


def _assert_fails(result: object, code: int, text: str) -> None:
    assert result.status is Status.FAILED  # type: ignore[attr-defined]
    assert result.sip_code == code  # type: ignore[attr-defined]
    assert result.reason == text  # type: ignore[attr-defined]
    assert result.verstat == "TN-Validation-Failed"  # type: ignore[attr-defined]
    assert result.reason_header == f'STIR ;cause={code} ;text="{text}"'  # type: ignore[attr-defined]


def test_valid_shaken_passes(pki: Pki) -> None:
    result = pki.verifier().verify([_shaken(pki).format()], "+1-202-555-0100", DEST, NOW + 3)
    assert result.status is Status.PASSED
    assert result.verstat == "TN-Validation-Passed"
    assert (result.sip_code, result.reason, result.reason_header) == (None, None, None)
    assert result.attest == "A"
    assert result.origid == ORIGID
    assert result.claims is not None
    assert result.claims["orig"] == {"tn": ORIG}


def test_absent_identity_is_no_validation_unless_required(pki: Pki) -> None:
    result = pki.verifier().verify([], ORIG, DEST, NOW)
    assert (result.status, result.verstat, result.sip_code) == (
        Status.ABSENT, "No-TN-Validation", None)
    required = pki.verifier(require_identity=True).verify([], ORIG, DEST, NOW)
    _assert_fails(required, 428, "Use Identity Header")


def test_stale_iat_is_403(pki: Pki) -> None:
    ident = _shaken(pki, iat=NOW - 61)
    _assert_fails(pki.verifier().verify([ident], ORIG, DEST, NOW), 403, "Stale Date")
    # Exactly at the window edge is still fresh; the window is configurable.
    assert pki.verifier().verify([_shaken(pki, iat=NOW - 60)], ORIG, DEST, NOW).ok
    assert not pki.verifier(freshness=15).verify(
        [_shaken(pki, iat=NOW - 16)], ORIG, DEST, NOW).ok


def test_future_iat_beyond_skew_is_403(pki: Pki) -> None:
    _assert_fails(pki.verifier().verify([_shaken(pki, iat=NOW + 6)], ORIG, DEST, NOW),
                  403, "Stale Date")
    assert pki.verifier().verify([_shaken(pki, iat=NOW + 5)], ORIG, DEST, NOW).ok
    assert pki.verifier(skew=30).verify([_shaken(pki, iat=NOW + 20)], ORIG, DEST, NOW).ok


def test_wrong_key_is_438(pki: Pki) -> None:
    impostor = Signer(devca.new_key(), X5U)
    ident = impostor.sign(ORIG, DEST, "A", ORIGID, NOW)
    result = pki.verifier().verify([ident], ORIG, DEST, NOW)
    _assert_fails(result, 438, "Invalid Identity Header")
    assert result.detail == "signature does not verify"


@pytest.mark.parametrize(("claim", "value"), [
    ("attest", "B"), ("orig", {"tn": "12025550199"}), ("iat", int(NOW) + 1),
    ("dest", {"tn": ["12025550102"]}),
])
def test_tampered_claims_are_438(pki: Pki, claim: str, value: object) -> None:
    ident = _shaken(pki)
    header, payload, sig = ident.token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims[claim] = value
    forged = ".".join([header, b64url_encode(canonical_json(claims)), sig])
    tn_from = claims["orig"]["tn"]
    tn_to = claims["dest"]["tn"][0]
    result = pki.verifier().verify([dataclasses.replace(ident, token=forged)], tn_from, tn_to,
                                   NOW)
    _assert_fails(result, 438, "Invalid Identity Header")


def test_truncated_signature_is_438(pki: Pki) -> None:
    ident = _shaken(pki)
    header, payload, sig = ident.token.split(".")
    short = b64url_encode(b64url_decode(sig)[:63])
    result = pki.verifier().verify(
        [dataclasses.replace(ident, token=f"{header}.{payload}.{short}")], ORIG, DEST, NOW)
    _assert_fails(result, 438, "Invalid Identity Header")


def test_expired_certificate_is_437(pki: Pki) -> None:
    key, cert = devca.make_sp_cert(pki.ca_key, pki.ca, NOW, tnal=TNAuthList.of([Spc("1234")]),
                                   not_before=NOW - 400 * 86400, not_after=NOW - 1)
    cache = CertCache()
    cache.put_chain(X5U, [cert], NOW)
    ident = Signer(key, X5U).sign(ORIG, DEST, "A", ORIGID, NOW)
    result = pki.verifier(cache).verify([ident], ORIG, DEST, NOW)
    _assert_fails(result, 437, "Unsupported Credential")
    assert result.detail == "certificate expired"


def test_cached_chain_is_rechecked_once_it_expires(pki: Pki) -> None:
    key, cert = devca.make_sp_cert(pki.ca_key, pki.ca, NOW, tnal=TNAuthList.of([Spc("1234")]),
                                   not_after=NOW + 100)
    cache = CertCache()
    cache.put_chain(X5U, [cert], NOW)
    verifier = pki.verifier(cache)
    signer = Signer(key, X5U)
    assert verifier.verify([signer.sign(ORIG, DEST, "A", ORIGID, NOW)], ORIG, DEST, NOW).ok
    assert verifier.verify([signer.sign(ORIG, DEST, "A", ORIGID, NOW + 50)], ORIG, DEST,
                           NOW + 50).ok
    assert verifier.trust.checks == 1  # the second call used the cached chain
    late = verifier.verify([signer.sign(ORIG, DEST, "A", ORIGID, NOW + 101)], ORIG, DEST,
                           NOW + 101)
    _assert_fails(late, 437, "Unsupported Credential")


def test_untrusted_ca_is_437(pki: Pki) -> None:
    key, cert = devca.make_sp_cert(pki.rogue_ca_key, pki.rogue_ca, NOW,
                                   tnal=TNAuthList.of([Spc("1234")]))
    cache = CertCache()
    cache.put_chain(X5U, [cert, pki.rogue_ca], NOW)
    ident = Signer(key, X5U).sign(ORIG, DEST, "A", ORIGID, NOW)
    result = pki.verifier(cache).verify([ident], ORIG, DEST, NOW)
    _assert_fails(result, 437, "Unsupported Credential")
    assert result.detail == "certificate chain not trusted"


def test_certificate_without_tnauthlist_is_437(pki: Pki) -> None:
    _, tls = devca.make_tls_cert(pki.ca_key, pki.ca, NOW)
    cache = CertCache()
    cache.put_chain(X5U, [tls], NOW)
    result = pki.verifier(cache).verify([_shaken(pki)], ORIG, DEST, NOW)
    _assert_fails(result, 437, "Unsupported Credential")


def test_unsupported_alg_is_437(pki: Pki) -> None:
    ident = dataclasses.replace(_shaken(pki), alg="RS256")
    _assert_fails(pki.verifier().verify([ident], ORIG, DEST, NOW), 437, "Unsupported Credential")
    header = b64url_encode(canonical_json(
        {"alg": "ES384", "ppt": "shaken", "typ": "passport", "x5u": X5U}))
    _, payload, sig = _shaken(pki).token.split(".")
    forged = dataclasses.replace(_shaken(pki), token=f"{header}.{payload}.{sig}", alg=None)
    _assert_fails(pki.verifier().verify([forged], ORIG, DEST, NOW), 437, "Unsupported Credential")


def test_x5u_unreachable_is_436(pki: Pki) -> None:
    cache = CertCache()
    cache.put_failure(X5U, NOW, "x5u unreachable")
    _assert_fails(pki.verifier(cache).verify([_shaken(pki)], ORIG, DEST, NOW),
                  436, "Bad Identity Info")
    # Never fetched at all is the same answer.
    _assert_fails(pki.verifier(CertCache()).verify([_shaken(pki)], ORIG, DEST, NOW),
                  436, "Bad Identity Info")


def test_x5u_not_equal_info_is_438(pki: Pki) -> None:
    ident = dataclasses.replace(_shaken(pki), info=X5U_RANGE)
    result = pki.verifier().verify([ident], ORIG, DEST, NOW)
    _assert_fails(result, 438, "Invalid Identity Header")
    assert result.detail == "x5u does not equal info"


@pytest.mark.parametrize("missing", ["attest", "dest", "iat", "orig", "origid"])
def test_missing_claims_are_438(pki: Pki, missing: str) -> None:
    signer = pki.signer()
    claims = {"attest": "A", "dest": {"tn": [DEST]}, "iat": int(NOW), "orig": {"tn": ORIG},
              "origid": ORIGID}
    del claims[missing]
    signed = signer.sign_passport(PPT_SHAKEN, claims)
    ident = Identity(signed.full(), X5U, "ES256", PPT_SHAKEN)
    result = pki.verifier().verify([ident], ORIG, DEST, NOW)
    _assert_fails(result, 438, "Invalid Identity Header")
    assert missing in result.detail


def test_wrong_tnauthlist_is_438(pki: Pki) -> None:
    signer = Signer(pki.range_key, X5U_RANGE)
    inside = signer.sign("12025550149", DEST, "A", ORIGID, NOW)
    assert pki.verifier().verify([inside], "12025550149", DEST, NOW).ok
    single = signer.sign("13105550199", DEST, "A", ORIGID, NOW)
    assert pki.verifier().verify([single], "13105550199", DEST, NOW).ok
    outside = signer.sign("12025550150", DEST, "A", ORIGID, NOW)
    result = pki.verifier().verify([outside], "12025550150", DEST, NOW)
    _assert_fails(result, 438, "Invalid Identity Header")
    assert "TNAuthList" in result.detail


def test_spc_allow_list(pki: Pki) -> None:
    verifier = pki.verifier()
    verifier.trust.spc_allow = frozenset({"9999"})
    _assert_fails(verifier.verify([_shaken(pki)], ORIG, DEST, NOW), 438,
                  "Invalid Identity Header")
    verifier.trust.spc_allow = frozenset({"1234"})
    assert verifier.verify([_shaken(pki)], ORIG, DEST, NOW).ok


def test_orig_must_match_from(pki: Pki) -> None:
    _assert_fails(pki.verifier().verify([_shaken(pki)], "12025550999", DEST, NOW),
                  438, "Invalid Identity Header")
    _assert_fails(pki.verifier().verify([_shaken(pki)], "anonymous", DEST, NOW),
                  438, "Invalid Identity Header")


def test_ppt_parameter_must_match(pki: Pki) -> None:
    ident = dataclasses.replace(_shaken(pki), ppt="div")
    _assert_fails(pki.verifier().verify([ident], ORIG, DEST, NOW), 438, "Invalid Identity Header")


def test_malformed_header_value_is_438(pki: Pki) -> None:
    result = pki.verifier().verify(["not-a-token;info=<https://x.test/a.pem>"], ORIG, DEST, NOW)
    _assert_fails(result, 438, "Invalid Identity Header")


def test_div_passport_explains_forwarded_call(pki: Pki) -> None:
    signer = pki.signer()
    forwarded_to = "14155550123"
    shaken = signer.sign(ORIG, DEST, "A", ORIGID, NOW)
    div = signer.sign_div(ORIG, forwarded_to, DEST, NOW)
    values = [shaken.format(), div.format()]
    result = pki.verifier().verify(values, ORIG, forwarded_to, NOW)
    assert result.ok
    assert result.diverted_from == DEST
    # Without the div PASSporT the changed To is a mismatch.
    _assert_fails(pki.verifier().verify(values[:1], ORIG, forwarded_to, NOW),
                  438, "Invalid Identity Header")
    # Both headers in one comma-separated field value also work.
    assert pki.verifier().verify([", ".join(values)], ORIG, forwarded_to, NOW).ok


def test_rcd_passport_brands_the_call(pki: Pki) -> None:
    signer = pki.signer()
    logo = b"\x89PNG synthetic logo"
    rcd = signer.sign_rcd(ORIG, DEST, NOW, nam="Dev Clinic", icn="https://logo.test/l.png",
                          digests={"icn": logo})
    result = pki.verifier().verify([_shaken(pki), rcd], ORIG, DEST, NOW)
    assert result.ok
    assert result.rcd is not None
    assert result.rcd["nam"] == "Dev Clinic"


def test_bad_rcd_is_dropped_not_fatal(pki: Pki) -> None:
    impostor = Signer(devca.new_key(), X5U)
    rcd = impostor.sign_rcd(ORIG, DEST, NOW, nam="Fake Bank")
    result = pki.verifier().verify([_shaken(pki), rcd], ORIG, DEST, NOW)
    assert result.ok
    assert result.rcd is None
    assert result.detail.startswith("rcd ignored")


def test_compact_basic_passport(pki: Pki) -> None:
    ident = pki.signer().sign_basic(ORIG, DEST, NOW, compact=True)
    assert ident.token.startswith("..")
    assert ident.ppt is None
    assert pki.verifier().verify([ident], ORIG, DEST, NOW, date=int(NOW)).ok
    _assert_fails(pki.verifier().verify([ident], ORIG, "12025550102", NOW, date=int(NOW)),
                  438, "Invalid Identity Header")
    _assert_fails(pki.verifier().verify([ident], ORIG, DEST, NOW), 438,
                  "Invalid Identity Header")
