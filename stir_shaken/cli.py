"""``carrier stir``: dev CA, sign and verify from the command line, to debug a trunk.

    carrier stir dev-ca --out DIR [--port 8443] [--serve]
    carrier stir sign --orig TN --dest TN [--attest A] [--ppt shaken div rcd] --key K --x5u URL
    carrier stir verify --from TN --to TN --trust CA.pem [--tls-ca CA.pem] < headers

This module is the I/O edge: it alone reads the clock, files and stdin.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from stir_shaken import devca
from stir_shaken.certs import TrustStore, load_certificates
from stir_shaken.errors import SigningError, StirError
from stir_shaken.identity import Identity
from stir_shaken.signer import Signer
from stir_shaken.verifier import Status, Verification, Verifier
from stir_shaken.x5u import DEFAULT_PORTS, CertCache
from stir_shaken.x5u_fetch import X5uFetcher

EXIT_USAGE = 2


class _UsageError(Exception):
    """Bad operator input; printed as one line."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("stir", help="STIR/SHAKEN: dev CA, sign, verify")
    sub = parser.add_subparsers(dest="stir_command", metavar="ACTION", required=True)

    dev = sub.add_parser("dev-ca", help="create a local test STI-CA and serve the SP cert")
    dev.add_argument("--out", type=Path, default=Path("stir-dev"), help="output directory")
    dev.add_argument("--host", default="127.0.0.1", help="loopback address to serve on")
    dev.add_argument("--port", type=int, default=8443, help="HTTPS port (default 8443)")
    dev.add_argument("--spc", default="1234", help="service provider code in TNAuthList")
    dev.add_argument("--force", action="store_true", help="recreate existing files")
    dev.add_argument("--serve", action="store_true", help="keep serving sp.pem over HTTPS")
    dev.set_defaults(func=_with_errors(run_dev_ca))

    sign = sub.add_parser("sign", help="print Identity header(s) for a call")
    sign.add_argument("--orig", required=True, help="calling number")
    sign.add_argument("--dest", required=True, help="called number")
    sign.add_argument("--attest", choices=("A", "B", "C"), default="A",
                      help="attestation level (default: %(default)s)")
    sign.add_argument("--ppt", nargs="+", choices=("shaken", "div", "rcd"), default=["shaken"],
                      help="PASSporT extension(s) to sign (default: shaken)")
    sign.add_argument("--origid", default=None, help="origination id (default: new UUID)")
    sign.add_argument("--div", default=None, help="original called number (ppt div)")
    sign.add_argument("--name", default=None, help="branded caller name (ppt rcd)")
    sign.add_argument("--icn", default=None, help="logo URL (ppt rcd)")
    sign.add_argument("--key", required=True, type=Path, help="SP private key PEM")
    sign.add_argument("--x5u", required=True, help="HTTPS URL of the SP certificate")
    sign.add_argument("--allow-port", type=int, action="append", default=[],
                      help="extra x5u port to allow (testing)")
    sign.set_defaults(func=_with_errors(run_sign))

    verify = sub.add_parser("verify", help="verify Identity headers read on stdin")
    verify.add_argument("--from", dest="from_tn", required=True, help="From number")
    verify.add_argument("--to", dest="to_tn", required=True, help="To number")
    verify.add_argument("--trust", type=Path, action="append", default=[],
                        help="STI-CA trust anchor PEM (repeatable)")
    verify.add_argument("--tls-ca", type=Path, default=None,
                        help="CA for the x5u HTTPS server (default: system store)")
    verify.add_argument("--cert", type=Path, default=None,
                        help="use this PEM for every x5u instead of fetching")
    verify.add_argument("--freshness", type=float, default=60.0, help="max iat age (s)")
    verify.add_argument("--skew", type=float, default=5.0, help="max iat in future (s)")
    verify.add_argument("--require", action="store_true", help="absent Identity is 428")
    verify.add_argument("--allow-port", type=int, action="append", default=[],
                        help="extra x5u port to allow (testing)")
    verify.add_argument("--timeout", type=float, default=2.0, help="x5u fetch timeout (s)")
    verify.add_argument("--json", action="store_true", help="one JSON object for scripts")
    verify.set_defaults(func=_with_errors(run_verify))


