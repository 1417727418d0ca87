"""PASSporT tokens: build, sign, decode (RFC 8225; shaken RFC 8588, div RFC 8946,
rcd RFC 9795).

A token is a JWS in compact serialization, ``header.claims.signature``. The full
form carries all three parts; the compact form (RFC 8225 section 7) carries only
the signature, ``..signature``, and the verifier rebuilds header and claims from
the SIP request.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from stir_shaken.errors import InvalidIdentityHeader, SigningError, UnsupportedCredential
from stir_shaken.jose import ES256, b64url_decode, b64url_encode, canonical_json, es256_sign

PPT_SHAKEN = "shaken"
PPT_DIV = "div"
PPT_RCD = "rcd"
ATTESTATIONS = frozenset({"A", "B", "C"})
_SEPARATORS = " -.()"
_MAX_TN = 15  # E.164 maximum length
_JSON = json.JSONDecoder()
_B64URL_TOKEN = re.compile(r"[\w-]++\.[\w-]++\.[\w-]*+", re.ASCII)
_json_str = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

# Claims each PASSporT type must carry (RFC 8225 section 5, RFC 8588 section 4,
# RFC 8946 section 3, RFC 9795 section 5).
REQUIRED_CLAIMS: Mapping[str | None, frozenset[str]] = {
    None: frozenset({"dest", "iat", "orig"}),
    PPT_SHAKEN: frozenset({"attest", "dest", "iat", "orig", "origid"}),
    PPT_DIV: frozenset({"dest", "div", "iat", "orig"}),
    PPT_RCD: frozenset({"dest", "iat", "orig", "rcd"}),
}


def canonical_tn(number: str) -> str:
    """RFC 8224 section 8.3: drop a leading ``+`` and visual separators, keep digits.

    Raises ``ValueError`` for anything that is not a telephone number.
    """
    if number.isdigit() and number.isascii() and len(number) <= _MAX_TN:
        return number  # already canonical: the common case on every call
    text = number.strip()
    if text.startswith("+"):
        text = text[1:]
    digits = "".join(c for c in text if c not in _SEPARATORS)
    if not digits.isascii() or not digits.isdigit() or len(digits) > _MAX_TN:
        raise ValueError("not a telephone number")
    return digits


def rcdi_digest(content: bytes) -> str:
    """RFC 9795 section 6: integrity digest ``sha256-<base64>`` of referenced content."""
    return "sha256-" + base64.b64encode(hashlib.sha256(content).digest()).decode("ascii")


def rcdi_matches(digest: str, content: bytes) -> bool:
    """Check fetched content (a logo at ``icn``, a jCard at ``jcl``) against ``rcdi``."""
    algo, _, _ = digest.partition("-")
    if algo == "sha256":
        return digest == rcdi_digest(content)
    if algo in ("sha384", "sha512"):
        raw = hashlib.new(algo, content).digest()
        return digest == f"{algo}-" + base64.b64encode(raw).decode("ascii")
    return False


@dataclass(frozen=True)
class Passport:
    """A decoded or freshly signed PASSporT. ``signing_input`` is exactly the bytes
    the signature covers, kept as received so verification never re-serialises."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    signature: bytes
    signing_input: bytes = field(repr=False)

    @property
    def ppt(self) -> str | None:
        value = self.header.get("ppt")
        return value if isinstance(value, str) else None

    @property
    def x5u(self) -> str | None:
        value = self.header.get("x5u")
        return value if isinstance(value, str) else None

    @property
    def alg(self) -> str | None:
        value = self.header.get("alg")
        return value if isinstance(value, str) else None

    def full(self) -> str:
        return self.signing_input.decode("ascii") + "." + b64url_encode(self.signature)

    def compact(self) -> str:
        return ".." + b64url_encode(self.signature)


def make_header(x5u: str, ppt: str | None) -> dict[str, str]:
    header = {"alg": ES256, "typ": "passport", "x5u": x5u}
    if ppt is not None:
        header["ppt"] = ppt
    return header


def basic_claims(orig: str, dest: Sequence[str], iat: int) -> dict[str, Any]:
    """RFC 8225 claims without an extension (``ppt`` absent)."""
    return _base_claims(orig, dest, iat)


def shaken_claims(orig: str, dest: Sequence[str], attest: str, origid: str, iat: int
                  ) -> dict[str, Any]:
    if attest not in ATTESTATIONS:
        raise SigningError("attest must be A, B or C")
    if not origid:
        raise SigningError("origid is required")
    return {**_base_claims(orig, dest, iat), "attest": attest, "origid": origid}


