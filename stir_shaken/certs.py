"""STIR certificates: loading, chain validation to STI-CA anchors, TN authority.

Chain validation uses ``cryptography``'s X.509 path builder with the configured
trust anchors and is cached per chain: the result stays good while ``now`` is
inside every certificate's validity, so a busy verifier pays for the chain once
per certificate, not once per call. Pure: ``now`` (POSIX seconds) is passed in.
"""

from __future__ import annotations

import datetime
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from cryptography.x509.oid import ObjectIdentifier

from stir_shaken.errors import InvalidIdentityHeader, SigningError, UnsupportedCredential
from stir_shaken.jose import Es256Verify, es256_verifier, is_p256
from stir_shaken.tnauthlist import OID_TN_AUTH_LIST, TNAuthList, TNAuthListError

TN_AUTH_LIST_OID = ObjectIdentifier(OID_TN_AUTH_LIST)
_CACHE_SIZE = 1024
_SHA256 = hashes.SHA256()


def load_private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """Load the service provider's P-256 signing key (PEM, unencrypted)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError("not a PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not is_p256(key):
        raise SigningError("signing key must be EC P-256 for ES256")
    return key


def load_certificates(pem: bytes) -> list[x509.Certificate]:
    """Load a PEM bundle, leaf first. Raises ``ValueError`` if there is none."""
    certs = x509.load_pem_x509_certificates(pem)
    if not certs:
        raise ValueError("no certificate in PEM")
    return certs


def tn_auth_list(cert: x509.Certificate) -> TNAuthList | None:
    """The certificate's TNAuthList, or None when it has none."""
    try:
        ext = cert.extensions.get_extension_for_oid(TN_AUTH_LIST_OID)
    except x509.ExtensionNotFound:
        return None
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        return None
    return TNAuthList.from_der(value.value)


def tn_auth_list_extension(tnal: TNAuthList) -> x509.UnrecognizedExtension:
    """The extension to add to a certificate builder."""
    return x509.UnrecognizedExtension(TN_AUTH_LIST_OID, tnal.to_der())


@dataclass(frozen=True)
class CheckedCert:
    """A leaf certificate whose chain validated; what verification needs from it."""

    public_key: ec.EllipticCurvePublicKey
    tn_auth_list: TNAuthList
    valid_from: float
    valid_until: float
    verify: Es256Verify  # (raw R||S, signing input) -> bool, bound to public_key once


def _ts(when: datetime.datetime) -> float:
    return when.timestamp()


class TrustStore:
    """Configured STI-CA trust anchors plus policy on which SPCs are accepted.

    ``spc_allow`` None accepts any SPC in a valid certificate (SHAKEN: the STI-PA
    vouches for the SPC); a set restricts to those codes.
    """

    def __init__(
        self,
        anchors: Sequence[x509.Certificate],
        *,
        spc_allow: frozenset[str] | None = None,
        max_chain_depth: int = 4,
    ) -> None:
        if not anchors:
            raise ValueError("at least one trust anchor is required")
        self._store = verification.Store(list(anchors))
        self._depth = max_chain_depth
        self.spc_allow = spc_allow
        self._cache: OrderedDict[bytes, CheckedCert] = OrderedDict()
        self.checks = 0  # chain validations actually performed (cache misses)

    def check(self, chain: Sequence[x509.Certificate], now: float, *,
              key: bytes = b"") -> CheckedCert:
        """Validate ``chain`` (leaf first) at ``now``; raise ``UnsupportedCredential``.

        ``key`` identifies the chain for the cache (the x5u cache computes it once);
        without it the certificates' fingerprints are hashed.
        """
        if not chain:
            raise UnsupportedCredential("empty certificate chain")
        key = key or _chain_key(chain)
        cached = self._cache.get(key)
        if cached is not None and cached.valid_from <= now <= cached.valid_until:
            self._cache.move_to_end(key)
            return cached
        checked = self._validate(chain, now)
        self._cache[key] = checked
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return checked

    def _validate(self, chain: Sequence[x509.Certificate], now: float) -> CheckedCert:
        self.checks += 1
        leaf = chain[0]
        for cert in chain:
            if now < _ts(cert.not_valid_before_utc):
                raise UnsupportedCredential("certificate not yet valid")
            if now > _ts(cert.not_valid_after_utc):
                raise UnsupportedCredential("certificate expired")
        public_key = leaf.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or not is_p256(public_key):
            raise UnsupportedCredential("certificate key is not EC P-256")
        when = datetime.datetime.fromtimestamp(now, tz=datetime.UTC)
        verifier = (
            verification.PolicyBuilder()
            .store(self._store)
            .time(when)
            .max_chain_depth(self._depth)
            .extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                ee_policy=verification.ExtensionPolicy.permit_all(),
            )
            .build_client_verifier()
        )
        try:
            verifier.verify(leaf, list(chain[1:]))
        except verification.VerificationError as exc:
            raise UnsupportedCredential("certificate chain not trusted") from exc
        try:
            tnal = tn_auth_list(leaf)
        except TNAuthListError as exc:
            raise UnsupportedCredential("malformed TNAuthList") from exc
        if tnal is None:
            raise UnsupportedCredential("certificate has no TNAuthList")
        return CheckedCert(
            public_key=public_key,
            tn_auth_list=tnal,
            valid_from=max(_ts(c.not_valid_before_utc) for c in chain),
            valid_until=min(_ts(c.not_valid_after_utc) for c in chain),
            verify=es256_verifier(public_key),
        )

    def authorise(self, checked: CheckedCert, orig_tn: str) -> None:
        """Raise ``InvalidIdentityHeader`` unless the certificate may assert ``orig_tn``.

        SPC certificates (SHAKEN) are accepted when the SPC is allowed; TN and
        range certificates must list the number.
        """
        tnal = checked.tn_auth_list
        spcs = tnal.spcs
        if spcs and (self.spc_allow is None or spcs & self.spc_allow):
            return
        if tnal.covers_tn(orig_tn):
            return
        raise InvalidIdentityHeader("orig not authorised by the certificate's TNAuthList")


def _chain_key(chain: Sequence[x509.Certificate]) -> bytes:
    digest = hashlib.sha256()
    for cert in chain:
        digest.update(cert.fingerprint(_SHA256))
    return digest.digest()