def _with_errors(func: Callable[[argparse.Namespace], int]
                 ) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (_UsageError, SigningError, OSError, ValueError) as exc:
            print(f"carrier stir: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return run


def run_dev_ca(args: argparse.Namespace) -> int:
    files = devca.DevFiles.at(args.out)
    if args.force or not files.exists():
        devca.create(args.out, time.time(), spc=args.spc, host=args.host)
    url = f"https://{args.host}:{args.port}/sp.pem"
    print(f"STI-CA trust anchor: {files.ca_cert}")
    print(f"SP certificate:      {files.sp_cert}")
    print(f"SP key:              {files.sp_key}")
    print(f"x5u:                 {url}")
    if args.serve:
        asyncio.run(_serve(files, args.host, args.port))
    return 0


async def _serve(files: devca.DevFiles, host: str, port: int) -> None:
    repo = devca.Repository({"/sp.pem": files.sp_cert.read_bytes()})
    await repo.start(devca.server_ssl_context(files.tls_cert, files.tls_key), host, port)
    print(f"serving https://{host}:{port}/sp.pem (Ctrl-C to stop)", flush=True)
    try:
        await repo.serve_forever()
    finally:
        await repo.close()


def run_sign(args: argparse.Namespace) -> int:
    ports = DEFAULT_PORTS | frozenset(args.allow_port)
    signer = Signer.from_pem(args.key.read_bytes(), args.x5u, allowed_ports=ports)
    now = time.time()
    for ppt in args.ppt:
        if ppt == "shaken":
            origid = args.origid or str(uuid.uuid4())
            ident = signer.sign(args.orig, args.dest, args.attest, origid, now)
        elif ppt == "div":
            if not args.div:
                raise _UsageError("--ppt div needs --div ORIGINAL_DEST")
            ident = signer.sign_div(args.orig, args.dest, args.div, now)
        else:
            if not args.name:
                raise _UsageError("--ppt rcd needs --name")
            ident = signer.sign_rcd(args.orig, args.dest, now, nam=args.name, icn=args.icn)
        print(f"Identity: {ident.format()}")
    return 0


def read_identity_lines(text: str) -> list[str]:
    """Identity values from stdin: ``Identity: v`` lines (a pasted SIP message works)
    or bare values; other header lines are skipped."""
    values: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        name, colon, value = stripped.partition(":")
        if colon and name.strip().lower() == "identity":
            values.append(value.strip())
        elif stripped and ";info=" in stripped and ":" not in stripped.split(";")[0]:
            values.append(stripped)
    return values


def run_verify(args: argparse.Namespace) -> int:
    if not args.trust:
        raise _UsageError("--trust CA.pem is required")
    anchors = [c for path in args.trust for c in load_certificates(path.read_bytes())]
    values = read_identity_lines(sys.stdin.read())
    try:
        identities = [Identity.parse(v) for v in values]
    except StirError as exc:
        return _report(Verification.failed(exc), as_json=args.json)
    cache = CertCache()
    now = time.time()
    if args.cert is not None:
        pem = args.cert.read_bytes()
        for ident in identities:
            cache.put_pem(ident.info, pem, now)
    else:
        ssl_ctx = devca.client_ssl_context(args.tls_ca) if args.tls_ca else None
        fetcher = X5uFetcher(cache, ssl_context=ssl_ctx, timeout=args.timeout,
                             allowed_ports=DEFAULT_PORTS | frozenset(args.allow_port))
        asyncio.run(fetcher.ensure([i.info for i in identities], now))
    verifier = Verifier(TrustStore(anchors), cache, freshness=args.freshness, skew=args.skew,
                        require_identity=args.require)
    return _report(verifier.verify(identities, args.from_tn, args.to_tn, time.time()),
                   as_json=args.json)


def _report(result: Verification, *, as_json: bool = False) -> int:
    code = 1 if result.status is Status.FAILED else 0
    if as_json:
        print(json.dumps({
            "status": str(result.status), "sip_code": result.sip_code,
            "verstat": result.verstat, "reason": result.reason_header or None,
            "detail": result.detail or None, "attest": result.attest,
            "diverted": bool(result.diverted_from),
            "rcd": result.rcd.get("nam") if result.rcd else None}))
        return code
    print(f"status: {result.status}")
    print(f"sip_code: {result.sip_code if result.sip_code is not None else '-'}")
    print(f"verstat: {result.verstat}")
    if result.reason_header:
        print(f"reason: {result.reason_header}")
    if result.detail:
        print(f"detail: {result.detail}")
    if result.attest:
        print(f"attest: {result.attest}")
    if result.diverted_from:
        print("diverted: yes")
    if result.rcd:
        print(f"rcd: {result.rcd.get('nam')}")
    return code


def main(argv: list[str] | None = None) -> int:
    """``python -m stir_shaken.cli ACTION ...``: the same as ``carrier stir ACTION ...``."""
    parser = argparse.ArgumentParser(prog="carrier")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["stir", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
