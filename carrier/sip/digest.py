"""HTTP Digest authentication for SIP (RFC 3261 sec 22, RFC 2617, RFC 7616, RFC 8760).

Client side: answer a 401/407 challenge with an Authorization/Proxy-Authorization
value. Server side: issue challenges with stateless, time-limited nonces and verify
answers (used by tests that play a challenging trunk). Pure: the cnonce, nonce
secret and `now` are passed in.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from carrier.sip.errors import SipError, SipParseError
from carrier.sip.uri import WS, quote, scan_quoted, unquote

_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
ALGORITHMS = ("MD5", "MD5-sess", "SHA-256", "SHA-256-sess")


class DigestError(SipError, ValueError):
    """A challenge or credentials we cannot use; `status_code` is what a server answers."""

    def __init__(self, reason: str, status_code: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


def _hash(algorithm: str, text: str) -> str:
    base = algorithm.removesuffix("-sess")
    fn = _HASHES.get(base.upper())
    if fn is None:
        raise DigestError("unsupported digest algorithm")
    return fn(text.encode("utf-8")).hexdigest()


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """`Digest a="b", c=d` -> ("Digest", {"a": "b", "c": "d"}); names lower-cased."""
    scheme, _, rest = value.strip(WS).partition(" ")
    params: dict[str, str] = {}
    i = 0
    text = rest.strip(WS)
    while i < len(text):
        eq = text.find("=", i)
        if eq < 0:
            raise DigestError("bad auth parameter")
        name = text[i:eq].strip(WS + ",").lower()
        j = eq + 1
        while j < len(text) and text[j] in WS:
            j += 1
        if j < len(text) and text[j] == '"':
            try:
                end = scan_quoted(text, j)
            except SipParseError as err:
                raise DigestError("unterminated quoted string") from err
            params[name] = unquote(text[j:end])
        else:
            end = text.find(",", j)
            end = len(text) if end < 0 else end
            params[name] = text[j:end].strip(WS)
        comma = text.find(",", end)
        i = len(text) if comma < 0 else comma + 1
    return scheme, params


@dataclass(frozen=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @classmethod
    def parse(cls, value: str) -> Challenge:
        scheme, params = parse_auth_params(value)
        if scheme.lower() != "digest" or "realm" not in params or "nonce" not in params:
            raise DigestError("not a digest challenge")
        algorithm = params.get("algorithm", "MD5")
        canonical = next((a for a in ALGORITHMS if a.lower() == algorithm.lower()), None)
        if canonical is None:
            raise DigestError("unsupported digest algorithm")
        qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
        return cls(
            realm=params["realm"],
            nonce=params["nonce"],
            algorithm=canonical,
            qop=qop,
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",
        )

    def __str__(self) -> str:
        parts = [f"realm={quote(self.realm)}", f"nonce={quote(self.nonce)}"]
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f'qop="{",".join(self.qop)}"')
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        if self.stale:
            parts.append("stale=TRUE")
        return "Digest " + ", ".join(parts)


def compute_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str = "00000001",
    cnonce: str = "",
    body: bytes = b"",
) -> str:
    """The `response` value (RFC 2617 sec 3.2.2.1, RFC 7616 sec 3.4.1)."""
    ha1 = _hash(algorithm, f"{username}:{realm}:{password}")
    if algorithm.endswith("-sess"):
        ha1 = _hash(algorithm, f"{ha1}:{nonce}:{cnonce}")
    if qop == "auth-int":
        body_hash = _HASHES[algorithm.removesuffix("-sess").upper()](body).hexdigest()
        ha2 = _hash(algorithm, f"{method}:{uri}:{body_hash}")
    else:
        ha2 = _hash(algorithm, f"{method}:{uri}")
    if qop:
        return _hash(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _hash(algorithm, f"{ha1}:{nonce}:{ha2}")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    realm: str | None = None  # None: answer any realm

    def __repr__(self) -> str:  # never show the password
        return f"Credentials(username={self.username!r}, realm={self.realm!r})"


def authorize(
    challenge: Challenge,
    credentials: Credentials,
    *,
    method: str,
    uri: str,
    cnonce: str,
    nc: int = 1,
    body: bytes = b"",
) -> str:
    """The Authorization / Proxy-Authorization value answering `challenge`."""
    if credentials.realm is not None and credentials.realm != challenge.realm:
        raise DigestError("no credentials for this realm", 401)
    qop = (
        "auth" if "auth" in challenge.qop else ("auth-int" if "auth-int" in challenge.qop else None)
    )
    nc_text = f"{nc:08x}"
    response = compute_response(
        algorithm=challenge.algorithm,
        username=credentials.username,
        realm=challenge.realm,
        password=credentials.password,
        method=method,
        uri=uri,
        nonce=challenge.nonce,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
        body=body,
    )
    parts = [
        f"username={quote(credentials.username)}",
        f"realm={quote(challenge.realm)}",
        f"nonce={quote(challenge.nonce)}",
        f"uri={quote(uri)}",
        f"response={quote(response)}",
        f"algorithm={challenge.algorithm}",
    ]
    if qop:
        parts += [f"qop={qop}", f"nc={nc_text}", f"cnonce={quote(cnonce)}"]
    if challenge.opaque is not None:
        parts.append(f"opaque={quote(challenge.opaque)}")
    return "Digest " + ", ".join(parts)


# ---- server side ----------------------------------------------------------------------
def make_nonce(secret: bytes, now: float) -> str:
    """A stateless nonce: timestamp plus its HMAC, so a server can check age and origin."""
    stamp = f"{int(now):x}"
    mac = hmac.new(secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{stamp}.{mac}"


def nonce_age(secret: bytes, nonce: str, now: float) -> float | None:
    """Seconds since the nonce was made, or None when it is not one of ours."""
    stamp, _, mac = nonce.partition(".")
    want = hmac.new(secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(mac, want):
        return None
    try:
        return now - int(stamp, 16)
    except ValueError:
        return None


@dataclass(frozen=True)
class DigestServer:
    """Challenges and checks answers for one realm (a test trunk, or inbound auth)."""

    realm: str
    secret: bytes
    algorithm: str = "MD5"
    max_age: float = 300.0

    def challenge(self, now: float, *, stale: bool = False) -> str:
        return str(
            Challenge(
                realm=self.realm,
                nonce=make_nonce(self.secret, now),
                algorithm=self.algorithm,
                qop=("auth",),
                stale=stale,
            )
        )

    def verify(
        self, authorization: str, *, method: str, password: str, now: float, body: bytes = b""
    ) -> bool | None:
        """True if valid, False if wrong, None if the nonce is stale (re-challenge)."""
        scheme, params = parse_auth_params(authorization)
        if scheme.lower() != "digest" or params.get("realm") != self.realm:
            return False
        age = nonce_age(self.secret, params.get("nonce", ""), now)
        if age is None:
            return False
        if age > self.max_age:
            return None
        expected = compute_response(
            algorithm=params.get("algorithm", "MD5"),
            username=params.get("username", ""),
            realm=self.realm,
            password=password,
            method=method,
            uri=params.get("uri", ""),
            nonce=params["nonce"],
            qop=params.get("qop"),
            nc=params.get("nc", ""),
            cnonce=params.get("cnonce", ""),
            body=body,
        )
        return hmac.compare_digest(expected, params.get("response", ""))
