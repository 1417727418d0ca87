"""``carrier config check``: load and validate the settings, print a summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from carrier.settings import default_config_dir, load_settings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("config", help="validate the configuration")
    cmds = parser.add_subparsers(dest="config_command", required=True)
    check = cmds.add_parser("check", help="load config/*.yaml and report the first problem")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    cdir = Path(args.config_dir) if args.config_dir else default_config_dir()
    s = load_settings(cdir)
    db = "embedded" if not s.database.url else f"external ({s.database.region})"
    print(f"config {cdir}: ok")
    print(f"  database: {db}; data_dir: {s.data_dir}")
    sip = s.sip
    print(f"  sip: {sip.bind_host} udp/{sip.udp_port} tcp/{sip.tcp_port} tls/{sip.tls_port}")
    for t in s.trunks:
        print(f"  trunk {t.name}: {t.transport}://{t.host}:{t.port} region={t.region} "
              f"auth={t.auth}")
    return 0
