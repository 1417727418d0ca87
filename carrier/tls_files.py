"""The SIP TLS listener's certificate and key, as the settings ask for them.

* ``sip.tls_port: null``: no TLS listener.
* ``sip.tls_cert`` and ``sip.tls_key`` set: those files (they must exist).
* Neither set and ``bind_host`` on loopback: a self-signed ECDSA P-256 certificate for
  that address, made once in ``<data_dir>/tls`` (the key readable by its owner only) and
  made again when it is about to expire.
* Neither set on any other address: the settings loader has already refused to start.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from carrier.errors import ConfigError
from carrier.settings import Settings

CERT_NAME = "sip-self-signed.pem"
KEY_NAME = "sip-self-signed.key"
VALID_DAYS = 365
RENEW_BEFORE = dt.timedelta(days=7)


def tls_files(settings: Settings, *, now: dt.datetime | None = None) -> tuple[str, str] | None:
    """(certificate, key) paths for the TLS listener, or None when TLS is off."""
    sip = settings.sip
    if sip.tls_port is None:
        return None
    if sip.tls_cert and sip.tls_key:
        for key, value in (("sip.tls_cert", sip.tls_cert), ("sip.tls_key", sip.tls_key)):
            if not Path(value).is_file():
                raise ConfigError(_file(settings), key, f"file {value} not found")
        return sip.tls_cert, sip.tls_key
    host = "127.0.0.1" if sip.bind_host in ("", "localhost") else sip.bind_host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:  # the loader refuses this already; a hand-built Settings lands here
        raise ConfigError(_file(settings), "sip.tls_cert",
                          "TLS on a non-loopback bind_host needs sip.tls_cert and sip.tls_key")
    folder = settings.path(None, "tls")
    cert_path, key_path = folder / CERT_NAME, folder / KEY_NAME
    when = now or dt.datetime.now(dt.UTC)
    if not _usable(cert_path, key_path, host, when):
        _make_self_signed(folder, cert_path, key_path, host, when)
    return str(cert_path), str(key_path)


def _file(settings: Settings) -> str:
    return str(Path(settings.config_dir) / "carrier.yaml")


def _usable(cert_path: Path, key_path: Path, host: str, now: dt.datetime) -> bool:
    if not (cert_path.is_file() and key_path.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    ips = names.get_values_for_type(x509.IPAddress)
    return ipaddress.ip_address(host) in ips and cert.not_valid_after_utc - RENEW_BEFORE > now


def _make_self_signed(folder: Path, cert_path: Path, key_path: Path, host: str,
                      now: dt.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
