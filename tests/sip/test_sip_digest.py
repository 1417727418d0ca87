"""Digest authentication against the RFC 2617 and RFC 7616 worked examples."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carrier.sip.digest import (
    Challenge,
    Credentials,
    DigestError,
    DigestServer,
    authorize,
    compute_response,
    parse_auth_params,
)


def test_rfc2617_section_3_5_example() -> None:
    assert (
        compute_response(
            algorithm="MD5",
            username="Mufasa",
            realm="testrealm@host.com",
            password="Circle Of Life",
            method="GET",
            uri="/dir/index.html",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop="auth",
            nc="00000001",
            cnonce="0a4f113b",
        )
        == "6629fae49393a05397450978507c4ef1"
    )


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_section_3_9_1_examples(algorithm: str, expected: str) -> None:
    challenge = Challenge.parse(
        'Digest realm="http-auth@example.org", qop="auth, auth-int", '
        f"algorithm={algorithm}, "
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    value = authorize(
        challenge,
        Credentials("Mufasa", "Circle of Life"),
        method="GET",
        uri="/dir/index.html",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    _, params = parse_auth_params(value)
    assert params["response"] == expected
    assert params["qop"] == "auth"
    assert params["nc"] == "00000001"
    assert params["opaque"] == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


def test_rfc2069_style_challenge_without_qop() -> None:
    challenge = Challenge.parse('Digest realm="trunk", nonce="abc"')
    _, params = parse_auth_params(
        authorize(challenge, Credentials("u", "p"), method="INVITE", uri="sip:x@y", cnonce="c")
    )
    assert "qop" not in params
    assert params["response"] == compute_response(
        algorithm="MD5",
        username="u",
        realm="trunk",
        password="p",
        method="INVITE",
        uri="sip:x@y",
        nonce="abc",
    )


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "MD5-sess", "SHA-256-sess"])
def test_server_challenge_and_verify(algorithm: str) -> None:
    server = DigestServer(realm="trunk.test", secret=b"s" * 32, algorithm=algorithm)
    challenge = Challenge.parse(server.challenge(now=1000.0))
    assert challenge.algorithm == algorithm
    good = authorize(
        challenge,
        Credentials("clinic", "pw"),
        method="INVITE",
        uri="sip:+15550001@trunk.test",
        cnonce="cn",
    )
    assert server.verify(good, method="INVITE", password="pw", now=1010.0) is True
    assert server.verify(good, method="INVITE", password="wrong", now=1010.0) is False
    assert server.verify(good, method="BYE", password="pw", now=1010.0) is False
    assert server.verify(good, method="INVITE", password="pw", now=2000.0) is None  # stale
    other = DigestServer(realm="trunk.test", secret=b"t" * 32)
    assert other.verify(good, method="INVITE", password="pw", now=1010.0) is False


def test_unknown_algorithm_and_realm_mismatch_are_refused() -> None:
    with pytest.raises(DigestError):
        Challenge.parse('Digest realm="r", nonce="n", algorithm=SHA-512-256')
    challenge = Challenge.parse('Digest realm="r", nonce="n"')
    with pytest.raises(DigestError):
        authorize(challenge, Credentials("u", "p", realm="other"), method="X", uri="u", cnonce="c")
    assert "p" not in repr(Credentials("u", "p"))


@given(st.text(max_size=200))
def test_fuzz_challenge_parse_only_raises_digest_error(text: str) -> None:
    with contextlib.suppress(DigestError):
        Challenge.parse(text)
