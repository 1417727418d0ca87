"""`carrier workflow validate FILE...` and `carrier simulate WORKFLOW --patient ID`."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from agent.workflow.loader import WorkflowLoadError, load_workflow
from agent.workflow.records import ClinicFileSource
from agent.workflow.simulator import simulate
from carrier.errors import OperatorError


def _config_dir(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "config_dir", None) or os.environ.get("CARRIER_CONFIG_DIR")
                or "config")


def register_validate(subparsers: Any) -> None:
    parser = subparsers.add_parser("workflow", help="check workflow definitions")
    sub = parser.add_subparsers(dest="workflow_command", metavar="ACTION", required=True)
    validate = sub.add_parser("validate", help="load and check workflow files fully")
    validate.add_argument("files", nargs="+", metavar="FILE", help="workflow YAML file(s)")
    validate.add_argument("--json", action="store_true",
                          help="one JSON object: each file, ok or its errors")
    validate.set_defaults(func=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = []
    for file in args.files:
        try:
            wf = load_workflow(file)
        except WorkflowLoadError as exc:
            results.append({"file": file, "ok": False, "errors": list(exc.lines())})
            continue
        except OSError as exc:
            results.append({"file": file, "ok": False,
                            "errors": [f"{file}:0: cannot read: {exc.strerror}"]})
            continue
        results.append({"file": file, "ok": True, "id": wf.id, "states": len(wf.states)})
    ok = all(r["ok"] for r in results)
    if getattr(args, "json", False):
        print(json.dumps({"ok": ok, "files": results}))
        return 0 if ok else 1
    for r in results:
        if r["ok"]:
            print(f"{r['file']}: ok ({r['id']}, {r['states']} states)")
        else:
            for line in r["errors"]:
                print(line, file=sys.stderr)
    return 0 if ok else 1


def register_simulate(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate", help="run a workflow as a typed conversation",
        description="Type what the caller says; '#5' presses a key, an empty line is silence, "
                    "end of input hangs up. Reads one turn per line when stdin is not a terminal.")
    parser.add_argument("workflow", help="workflow id (config/workflows/ID.yaml) or a file")
    parser.add_argument("--patient", required=True, help="patient id in the clinic data")
    parser.add_argument("--clinic", help="clinic file (default: CONFIG_DIR/clinic.yaml)")
    parser.add_argument("--appointment", help="appointment id (default: chosen by workflow)")
    parser.add_argument("--now", help="ISO date-time to simulate at (default: the clock)")
    parser.add_argument("--verbose", action="store_true", help="show actions and audit steps")
    parser.set_defaults(func=run_simulate)


def _workflow_path(name: str, config_dir: Path) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return config_dir / "workflows" / f"{name}.yaml"


def run_simulate(args: argparse.Namespace) -> int:
    config_dir = _config_dir(args)
    path = _workflow_path(args.workflow, config_dir)
    if not path.exists():
        raise OperatorError(f"no workflow {args.workflow!r} (looked for {path})")
    workflow = load_workflow(path)
    source = ClinicFileSource(args.clinic or config_dir / "clinic.yaml")
    if args.now:
        now = dt.datetime.fromisoformat(args.now)
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
    else:
        now = dt.datetime.now(dt.UTC)  # the CLI edge reads the clock; the engine never does
    interactive = sys.stdin.isatty()

    def read_line() -> str | None:
        try:
            line = input("CALLER: ") if interactive else sys.stdin.readline()
        except EOFError:
            return None
        if not interactive:
            if line == "":
                return None
            line = line.rstrip("\n")
            print(f"CALLER: {line}")
        return line

    def write(text: str) -> None:
        print(text, flush=True)

    result = asyncio.run(simulate(workflow, source, args.patient, now=now, read_line=read_line,
                                  write=write, appointment_id=args.appointment,
                                  verbose=args.verbose))
    print(f"  [outcome: {result.outcome}; path: {' > '.join(result.path)}]")
    return 0
