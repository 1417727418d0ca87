"""Synthetic PKI for STIR/SHAKEN tests, all built around a fixed clock."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from stir_shaken import devca
from stir_shaken.certs import TrustStore
from stir_shaken.signer import Signer
from stir_shaken.tnauthlist import One, Spc, TNAuthList, TnRange
from stir_shaken.verifier import Verifier
from stir_shaken.x5u import CertCache

NOW = 1_800_000_000.0  # 2027-01-15, a fixed clock for every STIR test
X5U = "https://cert.example.test/sp.pem"
X5U_RANGE = "https://cert.example.test/range.pem"
ORIG = "12025550100"
DEST = "12025550101"
ORIGID = "4437c7eb-8f7a-4f0e-a863-f53a0e60251a"


@dataclass(frozen=True)
class Pki:
    ca_key: ec.EllipticCurvePrivateKey
    ca: x509.Certificate
    sp_key: ec.EllipticCurvePrivateKey
    sp: x509.Certificate
    range_key: ec.EllipticCurvePrivateKey
    range_cert: x509.Certificate
    rogue_ca_key: ec.EllipticCurvePrivateKey
    rogue_ca: x509.Certificate

    def signer(self, x5u: str = X5U) -> Signer:
        return Signer(self.sp_key, x5u)

    def cache(self) -> CertCache:
        cache = CertCache()
        cache.put_chain(X5U, [self.sp], NOW)
        cache.put_chain(X5U_RANGE, [self.range_cert], NOW)
        return cache

    def verifier(self, cache: CertCache | None = None, **kwargs: object) -> Verifier:
        return Verifier(TrustStore([self.ca]), cache or self.cache(), **kwargs)  # type: ignore[arg-type]


def build_pki() -> Pki:
    ca_key, ca = devca.make_ca(NOW)
    sp_key, sp = devca.make_sp_cert(ca_key, ca, NOW, tnal=TNAuthList.of([Spc("1234")]))
    range_key, range_cert = devca.make_sp_cert(
        ca_key, ca, NOW,
        tnal=TNAuthList.of([TnRange("12025550100", 50), One("13105550199")]),
    )
    rogue_key, rogue = devca.make_ca(NOW, name="Rogue CA")
    return Pki(ca_key, ca, sp_key, sp, range_key, range_cert, rogue_key, rogue)
