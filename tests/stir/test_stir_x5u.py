"""x5u policy, cache and HTTPS fetch against the dev CA's repository on loopback."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from stir_pki import DEST, ORIG, ORIGID, Pki

from stir_shaken import devca
from stir_shaken.aio import verify_fetching
from stir_shaken.certs import TrustStore, load_certificates
from stir_shaken.errors import BadIdentityInfo
from stir_shaken.signer import Signer
from stir_shaken.verifier import Verifier
from stir_shaken.x5u import (
    DAY,
    CertCache,
    check_url,
    parse_http_response,
    ttl_from_cache_control,
)
from stir_shaken.x5u_fetch import X5uFetcher

# --- pure parts ------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "https://cert.example.test/sp.pem", "https://cert.example.test:8443/sp.pem",
    "https://127.0.0.1/sp.pem",
])
def test_allowed_urls(url: str) -> None:
    assert check_url(url).path == "/sp.pem"


@pytest.mark.parametrize(("url", "why"), [
    ("http://cert.example.test/sp.pem", "https"),
    ("https://cert.example.test:8080/sp.pem", "port"),
    ("https://user:pw@cert.example.test/sp.pem", "userinfo"),
    ("https://cert.example.test/sp.pem?x=1", "query"),
    ("https://cert.example.test/sp.pem#frag", "fragment"),
    ("https:///sp.pem", "host"),
    ("https://cert.example.test:99999/sp.pem", "URL"),
])
def test_refused_urls(url: str, why: str) -> None:
    with pytest.raises(BadIdentityInfo, match=why):
        check_url(url)


def test_extra_port_only_when_allowed() -> None:
    with pytest.raises(BadIdentityInfo):
        check_url("https://127.0.0.1:40000/sp.pem")
    assert check_url("https://127.0.0.1:40000/sp.pem", frozenset({40000})).port == 40000


@pytest.mark.parametrize(("header", "ttl"), [
    (None, DAY), ("", DAY), ("max-age=60", DAY), ("no-store", DAY), ("no-cache", DAY),
    ("public, max-age=172800", 2 * DAY), ("max-age=\"172800\"", 2 * DAY),
    ("max-age=99999999", 7 * DAY), ("max-age=abc", DAY),
])
def test_cache_ttl(header: str | None, ttl: float) -> None:
    assert ttl_from_cache_control(header) == ttl


def test_cache_expiry_lru_and_failures(pki: Pki) -> None:
    cache = CertCache(max_entries=2, negative_ttl=30)
    cache.put_chain("https://a.test/1.pem", [pki.sp], 1000.0, "max-age=172800")
    assert cache.get("https://a.test/1.pem", 1000 + 2 * DAY - 1) is not None
    assert cache.get("https://a.test/1.pem", 1000 + 2 * DAY) is None
    cache.put_failure("https://a.test/2.pem", 1000.0, "x5u unreachable")
    entry = cache.get("https://a.test/2.pem", 1029.0)
    assert entry is not None
    assert entry.chain is None
    assert cache.get("https://a.test/2.pem", 1030.0) is None
    cache.put_chain("https://a.test/3.pem", [pki.sp], 1000.0)
    cache.put_chain("https://a.test/4.pem", [pki.sp], 1000.0)
    assert cache.get("https://a.test/1.pem", 1001.0) is None  # evicted
    bad = cache.put_pem("https://a.test/5.pem", b"not pem", 1000.0)
    assert bad.chain is None


def test_parse_http_response_plain_and_chunked() -> None:
    plain = parse_http_response(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nCache-Control: max-age=1\r\n\r\nhello", 100)
    assert (plain.status, plain.body, plain.headers["cache-control"]) == (200, b"hello",
                                                                          "max-age=1")
    chunked = parse_http_response(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n1;x=y\r\n!\r\n0\r\n\r\n", 100)
    assert chunked.body == b"hello!"
    for bad in (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello", b"garbage",
                b"SIP/2.0 200 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nBad\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
        with pytest.raises(BadIdentityInfo):
            parse_http_response(bad, 100)
    with pytest.raises(BadIdentityInfo, match="large"):
        parse_http_response(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 101, 100)


# --- against a real HTTPS repository on loopback ---------------------------------------


@dataclass
class Repo:
    files: devca.DevFiles
    repo: devca.Repository
    port: int
    now: float

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/sp.pem"

    def fetcher(self, cache: CertCache, **kwargs: object) -> X5uFetcher:
        ctx = devca.client_ssl_context(self.files.ca_cert)
        return X5uFetcher(cache, ssl_context=ctx, allowed_ports=frozenset({self.port}),
                          **kwargs)  # type: ignore[arg-type]

    def verifier(self, cache: CertCache) -> Verifier:
        return Verifier(TrustStore(load_certificates(self.files.ca_cert.read_bytes())), cache)

    def signer(self) -> Signer:
        return Signer.from_pem(self.files.sp_key.read_bytes(), self.url,
                               allowed_ports=frozenset({self.port}))


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repo]:
    # TLS checks certificate dates against the real clock, so the dev PKI is
    # issued at the real time; the STIR checks then run at that fixed instant.
    now = time.time()
    files = devca.create(tmp_path / "pki", now)
    server = devca.Repository({"/sp.pem": files.sp_cert.read_bytes(),
                               "/big.pem": b"x" * 100_000})
    port = await server.start(devca.server_ssl_context(files.tls_cert, files.tls_key))
    try:
        yield Repo(files, server, port, now)
    finally:
        await server.close()


async def test_end_to_end_fetch_verify_and_cache_hit(repo: Repo) -> None:
    cache = CertCache()
    fetcher = repo.fetcher(cache)
    verifier = repo.verifier(cache)
    ident = repo.signer().sign(ORIG, DEST, "A", ORIGID, repo.now)
    first = await verify_fetching(verifier, fetcher, [ident.format()], ORIG, DEST,
                                  now=repo.now + 1)
    assert first.ok, first.detail
    assert repo.repo.requests == 1
    second = await verify_fetching(verifier, fetcher, [ident.format()], ORIG, DEST,
                                   now=repo.now + 2)
    assert second.ok
    assert repo.repo.requests == 1  # served from the cache
    assert fetcher.fetches == 1
    assert verifier.trust.checks == 1  # chain validated once
    assert cache.hits >= 2


async def test_repository_cache_control_is_honoured(repo: Repo) -> None:
    repo.repo.cache_control = "max-age=172800"
    cache = CertCache()
    entry = await repo.fetcher(cache).fetch(repo.url, repo.now)
    assert entry.chain is not None
    assert entry.expires == repo.now + 2 * DAY


async def test_unreachable_x5u_is_436(repo: Repo) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    url = f"https://127.0.0.1:{dead_port}/sp.pem"
    cache = CertCache()
    signer = Signer.from_pem(repo.files.sp_key.read_bytes(), url,
                             allowed_ports=frozenset({dead_port}))
    fetcher = X5uFetcher(cache, ssl_context=devca.client_ssl_context(repo.files.ca_cert),
                         allowed_ports=frozenset({dead_port}))
    result = await verify_fetching(repo.verifier(cache), fetcher,
                                   [signer.sign(ORIG, DEST, "A", ORIGID, repo.now)],
                                   ORIG, DEST, now=repo.now)
    assert (result.sip_code, result.reason, result.detail) == (436, "Bad Identity Info",
                                                               "x5u unreachable")


async def test_port_policy_refuses_before_connecting(repo: Repo) -> None:
    cache = CertCache()
    fetcher = X5uFetcher(cache, ssl_context=devca.client_ssl_context(repo.files.ca_cert))
    entry = await fetcher.fetch(repo.url, repo.now)
    assert entry.chain is None
    assert entry.error == "x5u port not allowed"
    assert repo.repo.requests == 0


async def test_untrusted_tls_is_436(repo: Repo) -> None:
    cache = CertCache()
    fetcher = X5uFetcher(cache, ssl_context=ssl.create_default_context(),
                         allowed_ports=frozenset({repo.port}))
    entry = await fetcher.fetch(repo.url, repo.now)
    assert entry.error == "x5u TLS handshake failed"


async def test_http_error_and_oversized_are_failures(repo: Repo) -> None:
    cache = CertCache()
    fetcher = repo.fetcher(cache, max_bytes=64 * 1024)
    missing = await fetcher.fetch(f"https://127.0.0.1:{repo.port}/nope.pem", repo.now)
    assert missing.error == "x5u answered HTTP 404"
    big = await fetcher.fetch(f"https://127.0.0.1:{repo.port}/big.pem", repo.now)
    assert big.chain is None
    assert "large" in big.error


async def test_silent_server_times_out(repo: Repo) -> None:
    stalled: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stalled.append(writer)
        await reader.read()  # until the client gives up

    ctx = devca.server_ssl_context(repo.files.tls_cert, repo.files.tls_key)
    server = await asyncio.start_server(never_answer, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        cache = CertCache()
        fetcher = X5uFetcher(cache, ssl_context=devca.client_ssl_context(repo.files.ca_cert),
                             allowed_ports=frozenset({port}), timeout=0.3)
        started = time.monotonic()
        entry = await fetcher.fetch(f"https://127.0.0.1:{port}/sp.pem", repo.now)
        assert entry.error == "x5u fetch timed out"
        assert time.monotonic() - started < 2.0
    finally:
        for writer in stalled:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_fetches_are_bounded_per_request(repo: Repo) -> None:
    cache = CertCache()
    fetcher = repo.fetcher(cache)
    urls = [f"https://127.0.0.1:{repo.port}/sp.pem?n={i}" for i in range(10)]
    await fetcher.ensure(urls, repo.now, max_urls=3)
    assert sum(cache.get(u, repo.now) is not None for u in urls) == 3
