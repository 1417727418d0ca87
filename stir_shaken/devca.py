"""A development STI-CA and x5u repository so the whole chain runs on one machine.

Creates a test STI-CA, a service-provider certificate carrying a TNAuthList SPC,
and an HTTPS server certificate for the loopback address, then serves the SP
certificate over HTTPS. For tests and operator debugging only: keys are written
unencrypted.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stir_shaken.certs import tn_auth_list_extension
from stir_shaken.tnauthlist import Spc, TNAuthList

DAY = datetime.timedelta(days=1)


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Carrier Dev"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _dt(now: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(int(now), tz=datetime.UTC)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_ca(now: float, *, name: str = "Carrier Dev STI-CA", days: int = 3650,
            key: ec.EllipticCurvePrivateKey | None = None,
            ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed root CA valid from an hour before ``now``."""
    key = key or new_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name)).issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_dt(now) - datetime.timedelta(hours=1))
        .not_valid_after(_dt(now) + days * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_sp_cert(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, now: float,
                 *, tnal: TNAuthList, name: str = "Carrier Dev SHAKEN SP",
                 not_before: float | None = None, not_after: float | None = None,
                 key: ec.EllipticCurvePrivateKey | None = None,
                 ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A SHAKEN service-provider certificate (ATIS-1000080 shape) with ``tnal``."""
    key = key or new_key()
    start = _dt(not_before) if not_before is not None else _dt(now) - datetime.timedelta(hours=1)
    end = _dt(not_after) if not_after is not None else _dt(now) + 365 * DAY
    cert = (
        _leaf(ca_key, ca_cert, key, name, start=start, end=end)
        .add_extension(tn_auth_list_extension(tnal), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def make_tls_cert(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, now: float,
                  *, host: str = "127.0.0.1",
                  ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """An HTTPS server certificate for the x5u repository on ``host``."""
    key = new_key()
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        san = x509.DNSName(host)
    cert = (
        _leaf(ca_key, ca_cert, key, host, start=_dt(now) - datetime.timedelta(hours=1),
              end=_dt(now) + 365 * DAY)
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _leaf(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate,
          key: ec.EllipticCurvePrivateKey, name: str, *, start: datetime.datetime,
          end: datetime.datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(name)).issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
        crl_sign=cert_sign, encipher_only=False, decipher_only=False,
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass(frozen=True)
class DevFiles:
    """Where ``create`` wrote everything."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    sp_cert: Path
    sp_key: Path
    tls_cert: Path
    tls_key: Path

    @classmethod
    def at(cls, directory: Path) -> DevFiles:
        return cls(directory, directory / "ca.pem", directory / "ca-key.pem",
                   directory / "sp.pem", directory / "sp-key.pem",
                   directory / "tls.pem", directory / "tls-key.pem")

    def exists(self) -> bool:
        return all(p.exists() for p in (self.ca_cert, self.sp_cert, self.sp_key,
                                        self.tls_cert, self.tls_key))


def create(directory: Path, now: float, *, spc: str = "1234", host: str = "127.0.0.1"
           ) -> DevFiles:
    """Write a dev STI-CA, an SP certificate with SPC ``spc`` and a TLS certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    files = DevFiles.at(directory)
    ca_key, ca_cert = make_ca(now)
    sp_key, sp_cert = make_sp_cert(ca_key, ca_cert, now, tnal=TNAuthList.of([Spc(spc)]))
    tls_key, tls_cert = make_tls_cert(ca_key, ca_cert, now, host=host)
    _write(files.ca_cert, cert_pem(ca_cert))
    _write(files.ca_key, key_pem(ca_key), secret=True)
    _write(files.sp_cert, cert_pem(sp_cert))
    _write(files.sp_key, key_pem(sp_key), secret=True)
    _write(files.tls_cert, cert_pem(tls_cert))
    _write(files.tls_key, key_pem(tls_key), secret=True)
    return files


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def server_ssl_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def client_ssl_context(ca_file: Path) -> ssl.SSLContext:
    """What an x5u fetcher uses to trust the dev repository's TLS certificate."""
    return ssl.create_default_context(cafile=str(ca_file))


class Repository:
    """A tiny HTTPS server for certificates: GET ``path`` -> PEM bytes.

    ``requests`` counts GETs so tests can prove the verifier's cache worked.
    """

    def __init__(self, documents: Mapping[str, bytes], *, cache_control: str | None = None
                 ) -> None:
        self.documents = dict(documents)
        self.cache_control = cache_control
        self.requests = 0
        self._server: asyncio.Server | None = None

    async def start(self, ssl_context: ssl.SSLContext, host: str = "127.0.0.1",
                    port: int = 0) -> int:
        self._server = await asyncio.start_server(self._handle, host, port, ssl=ssl_context)
        sockname = self._server.sockets[0].getsockname()
        return int(sockname[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def serve_forever(self) -> None:
        if self._server is None:
            raise RuntimeError("start() first")
        await self._server.serve_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                head = await reader.readuntil(b"\r\n\r\n")
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            self.requests += 1
            body = (self.documents.get(request_line[1])
                    if len(request_line) == 3 and request_line[0] == "GET" else None)
            if body is None:
                status, body, extra = "404 Not Found", b"not found\n", ""
            else:
                status = "200 OK"
                extra = f"Cache-Control: {self.cache_control}\r\n" if self.cache_control else ""
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/pem-certificate-chain\r\n"
                f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
                .encode("latin-1") + body
            )
            await writer.drain()
        except (OSError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            pass  # a broken client only loses its own connection
        finally:
            writer.close()