def shaken_claims_json(orig: str, dest: Sequence[str], attest: str, origid: str, iat: int
                       ) -> bytes:
    """``canonical_json(shaken_claims(...))`` without building the dict: the signer's
    hot path. Keys are written in sorted order; numbers are digits only, so only
    ``origid`` needs JSON string escaping."""
    if attest not in ATTESTATIONS:
        raise SigningError("attest must be A, B or C")
    if not origid:
        raise SigningError("origid is required")
    if isinstance(dest, str):
        dest = [dest]
    if not dest:
        raise SigningError("dest is empty")
    tns = '","'.join([_tn(d) for d in dest])
    return (
        f'{{"attest":"{attest}","dest":{{"tn":["{tns}"]}},"iat":{int(iat)},'
        f'"orig":{{"tn":"{_tn(orig)}"}},"origid":{_json_str(origid)}}}'
    ).encode()


def div_claims(orig: str, dest: Sequence[str], div: str, iat: int) -> dict[str, Any]:
    """RFC 8946: ``dest`` is the new target, ``div`` the original called number."""
    return {**_base_claims(orig, dest, iat), "div": {"tn": _tn(div)}}


def rcd_claims(
    orig: str,
    dest: Sequence[str],
    iat: int,
    *,
    nam: str,
    icn: str | None = None,
    apn: str | None = None,
    jcd: Mapping[str, Any] | Sequence[Any] | None = None,
    jcl: str | None = None,
    digests: Mapping[str, bytes] | None = None,
) -> dict[str, Any]:
    """RFC 9795 rich call data. ``digests`` maps ``icn``/``jcl`` to the referenced
    content (the caller fetched it); an ``rcdi`` claim is added for each, and for an
    inline ``jcd`` (its digest covers its canonical JSON)."""
    rcd: dict[str, Any] = {"nam": nam}
    if icn is not None:
        rcd["icn"] = icn
    if apn is not None:
        rcd["apn"] = apn
    if jcd is not None:
        rcd["jcd"] = jcd
    if jcl is not None:
        rcd["jcl"] = jcl
    rcdi: dict[str, str] = {}
    for key, content in (digests or {}).items():
        if key not in rcd or key not in ("icn", "jcl"):
            raise SigningError("rcdi digest given for an absent rcd member")
        rcdi["/" + key] = rcdi_digest(content)
    if jcd is not None and digests is not None:
        rcdi["/jcd"] = rcdi_digest(canonical_json(jcd))
    claims = {**_base_claims(orig, dest, iat), "rcd": rcd}
    if rcdi:
        claims["rcdi"] = rcdi
    return claims


def sign(key: ec.EllipticCurvePrivateKey, header: Mapping[str, Any],
         claims: Mapping[str, Any]) -> Passport:
    signing_input = (
        b64url_encode(canonical_json(header)) + "." + b64url_encode(canonical_json(claims))
    ).encode("ascii")
    return Passport(dict(header), dict(claims), es256_sign(key, signing_input), signing_input)


def decode(token: str, *, alphabet_checked: bool = False) -> Passport:
    """Decode a full-form token. Raises ``InvalidIdentityHeader`` if malformed and
    ``UnsupportedCredential`` for an algorithm other than ES256.

    ``alphabet_checked``: the caller (an ``Identity``) already matched the whole
    token against the base64url alphabet, so it is not scanned again.
    """
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1] or (
            not alphabet_checked and _B64URL_TOKEN.fullmatch(token) is None):
        raise InvalidIdentityHeader("not a full-form PASSporT")
    header = _decode_header(parts[0])
    try:
        claims = _json_object(parts[1])
        signature = b64url_decode(parts[2], check=False)
    except ValueError as exc:
        raise InvalidIdentityHeader("undecodable PASSporT") from exc
    return Passport(header, claims, signature, (parts[0] + "." + parts[1]).encode("ascii"))


@functools.lru_cache(maxsize=256)
def _decode_header(encoded: str) -> Mapping[str, Any]:
    """Protected headers repeat for every call a signer makes, so decoding is
    memoised; the result is read-only."""
    try:
        header = _json_object(encoded)
    except ValueError as exc:
        raise InvalidIdentityHeader("undecodable PASSporT header") from exc
    if header.get("alg") != ES256:
        raise UnsupportedCredential("unsupported alg")
    return MappingProxyType(header)


def _json_object(encoded: str) -> dict[str, Any]:
    """base64url JSON object; ``ValueError`` (incl. JSON and UTF-8 errors) otherwise.

    What it returns is safe to log and store: no string (key or value) holds a control
    character or a lone surrogate (JSON's ``\\ud800`` escapes decode to one, which no
    UTF-8 encoder, so no audit writer, accepts), and nesting too deep for the decoder
    is a ValueError, not the RecursionError ``json`` raises.
    """
    try:
        value = _JSON.decode(b64url_decode(encoded, check=False).decode("utf-8"))
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")  # noqa: TRY004 - callers map ValueError to 438
    pending: list[Any] = [value]
    while pending:  # iterative: the depth is the decoder's, near the recursion limit
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and _UNSAFE_TEXT.search(item) is not None:
            raise ValueError("control character or lone surrogate in a PASSporT string")
    return value


