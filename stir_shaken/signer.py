"""Authentication service: sign PASSporTs and wrap them in Identity headers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from stir_shaken import passport
from stir_shaken.certs import load_private_key
from stir_shaken.errors import BadIdentityInfo, SigningError
from stir_shaken.identity import Identity
from stir_shaken.jose import ES256, b64url_encode, canonical_json, es256_signer
from stir_shaken.passport import PPT_DIV, PPT_RCD, PPT_SHAKEN, Passport
from stir_shaken.x5u import DEFAULT_PORTS, check_url


class Signer:
    """Signs for one service-provider certificate published at ``x5u``.

    The encoded protected header is computed once per ``ppt``; each signature then
    serialises only the claims.
    """

    def __init__(self, key: ec.EllipticCurvePrivateKey, x5u: str, *,
                 allowed_ports: frozenset[int] = DEFAULT_PORTS) -> None:
        try:
            check_url(x5u, allowed_ports)
        except BadIdentityInfo as exc:
            # Ours to fix, not the peer's: verifiers would answer 436 to it.
            raise SigningError(f"x5u refused: {exc.detail}") from exc
        self._key = key
        self._sign = es256_signer(key)
        self.x5u = x5u
        self._headers: dict[str | None, tuple[dict[str, str], str]] = {}

    @classmethod
    def from_pem(cls, key_pem: bytes, x5u: str, *,
                 allowed_ports: frozenset[int] = DEFAULT_PORTS) -> Signer:
        return cls(load_private_key(key_pem), x5u, allowed_ports=allowed_ports)

    def sign(self, orig: str, dest: str | Sequence[str], attest: str, origid: str,
             now: float) -> Identity:
        """A ``shaken`` PASSporT (RFC 8588) for an outbound call."""
        claims = passport.shaken_claims_json(orig, _dests(dest), attest, origid, int(now))
        signing_input = self._header(PPT_SHAKEN)[1] + "." + b64url_encode(claims)
        signature = self._sign(signing_input.encode("ascii"))
        # Every part is base64url we just produced and x5u passed check_url.
        return Identity._checked(signing_input + "." + b64url_encode(signature), self.x5u,
                                 ES256, PPT_SHAKEN)

    def sign_div(self, orig: str, dest: str | Sequence[str], div: str, now: float) -> Identity:
        """A ``div`` PASSporT (RFC 8946, full form only) for a forwarded call:
        ``dest`` is the new target, ``div`` the number originally called."""
        claims = passport.div_claims(orig, _dests(dest), div, int(now))
        return self._identity(self.sign_passport(PPT_DIV, claims))

    def sign_rcd(self, orig: str, dest: str | Sequence[str], now: float, *, nam: str,
                 icn: str | None = None, apn: str | None = None,
                 jcd: Mapping[str, Any] | Sequence[Any] | None = None,
                 jcl: str | None = None,
                 digests: Mapping[str, bytes] | None = None) -> Identity:
        """An ``rcd`` PASSporT (RFC 9795) carrying a branded caller name/logo."""
        claims = passport.rcd_claims(orig, _dests(dest), int(now), nam=nam, icn=icn, apn=apn,
                                     jcd=jcd, jcl=jcl, digests=digests)
        return self._identity(self.sign_passport(PPT_RCD, claims))

    def sign_basic(self, orig: str, dest: str | Sequence[str], now: float, *,
                   compact: bool = False) -> Identity:
        """A plain RFC 8225 PASSporT (no ``ppt``); ``compact`` sends only the signature."""
        signed = self.sign_passport(None, passport.basic_claims(orig, _dests(dest), int(now)))
        token = signed.compact() if compact else signed.full()
        return Identity(token, self.x5u, ES256, None)

    def sign_passport(self, ppt: str | None, claims: Mapping[str, Any]) -> Passport:
        header, encoded = self._header(ppt)
        signing_input = (encoded + "." + b64url_encode(canonical_json(claims))).encode("ascii")
        return Passport(header, dict(claims), self._sign(signing_input), signing_input)

    def _header(self, ppt: str | None) -> tuple[dict[str, str], str]:
        cached = self._headers.get(ppt)
        if cached is None:
            header = passport.make_header(self.x5u, ppt)
            cached = (header, b64url_encode(canonical_json(header)))
            self._headers[ppt] = cached
        return cached

    def _identity(self, signed: Passport) -> Identity:
        return Identity(signed.full(), self.x5u, ES256, signed.ppt)


def _dests(dest: str | Sequence[str]) -> list[str]:
    return [dest] if isinstance(dest, str) else list(dest)
