"""Stored PASSporT vectors (ours and secsipidx's): field by field, round trip, verify."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stir_shaken import passport
from stir_shaken.certs import TrustStore, load_certificates, load_private_key
from stir_shaken.identity import Identity
from stir_shaken.jose import b64url_decode, b64url_encode, canonical_json
from stir_shaken.passport import rcdi_digest, rcdi_matches
from stir_shaken.verifier import Verifier
from stir_shaken.x5u import CertCache

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "stir"
X5U = "https://cert.example.test/sp.pem"
CASES: list[dict[str, Any]] = json.loads((VECTORS / "passports.json").read_text())


def _verifier(now: float) -> Verifier:
    cache = CertCache()
    cache.put_pem(X5U, (VECTORS / "sp.pem").read_bytes(), now)
    return Verifier(TrustStore(load_certificates((VECTORS / "ca.pem").read_bytes())), cache)


def test_vector_set_is_complete() -> None:
    names = {c["name"] for c in CASES}
    assert {"shaken-A", "shaken-plus-div", "shaken-plus-rcd", "basic-compact",
            "secsipidx-shaken-C"} <= names


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector_verifies(case: dict[str, Any]) -> None:
    result = _verifier(case["now"]).verify(case["identities"], case["from"], case["to"],
                                           case["now"], date=case.get("date"))
    assert result.ok, result.detail
    assert result.verstat == "TN-Validation-Passed"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector_round_trips(case: dict[str, Any]) -> None:
    for value in case["identities"]:
        ident = Identity.parse(value)
        assert ident.format() == value
        if ident.token.startswith(".."):
            continue
        token = passport.decode(ident.token)
        assert token.full() == ident.token
        header_b64, claims_b64, _ = ident.token.split(".")
        # Canonical JSON (RFC 8225 section 9): re-serialising gives the same bytes.
        assert b64url_encode(canonical_json(token.header)) == header_b64
        assert b64url_encode(canonical_json(token.claims)) == claims_b64


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector_one_flipped_signature_bit_fails(case: dict[str, Any]) -> None:
    values = list(case["identities"])
    ident = Identity.parse(values[0])
    head, _, sig = ident.token.rpartition(".")
    raw = bytearray(b64url_decode(sig))
    raw[10] ^= 0x01
    values[0] = Identity(f"{head}.{b64url_encode(bytes(raw))}", ident.info, ident.alg,
                         ident.ppt, ident.params).format()
    result = _verifier(case["now"]).verify(values, case["from"], case["to"], case["now"],
                                           date=case.get("date"))
    assert result.sip_code == 438


def test_shaken_vector_fields() -> None:
    case = next(c for c in CASES if c["name"] == "shaken-A")
    ident = Identity.parse(case["identities"][0])
    assert (ident.info, ident.alg, ident.ppt, ident.params) == (X5U, "ES256", "shaken", ())
    token = passport.decode(ident.token)
    assert dict(token.header) == {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": X5U}
    assert dict(token.claims) == {
        "attest": "A", "dest": {"tn": ["12025550101"]}, "iat": 1790000000,
        "orig": {"tn": "12025550100"}, "origid": "8f2f7a55-7d5c-4c4e-9a37-1b7c1f0a4d21",
    }
    assert len(token.signature) == 64


def test_div_vector_fields() -> None:
    case = next(c for c in CASES if c["name"] == "shaken-plus-div")
    token = passport.decode(Identity.parse(case["identities"][1]).token)
    assert token.ppt == "div"
    assert dict(token.claims) == {"dest": {"tn": ["14155550123"]}, "div": {"tn": "12025550101"},
                                  "iat": 1790000000, "orig": {"tn": "12025550100"}}


def test_rcd_vector_fields_and_integrity() -> None:
    case = next(c for c in CASES if c["name"] == "shaken-plus-rcd")
    token = passport.decode(Identity.parse(case["identities"][1]).token)
    rcd = token.claims["rcd"]
    assert rcd["nam"] == "Sunrise Clinic \u00e9"
    assert rcd["icn"] == "https://logo.example.test/sunrise.png"
    rcdi = token.claims["rcdi"]
    assert set(rcdi) == {"/icn", "/jcd"}
    assert rcdi_matches(rcdi["/icn"], b"synthetic-logo")
    assert not rcdi_matches(rcdi["/icn"], b"another logo")
    assert rcdi["/jcd"] == rcdi_digest(canonical_json(rcd["jcd"]))


def test_secsipidx_vector_is_from_an_independent_signer() -> None:
    case = next(c for c in CASES if c["name"] == "secsipidx-shaken-C")
    token = passport.decode(Identity.parse(case["identities"][0]).token)
    assert token.claims["attest"] == "C"
    assert token.claims["iat"] == 1790000000


def test_stored_key_matches_stored_certificate() -> None:
    key = load_private_key((VECTORS / "sp-key.pem").read_bytes())
    cert = load_certificates((VECTORS / "sp.pem").read_bytes())[0]
    assert key.public_key() == cert.public_key()
