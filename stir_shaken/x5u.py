"""x5u certificate repository, the pure part: URL policy, cache, HTTP response parsing.

ATIS-1000074 / STANDARDS.md: HTTPS only, ports 443 and 8443, no userinfo, query
or fragment; a bounded response; cache for 24 h when the response carries no caching
directive or one below 24 h (a longer ``max-age`` is honoured up to ``max_ttl``).
The cache takes ``now`` (POSIX seconds) and is what the pure signer and verifier read;
the asyncio fetcher that fills it is :mod:`stir_shaken.x5u_fetch`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from stir_shaken.errors import BadIdentityInfo

DEFAULT_PORTS = frozenset({443, 8443})
DAY = 86400.0
MAX_HEADER_BYTES = 16 * 1024  # bound on the response head a fetcher reads
_DER = Encoding.DER


@dataclass(frozen=True)
class X5uUrl:
    host: str
    port: int
    path: str


def check_url(url: str, allowed_ports: frozenset[int] = DEFAULT_PORTS) -> X5uUrl:
    """Apply the x5u URL policy; raise ``BadIdentityInfo`` when it is refused."""
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError as exc:
        raise BadIdentityInfo("x5u is not a URL") from exc
    if parts.scheme != "https":
        raise BadIdentityInfo("x5u is not https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise BadIdentityInfo("x5u has userinfo")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise BadIdentityInfo("x5u has a query or fragment")
    if not parts.hostname:
        raise BadIdentityInfo("x5u has no host")
    if port not in allowed_ports:
        raise BadIdentityInfo("x5u port not allowed")
    return X5uUrl(parts.hostname, port, parts.path or "/")


def ttl_from_cache_control(value: str | None, *, minimum: float = DAY,
                           maximum: float = 7 * DAY) -> float:
    """Seconds to keep a certificate: ``max-age`` if present, never below ``minimum``
    (directives below it, ``no-cache`` and ``no-store`` included, get the minimum)."""
    ttl = minimum
    for directive in (value or "").split(","):
        name, _, arg = directive.strip().partition("=")
        if name.lower() in ("max-age", "s-maxage"):
            try:
                ttl = max(ttl, float(int(arg.strip().strip('"'))))
            except ValueError:
                continue
    return min(max(ttl, minimum), maximum)


@dataclass(frozen=True)
class CacheEntry:
    """A fetched chain (leaf first) or a remembered failure, until ``expires``."""

    chain: tuple[x509.Certificate, ...] | None
    expires: float
    error: str = ""
    key: bytes = b""  # stable identity of the chain, for the trust-store cache


class CertCache:
    """Bounded LRU cache of x5u results. Failures are cached briefly so a dead
    repository is not hammered by every call."""

    def __init__(self, *, minimum_ttl: float = DAY, maximum_ttl: float = 7 * DAY,
                 negative_ttl: float = 30.0, max_entries: int = 4096) -> None:
        self.minimum_ttl = minimum_ttl
        self.maximum_ttl = maximum_ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, url: str, now: float) -> CacheEntry | None:
        entry = self._entries.get(url)
        if entry is None or now >= entry.expires:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(url)
        return entry

    def put_chain(self, url: str, chain: Iterable[x509.Certificate], now: float,
                  cache_control: str | None = None) -> CacheEntry:
        certs = tuple(chain)
        ttl = ttl_from_cache_control(cache_control, minimum=self.minimum_ttl,
                                     maximum=self.maximum_ttl)
        digest = hashlib.sha256()
        for cert in certs:
            digest.update(cert.public_bytes(_DER))
        entry = CacheEntry(certs, now + ttl, key=digest.digest())
        self._store(url, entry)
        return entry

    def put_pem(self, url: str, pem: bytes, now: float,
                cache_control: str | None = None) -> CacheEntry:
        try:
            certs = x509.load_pem_x509_certificates(pem)
        except ValueError:
            return self.put_failure(url, now, "x5u content is not a PEM certificate")
        return self.put_chain(url, certs, now, cache_control)

    def put_failure(self, url: str, now: float, error: str) -> CacheEntry:
        entry = CacheEntry(None, now + self.negative_ttl, error=error)
        self._store(url, entry)
        return entry

    def _store(self, url: str, entry: CacheEntry) -> None:
        self._entries[url] = entry
        self._entries.move_to_end(url)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def parse_http_response(data: bytes, max_body: int) -> HttpResponse:
    """Parse a complete HTTP/1.1 response read up to EOF (Connection: close)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise BadIdentityInfo("x5u response has no header end")
    lines = head.decode("latin-1").split("\r\n")
    status_parts = lines[0].split(" ", 2)
    if len(status_parts) < 2 or not status_parts[0].startswith("HTTP/1."):
        raise BadIdentityInfo("x5u response is not HTTP/1.x")
    try:
        status = int(status_parts[1])
    except ValueError as exc:
        raise BadIdentityInfo("x5u response status is not a number") from exc
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise BadIdentityInfo("x5u response header is malformed")
        key = name.strip().lower()
        headers[key] = (headers[key] + ", " if key in headers else "") + value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body, max_body)
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError as exc:
            raise BadIdentityInfo("x5u Content-Length is not a number") from exc
        if length > max_body or len(body) < length:
            raise BadIdentityInfo("x5u body too large or truncated")
        body = body[:length]
    if len(body) > max_body:
        raise BadIdentityInfo("x5u body too large")
    return HttpResponse(status, headers, body)


def _dechunk(data: bytes, max_body: int) -> bytes:
    out = bytearray()
    while True:
        size_line, sep, data = data.partition(b"\r\n")
        if not sep:
            raise BadIdentityInfo("x5u chunked body truncated")
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError as exc:
            raise BadIdentityInfo("x5u chunk size malformed") from exc
        if size == 0:
            return bytes(out)
        if len(data) < size + 2 or len(out) + size > max_body:
            raise BadIdentityInfo("x5u chunked body truncated or too large")
        out += data[:size]
        data = data[size + 2 :]
