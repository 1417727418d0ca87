"""Parsers and serialisers: base64url, canonical JSON/TNs, ES256, Identity, TNAuthList."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given
from hypothesis import strategies as st
from stir_pki import DEST, NOW, ORIG, ORIGID, X5U, Pki

from stir_shaken import devca, passport
from stir_shaken.certs import tn_auth_list
from stir_shaken.errors import InvalidIdentityHeader, SigningError, UnsupportedCredential
from stir_shaken.identity import Identity, parse_headers
from stir_shaken.jose import (
    b64url_decode,
    b64url_encode,
    canonical_json,
    es256_sign,
    es256_verify,
)
from stir_shaken.tnauthlist import One, Spc, TNAuthList, TNAuthListError, TnRange

# --- base64url, canonical JSON, canonical TNs ------------------------------------------


@given(st.binary(max_size=200))
def test_b64url_round_trip_without_padding(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text
    assert "+" not in text
    assert "/" not in text
    assert b64url_decode(text) == data


@pytest.mark.parametrize("bad", ["ab+c", "ab/c", "a", "ab c", "é"])
def test_b64url_rejects_standard_alphabet_and_junk(bad: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(bad)


def test_canonical_json_sorts_keys_without_whitespace() -> None:
    value = {"orig": {"tn": ORIG}, "dest": {"tn": [DEST]}, "iat": 1, "attest": "A"}
    assert canonical_json(value) == (
        b'{"attest":"A","dest":{"tn":["12025550101"]},"iat":1,"orig":{"tn":"12025550100"}}'
    )
    assert canonical_json({"nam": "Caf\u00e9"}) == '{"nam":"Café"}'.encode()


@pytest.mark.parametrize(("raw", "canon"), [
    ("+1 202 555 0100", "12025550100"), ("1-202-555-0100", "12025550100"),
    ("(202) 555.0100", "2025550100"), ("12025550100", "12025550100"),
])
def test_canonical_tn(raw: str, canon: str) -> None:
    assert passport.canonical_tn(raw) == canon


@pytest.mark.parametrize("bad", ["", "+", "abc", "1202555010x", "1" * 16, "١٢٣"])
def test_canonical_tn_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="telephone"):
        passport.canonical_tn(bad)


@given(st.text(alphabet="0123456789", min_size=1, max_size=15),
       st.lists(st.sampled_from(" -.()"), max_size=4))
def test_canonical_tn_strips_separators(digits: str, seps: list[str]) -> None:
    noisy = "+" + "".join(s + d for s, d in zip(seps + [""] * len(digits), digits, strict=False))
    assert passport.canonical_tn(noisy) == digits


# --- ES256 -----------------------------------------------------------------------------


def test_es256_signature_is_raw_64_bytes_not_der(pki: Pki) -> None:
    sig = es256_sign(pki.sp_key, b"input")
    assert len(sig) == 64
    assert es256_verify(pki.sp.public_key(), sig, b"input")  # type: ignore[arg-type]
    assert not es256_verify(pki.sp.public_key(), sig, b"other")  # type: ignore[arg-type]
    der = pki.sp_key.sign(b"input", ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    assert der[0] == 0x30
    # A DER signature on the wire is rejected outright.
    assert not es256_verify(pki.sp.public_key(), der, b"input")  # type: ignore[arg-type]
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert es256_verify(pki.sp.public_key(), raw, b"input")  # type: ignore[arg-type]


# --- PASSporT --------------------------------------------------------------------------


def test_signed_passport_decodes_to_the_same_claims(pki: Pki) -> None:
    ident = pki.signer().sign(ORIG, DEST, "B", ORIGID, NOW)
    token = passport.decode(ident.token)
    assert token.ppt == "shaken"
    assert token.x5u == X5U
    assert token.claims["attest"] == "B"
    assert token.claims["iat"] == int(NOW)
    assert token.full() == ident.token
    assert token.compact() == ".." + ident.token.rsplit(".", 1)[1]


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", ".x.y", "e30.e30", "!!.e30.AA",
                                   "WzFd.e30.AA"])
def test_decode_rejects_malformed(token: str) -> None:
    with pytest.raises(InvalidIdentityHeader):
        passport.decode(token)


def test_decode_rejects_other_algorithms() -> None:
    header = b64url_encode(canonical_json({"alg": "none", "typ": "passport"}))
    with pytest.raises(UnsupportedCredential):
        passport.decode(f"{header}.e30.")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"attest": "D"}, "attest"), ({"origid": ""}, "origid"), ({"orig": "abc"}, "telephone"),
    ({"dest": []}, "dest"),
])
def test_shaken_claims_refuse_bad_input(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"orig": ORIG, "dest": [DEST], "attest": "A", "origid": ORIGID,
                               "iat": 1}
    args.update(kwargs)
    with pytest.raises(SigningError, match=message):
        passport.shaken_claims(**args)  # type: ignore[arg-type]


def test_rcd_claims_with_integrity() -> None:
    claims = passport.rcd_claims(ORIG, [DEST], 1, nam="Clinic", icn="https://l.test/a.png",
                                 jcl="https://l.test/a.json",
                                 digests={"icn": b"png", "jcl": b"json"})
    assert claims["rcd"] == {"nam": "Clinic", "icn": "https://l.test/a.png",
                             "jcl": "https://l.test/a.json"}
    assert claims["rcdi"] == {"/icn": passport.rcdi_digest(b"png"),
                              "/jcl": passport.rcdi_digest(b"json")}
    assert passport.rcdi_digest(b"png").startswith("sha256-")
    with pytest.raises(SigningError):
        passport.rcd_claims(ORIG, [DEST], 1, nam="Clinic", digests={"icn": b"png"})


def test_rcdi_pointing_at_absent_member_is_invalid(pki: Pki) -> None:
    claims = passport.rcd_claims(ORIG, [DEST], 1, nam="Clinic")
    claims["rcdi"] = {"/icn": passport.rcdi_digest(b"x")}
    signed = pki.signer().sign_passport("rcd", claims)
    with pytest.raises(InvalidIdentityHeader, match="rcdi"):
        passport.check_claims(signed)


# --- Identity header -------------------------------------------------------------------

TOKEN = "aGVhZA.Y2xhaW1z.c2ln"


@pytest.mark.parametrize("value", [
    f"{TOKEN};info=<https://c.test/a.pem>;alg=ES256;ppt=shaken",
    f"{TOKEN};ppt=shaken;alg=ES256;info=<https://c.test/a.pem>",
    f"{TOKEN} ; info=<https://c.test/a.pem> ;ppt=\"shaken\";alg=ES256",
])
def test_identity_parameters_in_any_order(value: str) -> None:
    ident = Identity.parse(value)
    assert (ident.token, ident.info, ident.alg, ident.ppt) == (
        TOKEN, "https://c.test/a.pem", "ES256", "shaken")
    assert ident.format() == f"{TOKEN};info=<https://c.test/a.pem>;alg=ES256;ppt=shaken"


def test_identity_keeps_unknown_parameters() -> None:
    value = f"{TOKEN};info=<https://c.test/a.pem>;alg=ES256;ppt=div;x-foo=1;flag"
    ident = Identity.parse(value)
    assert ident.params == (("x-foo", "1"), ("flag", ""))
    assert ident.format() == value


@pytest.mark.parametrize("value", [
    f"{TOKEN};alg=ES256",  # no info
    f"{TOKEN};info=https://c.test/a.pem",  # info without brackets
    "a+b.c.d;info=<https://c.test/a.pem>",  # not base64url
    "abc;info=<https://c.test/a.pem>",  # not three parts
    f"{TOKEN};info=<https://c.test/a.pem",  # unbalanced
    f"{TOKEN};info=<https://c.test/a.pem>;b@d=1",
])
def test_identity_rejects(value: str) -> None:
    with pytest.raises(InvalidIdentityHeader):
        Identity.parse(value)


def test_several_identity_headers_and_comma_lists() -> None:
    one = f"{TOKEN};info=<https://c.test/a.pem>;alg=ES256;ppt=shaken"
    two = f"{TOKEN};info=<https://c.test/b.pem?x=1,2>;alg=ES256;ppt=div"
    parsed = parse_headers([one, f"{two} , {one}"])
    assert [i.ppt for i in parsed] == ["shaken", "div", "shaken"]
    assert parsed[1].info == "https://c.test/b.pem?x=1,2"


_b64 = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
               min_size=1, max_size=40)


@given(_b64, _b64, _b64, st.sampled_from(["shaken", "div", "rcd", None]),
       st.from_regex(r"https://[a-z]{1,10}\.test(:8443)?/[a-z]{1,10}\.pem", fullmatch=True))
def test_identity_round_trip(h: str, c: str, s: str, ppt: str | None, info: str) -> None:
    ident = Identity(f"{h}.{c}.{s}", info, "ES256", ppt)
    assert Identity.parse(ident.format()) == ident


# --- TNAuthList ------------------------------------------------------------------------


@pytest.mark.parametrize(("entries", "der_hex"), [
    # RFC 8226 section 9, EXPLICIT tags: [0] { IA5String "1234" }
    ([Spc("1234")], "3008a006160431323334"),
    ([One("12025550100")], "300fa20d160b3132303235353530313030"),
    ([TnRange("12025550100", 50)],
     "3014a1123010160b3132303235353530313030020132"),
    ([Spc("1234"), One("12025550100")],
     "3017a006160431323334a20d160b3132303235353530313030"),
])
def test_tnauthlist_der_vectors(entries: list[object], der_hex: str) -> None:
    tnal = TNAuthList.of(entries)  # type: ignore[arg-type]
    assert tnal.to_der().hex() == der_hex
    assert TNAuthList.from_der(bytes.fromhex(der_hex)) == tnal


def test_tnauthlist_large_range_count_and_long_form_length() -> None:
    entries = [One(f"1202555{i:04d}") for i in range(20)] + [TnRange("12025550000", 200000)]
    tnal = TNAuthList.of(entries)
    der = tnal.to_der()
    assert der[1] == 0x82  # more than 255 bytes: two-byte long-form length
    assert TNAuthList.from_der(der) == tnal
    assert TNAuthList.of([Spc("1" * 200)]).to_der()[1] == 0x81


@pytest.mark.parametrize("der_hex", [
    "", "30", "3008a0061604313233", "3008a006160431323334ff", "3000",
    "3008a306160431323334", "3008a006040431323334", "3003a20100", "30810a",
    "3014a1123010160b3132303235353530313030020101",  # count 1 < 2
])
def test_tnauthlist_rejects_malformed(der_hex: str) -> None:
    with pytest.raises(TNAuthListError):
        TNAuthList.from_der(bytes.fromhex(der_hex))


def test_tnauthlist_truncations_of_a_real_vector_all_fail() -> None:
    der = TNAuthList.of([Spc("1234"), TnRange("12025550100", 50)]).to_der()
    for cut in range(len(der)):
        with pytest.raises(TNAuthListError):
            TNAuthList.from_der(der[:cut])


_tn = st.text(alphabet="0123456789", min_size=1, max_size=15)
_entry = st.one_of(
    st.builds(Spc, st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=8)),
    st.builds(One, _tn),
    st.builds(TnRange, _tn, st.integers(min_value=2, max_value=10**12)),
)


@given(st.lists(_entry, min_size=1, max_size=12))
def test_tnauthlist_round_trip(entries: list[object]) -> None:
    tnal = TNAuthList.of(entries)  # type: ignore[arg-type]
    assert TNAuthList.from_der(tnal.to_der()) == tnal


def test_range_membership() -> None:
    rng = TnRange("12025550100", 50)
    assert "12025550100" in rng
    assert "12025550149" in rng
    assert "12025550150" not in rng
    assert "2025550120" not in rng
    tnal = TNAuthList.of([rng, One("13105550199")])
    assert tnal.covers_tn("13105550199")
    assert not tnal.covers_tn("13105550198")
    assert tnal.spcs == frozenset()


def test_tnauthlist_in_a_certificate(pki: Pki) -> None:
    tnal = tn_auth_list(pki.sp)
    assert tnal == TNAuthList.of([Spc("1234")])
    ext = pki.sp.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.26"))
    assert not ext.critical
    _, tls = devca.make_tls_cert(pki.ca_key, pki.ca, NOW)
    assert tn_auth_list(tls) is None
    assert pki.sp.not_valid_before_utc < datetime.datetime.fromtimestamp(NOW, tz=datetime.UTC)


@given(st.text(min_size=1, max_size=40), st.sampled_from("ABC"),
       st.lists(st.text(alphabet="0123456789", min_size=1, max_size=15), min_size=1, max_size=3),
       st.integers(min_value=0, max_value=2**40))
def test_fast_shaken_json_equals_canonical_json(origid: str, attest: str, dests: list[str],
                                                iat: int) -> None:
    fast = passport.shaken_claims_json(ORIG, dests, attest, origid, iat)
    assert fast == canonical_json(passport.shaken_claims(ORIG, dests, attest, origid, iat))
