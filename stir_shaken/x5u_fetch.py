"""x5u certificate fetcher: fills a :class:`~stir_shaken.x5u.CertCache` over HTTPS.

The asyncio edge of the x5u repository (the URL policy, cache and response parsing are
pure, in :mod:`stir_shaken.x5u`). The fetch runs on the event loop with
``asyncio.open_connection`` (a minimal HTTP/1.1 GET with a short timeout), so it never
blocks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterable

from stir_shaken.errors import BadIdentityInfo
from stir_shaken.x5u import (
    DEFAULT_PORTS,
    MAX_HEADER_BYTES,
    CacheEntry,
    CertCache,
    HttpResponse,
    X5uUrl,
    check_url,
    parse_http_response,
)


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
            limit=MAX_HEADER_BYTES,
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
            limit = self.max_bytes + MAX_HEADER_BYTES
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
