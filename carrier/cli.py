"""The `carrier` operator command.

Sub-commands are discovered through the ``carrier.commands`` entry-point group
(see pyproject.toml), so this module never imports the agent package: each
entry point is a ``register(subparsers)`` function that adds its parser and
sets ``func`` to a callable ``(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from carrier.errors import OperatorError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carrier", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config-dir",
        default=None,
        help="folder holding the *.yaml settings (default: $CARRIER_CONFIG_DIR or ./config)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for ep in sorted(entry_points(group="carrier.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except (ImportError, AttributeError) as exc:
            # A component that is not installed must not take the whole CLI down.
            sub.add_parser(ep.name, help=f"(unavailable: {exc.__class__.__name__})")
            continue
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except OperatorError as exc:
        # Operator-facing failures (bad config, unreachable database, refused
        # action) print one clear line, never a traceback.
        print(f"carrier {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
