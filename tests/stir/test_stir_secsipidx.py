"""Interop with an independent implementation: Debian's ``secsipidx`` (Go).

secsipidx checks ``iat`` against the real clock (``-expire``), so these tests sign
at the real time; each makes one short subprocess call.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from stir_shaken import devca
from stir_shaken.certs import TrustStore, load_certificates
from stir_shaken.identity import Identity
from stir_shaken.jose import b64url_decode, b64url_encode
from stir_shaken.signer import Signer
from stir_shaken.verifier import Verifier
from stir_shaken.x5u import CertCache

SECSIPIDX = shutil.which("secsipidx")
pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(SECSIPIDX is None, reason="secsipidx binary not installed "
                       "(Debian package secsipidx)"),
]
X5U = "https://cert.example.test/sp.pem"
ORIG, DEST = "12025550100", "12025550101"


def _secsipidx(*args: str) -> subprocess.CompletedProcess[str]:
    assert SECSIPIDX is not None
    return subprocess.run([SECSIPIDX, *args], capture_output=True, text=True, timeout=30,
                          check=False)


@pytest.fixture(scope="module")
def real_pki(tmp_path_factory: pytest.TempPathFactory) -> devca.DevFiles:
    return devca.create(tmp_path_factory.mktemp("secsipidx"), time.time())


def _check(files: devca.DevFiles, identity: str, tmp: Path, *extra: str
           ) -> subprocess.CompletedProcess[str]:
    path = tmp / "identity.txt"
    path.write_text(identity)
    return _secsipidx("-check", "-fidentity", str(path), "-fpubkey", str(files.sp_cert),
                      "-expire", "60", *extra)


def _verifier(files: devca.DevFiles, now: float) -> Verifier:
    cache = CertCache()
    cache.put_pem(X5U, files.sp_cert.read_bytes(), now)
    return Verifier(TrustStore(load_certificates(files.ca_cert.read_bytes())), cache)


def test_our_tokens_verify_with_secsipidx(real_pki: devca.DevFiles, tmp_path: Path) -> None:
    signer = Signer.from_pem(real_pki.sp_key.read_bytes(), X5U)
    for attest in "ABC":
        ident = signer.sign("+1 202 555 0100", DEST, attest,
                            "0b0e7f0c-3a31-4c61-9d0e-6d3e1f2a9b10", time.time())
        done = _check(real_pki, ident.format(), tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.strip().endswith("ok")


def test_secsipidx_validates_our_chain(real_pki: devca.DevFiles, tmp_path: Path) -> None:
    signer = Signer.from_pem(real_pki.sp_key.read_bytes(), X5U)
    value = signer.sign(ORIG, DEST, "A", "0b0e7f0c-3a31-4c61-9d0e-6d3e1f2a9b10",
                        time.time()).format()
    # -cert-verify 5: validity dates and the chain to the given CA file.
    trusted = _check(real_pki, value, tmp_path, "-cert-verify", "5",
                     "-ca-file", str(real_pki.ca_cert))
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    rogue_ca = tmp_path / "rogue.pem"
    rogue_ca.write_bytes(devca.cert_pem(devca.make_ca(time.time(), name="Rogue")[1]))
    untrusted = _check(real_pki, value, tmp_path, "-cert-verify", "5",
                       "-ca-file", str(rogue_ca))
    assert untrusted.returncode != 0


def test_secsipidx_rejects_our_token_when_tampered(real_pki: devca.DevFiles,
                                                   tmp_path: Path) -> None:
    """Negative control: the interop check can fail."""
    signer = Signer.from_pem(real_pki.sp_key.read_bytes(), X5U)
    ident = signer.sign(ORIG, DEST, "A", "0b0e7f0c-3a31-4c61-9d0e-6d3e1f2a9b10", time.time())
    head, _, sig = ident.token.rpartition(".")
    raw = bytearray(b64url_decode(sig))
    raw[5] ^= 0x40
    forged = Identity(f"{head}.{b64url_encode(bytes(raw))}", ident.info, ident.alg, ident.ppt)
    done = _check(real_pki, forged.format(), tmp_path)
    assert done.returncode != 0
    stale = signer.sign(ORIG, DEST, "A", "0b0e7f0c-3a31-4c61-9d0e-6d3e1f2a9b10",
                        time.time() - 120)
    assert _check(real_pki, stale.format(), tmp_path).returncode != 0


@pytest.mark.parametrize("attest", ["A", "B", "C"])
def test_secsipidx_tokens_verify_with_ours(real_pki: devca.DevFiles, attest: str) -> None:
    done = _secsipidx("-sign-full", "-orig-tn", ORIG, "-dest-tn", DEST, "-attest", attest,
                      "-x5u", X5U, "-k", str(real_pki.sp_key))
    assert done.returncode == 0, done.stderr
    now = time.time()
    result = _verifier(real_pki, now).verify([done.stdout.strip()], ORIG, DEST, now)
    assert result.ok, result.detail
    assert result.attest == attest
    assert result.origid


def test_secsipidx_token_with_other_key_fails_with_ours(real_pki: devca.DevFiles,
                                                        tmp_path: Path) -> None:
    other = tmp_path / "other-key.pem"
    other.write_bytes(devca.key_pem(devca.new_key()))
    done = _secsipidx("-sign-full", "-orig-tn", ORIG, "-dest-tn", DEST, "-attest", "A",
                      "-x5u", X5U, "-k", str(other))
    assert done.returncode == 0, done.stderr
    now = time.time()
    result = _verifier(real_pki, now).verify([done.stdout.strip()], ORIG, DEST, now)
    assert result.sip_code == 438