def reconstruct(compact_token: str, header: Mapping[str, Any],
                claims: Mapping[str, Any]) -> Passport:
    """Rebuild a compact-form PASSporT from header and claims taken from SIP."""
    parts = compact_token.split(".")
    if len(parts) != 3 or parts[0] or parts[1]:
        raise InvalidIdentityHeader("not a compact-form PASSporT")
    try:
        signature = b64url_decode(parts[2])
    except ValueError as exc:
        raise InvalidIdentityHeader("undecodable signature") from exc
    signing_input = (
        b64url_encode(canonical_json(header)) + "." + b64url_encode(canonical_json(claims))
    ).encode("ascii")
    return Passport(dict(header), dict(claims), signature, signing_input)


def check_claims(passport: Passport) -> tuple[str, list[str]]:
    """Raise ``InvalidIdentityHeader`` when required claims are missing or mistyped;
    return the canonical ``orig`` and ``dest`` numbers."""
    ppt = passport.ppt
    required = REQUIRED_CLAIMS.get(ppt)
    if required is None:
        raise InvalidIdentityHeader("unsupported ppt")
    claims = passport.claims
    if not required <= claims.keys():
        missing = required - claims.keys()
        raise InvalidIdentityHeader("missing claims: " + ",".join(sorted(missing)))
    if passport.header.get("typ", "passport") != "passport":
        raise InvalidIdentityHeader("typ is not passport")
    iat = claims["iat"]
    if type(iat) is not int:
        raise InvalidIdentityHeader("iat is not an integer")
    orig, dests = orig_tn(passport), dest_tns(passport)
    if ppt == PPT_SHAKEN:
        if claims["attest"] not in ATTESTATIONS:
            raise InvalidIdentityHeader("attest is not A, B or C")
        origid = claims["origid"]
        if type(origid) is not str or not origid:
            raise InvalidIdentityHeader("origid is not a string")
    elif ppt == PPT_DIV:
        div = claims["div"]
        if not isinstance(div, dict) or not isinstance(div.get("tn"), str):
            raise InvalidIdentityHeader("div has no tn")
        _canon_claim(div["tn"])
    elif ppt == PPT_RCD:
        rcd = claims["rcd"]
        if not isinstance(rcd, dict) or not isinstance(rcd.get("nam"), str):
            raise InvalidIdentityHeader("rcd has no nam")
        _check_rcdi(rcd, claims.get("rcdi"))
    return orig, dests


def orig_tn(passport: Passport) -> str:
    orig = passport.claims.get("orig")
    tn = orig.get("tn") if type(orig) is dict else None
    if type(tn) is not str:
        raise InvalidIdentityHeader("orig has no tn")
    return _canon_claim(tn)


def dest_tns(passport: Passport) -> list[str]:
    dest = passport.claims.get("dest")
    tns = dest.get("tn") if type(dest) is dict else None
    if type(tns) is not list or not tns:
        raise InvalidIdentityHeader("dest has no tn array")
    out = []
    for tn in tns:
        if type(tn) is not str:
            raise InvalidIdentityHeader("dest has no tn array")
        out.append(_canon_claim(tn))
    return out


def _check_rcdi(rcd: Mapping[str, Any], rcdi: object) -> None:
    if rcdi is None:
        return
    if not isinstance(rcdi, dict) or not all(isinstance(v, str) for v in rcdi.values()):
        raise InvalidIdentityHeader("rcdi is not an object of digests")
    for pointer in rcdi:
        if not pointer.startswith("/") or pointer[1:].split("/")[0] not in rcd:
            raise InvalidIdentityHeader("rcdi points at an absent rcd member")
    jcd = rcd.get("jcd")
    if "/jcd" in rcdi and not rcdi_matches(rcdi["/jcd"], canonical_json(jcd)):
        raise InvalidIdentityHeader("rcdi digest of jcd does not match")


def _canon_claim(tn: str) -> str:
    try:
        return canonical_tn(tn)
    except ValueError as exc:
        raise InvalidIdentityHeader("claim is not a telephone number") from exc


def _tn(number: str) -> str:
    try:
        return canonical_tn(number)
    except ValueError as exc:
        raise SigningError("not a telephone number") from exc


def _base_claims(orig: str, dest: Sequence[str], iat: int) -> dict[str, Any]:
    if isinstance(dest, str):
        dest = [dest]
    if not dest:
        raise SigningError("dest is empty")
    return {"dest": {"tn": [_tn(d) for d in dest]}, "iat": int(iat), "orig": {"tn": _tn(orig)}}
