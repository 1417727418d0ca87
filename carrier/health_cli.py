"""`carrier health`: SIP OPTIONS to the node and its /health report over the console's
TLS, printed for an operator (or as JSON for a script); exit 0 only when all is well.
Moved out of ``carrier.app`` (the running stack) as its own command."""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
from typing import Any, cast

from carrier.console.server import client_context
from carrier.health import fetch_health
from carrier.settings import Settings


async def _probe(settings: Settings, timeout: float  # noqa: ASYNC109 - a CLI's own budget
                 ) -> tuple[int | None, tuple[int, dict[str, Any]] | str]:
    from carrier.sip.endpoint import EndpointConfig, SipEndpoint  # noqa: PLC0415

    async with SipEndpoint(EndpointConfig(udp=("127.0.0.1", 0), tcp=None, tls=None)) as ep:
        try:
            status = await ep.options(
                f"sip:health@{settings.sip.bind_host}:{settings.sip.udp_port}", timeout=timeout)
        except TimeoutError:
            status = None
    try:
        report: tuple[int, dict[str, Any]] | str = await fetch_health(
            settings.console.bind_host, settings.console.port, timeout=timeout,
            tls=client_context(settings))
    except ssl.SSLCertVerificationError as exc:  # an expired console certificate, above all
        report = f"certificate refused: {exc.verify_message}"
    except (OSError, TimeoutError, ValueError) as exc:
        report = type(exc).__name__
    return status, report


def run_health(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when SIP answers and every component is healthy; otherwise 1, naming each
    failed part (``sip`` when OPTIONS is unanswered, ``console`` when the probe is)."""
    status, got = asyncio.run(_probe(settings, args.timeout))
    report, why = (None, got) if isinstance(got, str) else (got, None)
    components = cast(list[dict[str, Any]], report[1].get("components", []) if report else [])
    failed = [] if status == 200 else ["sip"]
    failed += ["console"] if report is None else [c["name"] for c in components if not c["ok"]]
    if args.json:
        print(json.dumps({"ok": not failed, "failed": failed, "sip_options": status,
                          "components": components, "console_error": why}))
    else:
        print(f"OPTIONS -> {status if status is not None else 'no answer'}")
        if report is None:
            print(f"health probe on {settings.console.bind_host}:{settings.console.port} "
                  f"-> no answer ({why})")
        for c in components:
            print(f"  {'ok  ' if c['ok'] else 'FAIL'} {c['name']}: {c['detail']}")
        if report is not None:
            print(f"health -> {report[0]} {json.dumps(report[1].get('failed', []))}")
    if failed:
        print(f"carrier health: unhealthy: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
