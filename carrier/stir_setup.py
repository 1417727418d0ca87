"""Build the gateway's STIR/SHAKEN context from settings.

With a configured key, certificate URL and trust anchors, those are used as they
are. Without them (the embedded demo), a development STI-CA and service-provider
certificate are created once under ``<data_dir>/stir`` and the certificate is
served over HTTPS on loopback, so signing and verification run end to end on
one machine. The development CA is trusted only in that case.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from carrier.gateway import StirContext
from carrier.settings import Settings
from stir_shaken import devca
from stir_shaken.certs import TrustStore, load_certificates
from stir_shaken.signer import Signer
from stir_shaken.verifier import Verifier
from stir_shaken.x5u import DEFAULT_PORTS, CertCache
from stir_shaken.x5u_fetch import X5uFetcher


@dataclass
class StirRuntime:
    context: StirContext
    repository: devca.Repository | None = None

    async def close(self) -> None:
        if self.repository is not None:
            await self.repository.close()


async def build_stir(settings: Settings) -> StirRuntime | None:
    st = settings.stir
    if not st.enabled:
        return None
    repository = None
    ports = frozenset(st.x5u_allowed_ports) or DEFAULT_PORTS
    # Start-up only: a few small files read before the gateway takes calls.
    anchors = [c for path in st.trust_anchors
               for c in load_certificates(Path(path).read_bytes())]  # noqa: ASYNC240
    if st.key_file and st.x5u:
        key_pem = Path(st.key_file).read_bytes()  # noqa: ASYNC240 - start-up only
        x5u = st.x5u
        ssl_ctx = None
    else:
        files = devca.DevFiles.at(settings.path(None, "stir"))
        if not files.exists():
            devca.create(files.directory, time.time())
        repository = devca.Repository({"/sp.pem": files.sp_cert.read_bytes()})
        port = await repository.start(devca.server_ssl_context(files.tls_cert, files.tls_key))
        x5u = f"https://127.0.0.1:{port}/sp.pem"
        ports = ports | {port}
        key_pem = files.sp_key.read_bytes()
        anchors += load_certificates(files.ca_cert.read_bytes())
        ssl_ctx = devca.client_ssl_context(files.ca_cert)
    signer = Signer.from_pem(key_pem, x5u, allowed_ports=ports)
    verifier = fetcher = None
    if anchors:
        cache = CertCache()
        verifier = Verifier(TrustStore(anchors), cache, freshness=st.freshness_s,
                            skew=st.max_skew_s)
        fetcher = X5uFetcher(cache, ssl_context=ssl_ctx, allowed_ports=ports)
    ctx = StirContext(signer=signer, verifier=verifier, fetcher=fetcher,
                      own_numbers=frozenset(st.own_numbers),
                      customer_numbers=frozenset(st.customer_numbers),
                      rcd_names=dict(st.rcd_names))
    return StirRuntime(ctx, repository)
