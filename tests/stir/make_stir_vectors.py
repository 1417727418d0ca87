"""Regenerate tests/vectors/stir (run by hand; the tests only read the files).

    .venv/bin/python tests/stir/make_stir_vectors.py

Everything is synthetic: a throwaway dev CA and key valid 2026-2046, numbers in
the 555-01xx fictional range. The secsipidx vector needs the Debian binary.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from stir_shaken import devca
from stir_shaken.signer import Signer
from stir_shaken.tnauthlist import Spc, TNAuthList

OUT = Path(__file__).resolve().parent.parent / "vectors" / "stir"
BIRTH = 1_767_225_600.0  # 2026-01-01T00:00:00Z
IAT = 1_790_000_000
X5U = "https://cert.example.test/sp.pem"
ORIG, DEST, FORWARDED = "12025550100", "12025550101", "14155550123"
ORIGID = "8f2f7a55-7d5c-4c4e-9a37-1b7c1f0a4d21"


def _compact(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    ca_key, ca = devca.make_ca(BIRTH, days=20 * 365)
    sp_key, sp = devca.make_sp_cert(ca_key, ca, BIRTH, tnal=TNAuthList.of([Spc("1234")]),
                                    not_after=BIRTH + 20 * 365 * 86400)
    (OUT / "ca.pem").write_bytes(devca.cert_pem(ca))
    (OUT / "sp.pem").write_bytes(devca.cert_pem(sp))
    (OUT / "sp-key.pem").write_bytes(devca.key_pem(sp_key))
    signer = Signer(sp_key, X5U)
    vectors = [
        {"name": "shaken-A", "from": ORIG, "to": DEST, "now": IAT + 1,
         "identities": [signer.sign(ORIG, DEST, "A", ORIGID, IAT).format()]},
        {"name": "shaken-plus-div", "from": ORIG, "to": FORWARDED, "now": IAT + 1,
         "identities": [signer.sign(ORIG, DEST, "B", ORIGID, IAT).format(),
                        signer.sign_div(ORIG, FORWARDED, DEST, IAT).format()]},
        {"name": "shaken-plus-rcd", "from": ORIG, "to": DEST, "now": IAT + 1,
         "identities": [signer.sign(ORIG, DEST, "A", ORIGID, IAT).format(),
                        signer.sign_rcd(ORIG, DEST, IAT, nam="Sunrise Clinic \u00e9",
                                        icn="https://logo.example.test/sunrise.png",
                                        jcd=["vcard", [["version", {}, "text", "4.0"]]],
                                        digests={"icn": b"synthetic-logo"}).format()]},
        {"name": "basic-compact", "from": ORIG, "to": DEST, "now": IAT + 1, "date": IAT,
         "identities": [signer.sign_basic(ORIG, DEST, IAT, compact=True).format()]},
    ]
    secsipidx = shutil.which("secsipidx")
    if secsipidx is None:
        print("secsipidx missing: interop vector not regenerated", file=sys.stderr)
    else:
        # -sign-full ignores -iat, so give secsipidx the header and payload itself
        # (it still does the JWS encoding and the ES256 signature).
        header = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": X5U}
        payload = {"attest": "C", "dest": {"tn": [DEST]}, "iat": IAT, "orig": {"tn": ORIG},
                   "origid": ORIGID}
        token = subprocess.run(
            [secsipidx, "-sign", "-header", _compact(header), "-payload", _compact(payload),
             "-k", str(OUT / "sp-key.pem")],
            check=True, capture_output=True, text=True, timeout=30,
        ).stdout.strip()
        value = f"{token};info=<{X5U}>;alg=ES256;ppt=shaken"
        vectors.append({"name": "secsipidx-shaken-C", "from": ORIG, "to": DEST,
                        "now": IAT + 1, "identities": [value]})
    (OUT / "passports.json").write_text(json.dumps(vectors, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
