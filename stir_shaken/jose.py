"""JWS pieces PASSporT needs: base64url, canonical JSON, ES256 with raw R||S.

RFC 8225 section 9 (canonical JSON: keys sorted, no whitespace), RFC 7515
(base64url without padding), RFC 7518 section 3.4 (ES256 signatures are the
64-byte concatenation R||S, not DER).
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

ES256 = "ES256"
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_SEPARATORS = (",", ":")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_B64URL = re.compile(r"(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?={0,2}")


def b64url_encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URLSAFE).decode(
        "ascii")


def b64url_decode(text: str, *, check: bool = True) -> bytes:
    """Strict base64url: URL-safe alphabet only, padding optional (errata 6499).

    ``check=False`` skips the alphabet check for text the caller already matched
    against the base64url alphabet (a whole token at once).
    """
    if check and _B64URL.fullmatch(text) is None:
        raise ValueError("not base64url")
    stripped = text.rstrip("=")
    try:
        return binascii.a2b_base64(
            stripped.encode("ascii").translate(_FROM_URLSAFE) + b"=" * (-len(stripped) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def canonical_json(value: Any) -> bytes:
    """RFC 8225 section 9: lexicographically sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=_SEPARATORS, ensure_ascii=False, default=_mapping
    ).encode("utf-8")


def _mapping(value: object) -> dict[str, Any]:
    # Decoded headers are read-only mappings; serialise them like dicts.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def es256_sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """Sign and return the raw 64-byte R||S."""
    r, s = decode_dss_signature(key.sign(data, _ECDSA_SHA256))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def es256_verify(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` (raw R||S, exactly 64 bytes) is valid for ``data``."""
    if len(signature) != 64:
        return False
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(der, data, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    return True


def is_p256(key: object) -> bool:
    return isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) and isinstance(
        key.curve, ec.SECP256R1
    )


Es256Verify = Callable[[bytes, bytes], bool]
Es256Sign = Callable[[bytes], bytes]


def es256_verifier(key: ec.EllipticCurvePublicKey) -> Es256Verify:
    """``verify(raw_signature, data)`` bound to one key, cached with the certificate."""
    return lambda signature, data: es256_verify(key, signature, data)


def es256_signer(key: ec.EllipticCurvePrivateKey) -> Es256Sign:
    """``sign(data) -> raw R||S`` bound to one key."""
    return lambda data: es256_sign(key, data)
