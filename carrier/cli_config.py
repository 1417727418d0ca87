"""``carrier config check``: load the settings as ``serve`` does and report every problem.

Errors go to stderr, one line each (``FILE: KEY: REASON (line L, column C)``), and the
exit is 78 (EX_CONFIG); warnings and the summary go to stdout. ``--json`` prints one
document (findings and summary) on stdout; ``--strict`` fails on warnings too.
See :mod:`carrier.config_check` for what is checked.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from carrier.config_check import Report, check_config
from carrier.errors import ConfigError
from carrier.settings import Settings, default_config_dir


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("config", help="validate the configuration")
    cmds = parser.add_subparsers(dest="config_command", required=True)
    check = cmds.add_parser("check", help="load config/*.yaml and report every problem found")
    check.add_argument("--json", action="store_true", help="print one JSON document")
    check.add_argument("--strict", action="store_true", help="fail on warnings too")
    check.add_argument("--config-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    check.set_defaults(func=run_check)


def _summary(s: Settings) -> dict[str, Any]:
    return {
        "database": "embedded" if not s.database.url else f"external ({s.database.region})",
        "data_dir": s.data_dir,
        "sip": {"bind_host": s.sip.bind_host, "udp": s.sip.udp_port, "tcp": s.sip.tcp_port,
                "tls": s.sip.tls_port},
        "trunks": [{"name": t.name, "uri": f"{t.transport}://{t.host}:{t.port}",
                    "region": t.region, "auth": t.auth} for t in s.trunks],
        "routes": dict(s.agent.routes),
    }


def _lines(summary: dict[str, Any]) -> list[str]:
    sip = summary["sip"]
    lines = [f"  database: {summary['database']}; data_dir: {summary['data_dir']}",
             f"  sip: {sip['bind_host']} udp/{sip['udp']} tcp/{sip['tcp']} tls/{sip['tls']}"]
    lines += [f"  trunk {t['name']}: {t['uri']} region={t['region']} auth={t['auth']}"
              for t in summary["trunks"]]
    lines += [f"  route {number} -> {wf}" for number, wf in summary["routes"].items()]
    return lines


def run_check(args: argparse.Namespace) -> int:
    cdir = Path(args.config_dir) if args.config_dir else default_config_dir()
    report: Report = check_config(cdir)
    failed = bool(report.errors) or (args.strict and bool(report.warnings))
    summary = _summary(report.settings) if report.settings is not None else None
    for f in report.errors:
        print(f"carrier config: {f}", file=sys.stderr)
    if args.json:
        print(json.dumps({"config_dir": str(cdir), "ok": not failed,
                          "errors": [f.as_dict() for f in report.errors],
                          "warnings": [f.as_dict() for f in report.warnings],
                          "settings": summary}, sort_keys=True))
    else:
        print(f"config {cdir}: {'FAILED' if failed else 'ok'}"
              f" ({len(report.errors)} error(s), {len(report.warnings)} warning(s))")
        for f in report.warnings:
            print(f"  warning: {f}")
        if summary is not None:
            for line in _lines(summary):
                print(line)
    if args.strict and not report.errors and report.warnings:
        print(f"carrier config: {len(report.warnings)} warning(s) and --strict",
              file=sys.stderr)
    return ConfigError.exit_code if failed else 0
