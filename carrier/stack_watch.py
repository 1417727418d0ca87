"""What fails a running node from outside its code: certificates running out, a full disk.

:class:`CertificateWatch` reads each certificate file the node serves with at every
health report and every scrape (a renewed file on disk is seen at once): the console's
HTTPS certificate, the SIP TLS listener's, and the STIR/SHAKEN signing certificate when
it is a local file (the development STI-CA's). The check ``cert.<name>`` fails once a
certificate has expired (browsers, ``carrier health`` and verifying carriers refuse it)
and says how many days are left while it is within ``RENEW_WITHIN_DAYS``; the metric
``carrier_certificate_expiry_timestamp_seconds{cert}`` is its ``notAfter``, for an alert on
``... - time() < 14 * 86400``. A file that cannot be read or parsed fails the check.

:class:`DiskWatch` checks the data folder's filesystem (the embedded database, the records
spool, recordings): the check ``disk.data`` fails below ``MIN_FREE_BYTES`` or
``MIN_FREE_RATIO`` free (that ratio asking at most ``RATIO_FLOOR_CAP``), when the
database and the spool are about to refuse writes and records would be lost;
``carrier_data_free_bytes`` and ``carrier_data_size_bytes`` are the levels. Details carry
days, bytes and error classes only.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from carrier.console.server import CERT_NAME as CONSOLE_CERT
from carrier.health import ComponentHealth
from carrier.metrics import Level
from carrier.settings import Settings
from carrier.tls_files import CERT_NAME as SIP_CERT

RENEW_WITHIN_DAYS = 14
MIN_FREE_BYTES = 512 * 1024 * 1024
MIN_FREE_RATIO = 0.02
RATIO_FLOOR_CAP = 4 * 1024 ** 3  # 2% of a large disk is plenty: the ratio asks at most this
DAY = 86400.0


def not_after(path: Path) -> float:
    """The (first) certificate's ``notAfter`` in ``path``, as Unix seconds."""
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.not_valid_after_utc.timestamp()


@dataclass
class CertificateWatch:
    """``files``: name -> certificate file; ``clock``: Unix seconds (wall clock)."""

    files: dict[str, Path]
    clock: Callable[[], float] = time.time
    renew_within_days: int = RENEW_WITHIN_DAYS

    def _read(self, path: Path) -> float | str:
        try:
            return not_after(path)
        except (OSError, ValueError) as exc:
            return type(exc).__name__

    def health(self) -> list[ComponentHealth]:
        out = []
        now = self.clock()
        for name, path in self.files.items():
            end = self._read(path)
            if isinstance(end, str):
                out.append(ComponentHealth(f"cert.{name}", False, f"unreadable ({end})"))
                continue
            days = (end - now) / DAY
            until = dt.datetime.fromtimestamp(end, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            if days <= 0:
                out.append(ComponentHealth(f"cert.{name}", False,
                                           f"expired {-days:.0f} days ago ({until})"))
            elif days <= self.renew_within_days:
                out.append(ComponentHealth(f"cert.{name}", True,
                                           f"renew: expires in {days:.1f} days ({until})"))
            else:
                out.append(ComponentHealth(f"cert.{name}", True,
                                           f"expires in {days:.0f} days ({until})"))
        return out

    def levels(self) -> list[Level]:
        out = []
        for name, path in self.files.items():
            end = self._read(path)
            if not isinstance(end, str):
                out.append(Level("carrier_certificate_expiry_timestamp_seconds",
                                 "notAfter of a certificate the node serves with",
                                 (("cert", name),), end))
        return out


@dataclass
class DiskWatch:
    """The data folder's filesystem; ``usage`` is :func:`shutil.disk_usage`'s shape."""

    path: Path
    min_free_bytes: int = MIN_FREE_BYTES
    min_free_ratio: float = MIN_FREE_RATIO
    usage: Callable[[Path], tuple[int, int, int]] = field(default=shutil.disk_usage)

    def health(self) -> ComponentHealth:
        try:
            total, _, free = self.usage(self.path)
        except OSError as exc:
            return ComponentHealth("disk.data", False, f"unreadable ({type(exc).__name__})")
        mib = free // (1024 * 1024)
        ratio = free / total if total else 0.0
        floor = max(self.min_free_bytes, min(self.min_free_ratio * total, RATIO_FLOOR_CAP))
        low = free < floor
        detail = f"{mib} MiB free ({ratio:.1%})"
        return ComponentHealth("disk.data", not low,
                               f"nearly full: {detail}; records and the database will fail"
                               if low else detail)

    def levels(self) -> Sequence[Level]:
        try:
            total, _, free = self.usage(self.path)
        except OSError:
            return []
        return [Level("carrier_data_free_bytes", "Free bytes on the data folder's filesystem",
                      (), float(free)),
                Level("carrier_data_size_bytes", "Size of the data folder's filesystem",
                      (), float(total))]


def served_certificates(settings: Settings) -> dict[str, Path]:
    """The certificate files the node serves with, as its settings name them: the console's
    (``console.cert_file`` or the loopback one it makes), the SIP TLS listener's
    (``sip.tls_cert`` or the loopback one), the development STI-CA's signing certificate
    when STIR runs without ``stir.key_file``/``stir.x5u`` (an operator's certificate is at
    its ``x5u`` URL, not on this disk)."""
    files: dict[str, Path] = {}
    console, sip, stir = settings.console, settings.sip, settings.stir
    if console.tls:
        files["console"] = (settings.path(console.cert_file, "") if console.cert_file
                            else settings.path(None, f"console/tls/{CONSOLE_CERT}"))
    if sip.tls_port is not None:
        files["sip_tls"] = (Path(sip.tls_cert) if sip.tls_cert and sip.tls_key
                            else settings.path(None, f"tls/{SIP_CERT}"))
    if stir.enabled and not (stir.key_file and stir.x5u):
        files["stir"] = settings.path(None, "stir") / "sp.pem"
    return files


def listener_open(listener: object) -> bool:
    """A SIP listener still takes messages: its UDP socket is not closed, its TCP/TLS server
    still serves (duck-typed on :class:`carrier.sip.transport.Listener`)."""
    udp = getattr(listener, "udp", None)
    if udp is not None:
        transport = getattr(udp, "transport", None)
        return transport is not None and not transport.is_closing()
    server = getattr(listener, "server", None)
    return server is not None and bool(server.is_serving())


def sip_check(listeners: Callable[[], dict[str, object]]) -> ComponentHealth:
    """``sip``: every listener the endpoint opened still open. Before, the check only said
    that listeners had been opened at start, so a socket closed under the node passed."""
    opened = listeners()
    closed = [name for name, lsn in opened.items() if not listener_open(lsn)]
    if not opened:
        return ComponentHealth("sip", False, "no listeners")
    if closed:
        return ComponentHealth("sip", False, f"closed: {', '.join(closed)}")
    return ComponentHealth("sip", True, ", ".join(opened))


def sip_levels(listeners: dict[str, object]) -> list[Level]:
    return [Level("carrier_sip_listener_up", "1 while a SIP listener takes messages",
                  (("transport", name),), 1.0 if listener_open(lsn) else 0.0)
            for name, lsn in listeners.items()]
