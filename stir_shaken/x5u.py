"""x5u certificate repository: URL policy, a pure cache, and an asyncio fetcher.

ATIS-1000074 / STANDARDS.md: HTTPS only, ports 443 and 8443, no userinfo, query
or fragment; a short timeout; a bounded response; cache for 24 h when the
response carries no caching directive or one below 24 h (a longer ``max-age`` is
honoured up to ``max_ttl``). The fetch runs on the event loop with
``asyncio.open_connection`` (a minimal HTTP/1.1 GET), so it never blocks it.
The cache takes ``now`` (POSIX seconds) and is what the pure verifier reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from stir_shaken.errors import BadIdentityInfo

DEFAULT_PORTS = frozenset({443, 8443})
DAY = 86400.0
_MAX_HEADER_BYTES = 16 * 1024
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


class X5uFetcher:
    """Fetch x5u certificates into a ``CertCache`` without blocking the loop.

    ``allowed_ports`` defaults to {443, 8443}; tests serving on a loopback
    ephemeral port pass that port explicitly.
    """

    def __init__(self, cache: CertCache, *, ssl_context: ssl.SSLContext | None = None,
                 allowed_ports: frozenset[int] = DEFAULT_PORTS, timeout: float = 2.0,
                 max_bytes: int = 64 * 1024) -> None:
        self.cache = cache
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.allowed_ports = allowed_ports
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.fetches = 0

    async def ensure(self, urls: Iterable[str], now: float, *, max_urls: int = 4) -> None:
        """Make sure each URL has a cache entry (chain or failure) at ``now``.

        At most ``max_urls`` distinct URLs are fetched per request, so one INVITE
        stuffed with Identity headers cannot make us fetch without bound; the
        rest stay uncached and verify as 436.
        """
        missing = sorted({u for u in urls if self.cache.get(u, now) is None})[:max_urls]
        if missing:
            await asyncio.gather(*(self.fetch(u, now) for u in missing))

    async def fetch(self, url: str, now: float) -> CacheEntry:
        cached = self.cache.get(url, now)
        if cached is not None:
            return cached
        try:
            response = await self._fetch(url)
        except BadIdentityInfo as exc:
            return self.cache.put_failure(url, now, exc.detail)
        return self.cache.put_pem(url, response.body, now, response.headers.get("cache-control"))

    async def _fetch(self, url: str) -> HttpResponse:
        target = check_url(url, self.allowed_ports)
        self.fetches += 1
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._get(target)
        except TimeoutError as exc:
            raise BadIdentityInfo("x5u fetch timed out") from exc
        except ssl.SSLError as exc:
            raise BadIdentityInfo("x5u TLS handshake failed") from exc
        except OSError as exc:
            raise BadIdentityInfo("x5u unreachable") from exc
        if response.status != 200:
            raise BadIdentityInfo(f"x5u answered HTTP {response.status}")
        return response

    async def _get(self, target: X5uUrl) -> HttpResponse:
        reader, writer = await asyncio.open_connection(
            target.host, target.port, ssl=self.ssl_context, server_hostname=target.host,
            limit=_MAX_HEADER_BYTES,
        )
        try:
            host = target.host if ":" not in target.host else f"[{target.host}]"
            if target.port != 443:
                host = f"{host}:{target.port}"
            writer.write(
                f"GET {target.path} HTTP/1.1\r\nHost: {host}\r\n"
                "Accept: application/pem-certificate-chain, application/x-pem-file\r\n"
                "User-Agent: carrier-stir\r\nConnection: close\r\n\r\n".encode("ascii")
            )
            await writer.drain()
            limit = self.max_bytes + _MAX_HEADER_BYTES
            data = await reader.read(limit + 1)
            chunks = [data]
            total = len(data)
            while data and total <= limit:
                data = await reader.read(limit + 1 - total)
                chunks.append(data)
                total += len(data)
            if total > limit:
                raise BadIdentityInfo("x5u response too large")
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
        return parse_http_response(b"".join(chunks), self.max_bytes)
