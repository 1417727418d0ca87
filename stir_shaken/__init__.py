"""STIR/SHAKEN: PASSporT signing and verification (RFC 8224/8225/8588/8946/9795).

Pure library: no sockets or clocks in the core; ``now`` (POSIX seconds) is passed
in. The asyncio edge is ``stir_shaken.x5u_fetch.X5uFetcher`` and
``stir_shaken.aio.verify_fetching``.
"""

from stir_shaken.certs import TrustStore, load_certificates, load_private_key
from stir_shaken.errors import (
    BadIdentityInfo,
    InvalidIdentityHeader,
    SigningError,
    StaleDate,
    StirError,
    UnsupportedCredential,
    UseIdentityHeader,
)
from stir_shaken.identity import Identity, parse_headers
from stir_shaken.signer import Signer
from stir_shaken.verifier import (
    VERSTAT_FAILED,
    VERSTAT_NONE,
    VERSTAT_PASSED,
    Status,
    Verification,
    Verifier,
)
from stir_shaken.x5u import CertCache
from stir_shaken.x5u_fetch import X5uFetcher

__all__ = [
    "VERSTAT_FAILED",
    "VERSTAT_NONE",
    "VERSTAT_PASSED",
    "BadIdentityInfo",
    "CertCache",
    "Identity",
    "InvalidIdentityHeader",
    "Signer",
    "SigningError",
    "StaleDate",
    "Status",
    "StirError",
    "TrustStore",
    "UnsupportedCredential",
    "UseIdentityHeader",
    "Verification",
    "Verifier",
    "X5uFetcher",
    "load_certificates",
    "load_private_key",
    "parse_headers",
]
