"""The `carrier` operator command.

Sub-commands are discovered through the ``carrier.commands`` entry-point group
(see pyproject.toml), so this module never imports the agent package: each
entry point is a ``register(subparsers)`` function that adds its parser and
sets ``func`` to a callable ``(args) -> int`` (the exit code).

Every failure an operator can cause (bad input, bad settings, an unreachable
database) ends with one line on stderr naming what and why, and a non-zero exit, never a
traceback. Exit codes (the same for every command):

* 0: done (also after SIGTERM, the service manager's stop, for ``serve``-like commands);
* 1: refused or failed (a database failure is named by its kind, whichever command met
  it; a verification that found faults);
* 2: usage (the misused command's usage, then one line);
* 3: the command ran and its action did not happen (``sms send`` refused by the SMSC,
  ``call`` answered with no audio);
* 69: a port could not be opened;
* 74: the disk refused: writes not recorded (the database was away and the disk refused the
  spool: the line counts them by kind and names the spool folder), or a full disk;
* 75: the data folder is in use (a second ``serve``);
* 77: refused by the compliance gate (``call``: nothing dialled; ``sms send``: nothing sent);
* 78: a setting is wrong (file, key, reason);
* 130: interrupted (Ctrl-C).

The same table, with examples, is docs/exit-codes.md.

A usage error names the argument, never the value typed: an operator who types a phone
number or a name in the wrong place must not find it in the journal. Every command logs
as ``serve`` does (:func:`carrier.logs.setup`: the format and level of ``logging`` in the
settings, libraries at WARNING, numbers masked), to stderr.
A command that declares database arguments (``uses_settings``) gets
``data_dir``/``database_url`` from the settings ``carrier serve`` reads.
"""

from __future__ import annotations

import argparse
import getpass
import math
import os
import re
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, entry_points, version
from typing import Any, NoReturn

from carrier import logs
from carrier.errors import OperatorError

DISTRIBUTION = "carrier-stack"
# argparse's own messages that quote the value typed: the value is cut, the argument stays.
_QUOTES_VALUE = ((re.compile(r"invalid choice: .*? \(choose from", re.S),
                  "invalid choice (choose from"),
                 (re.compile(r"invalid (\S+) value: .*$", re.S), r"invalid \1 value"))
_OPTION = re.compile(r"--?[A-Za-z][\w-]*")
_typed: list[str] = []  # the command line being read (for error(): what not to repeat)


def _unrecognized(extras: list[str]) -> str:
    """``--frob`` and how many values: an option's name is not PHI, a stray value may be."""
    named = [m.group() for e in extras if (m := _OPTION.match(e))]
    values = len(extras) - len(named)
    more = f"{' and ' if named else ''}{values} value(s) not shown" if values else ""
    return f"unrecognized arguments: {' '.join(named)}{more}"


class OperatorParser(argparse.ArgumentParser):
    """Usage errors: the usage of the (sub-)command misused, then one error line naming it
    (the full help is one ``--help`` away) and the argument, never the value typed."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: {self._unquoted(message)} (see '{self.prog} --help')\n")

    def _unquoted(self, message: str) -> str:
        for pattern, replacement in _QUOTES_VALUE:
            message = pattern.sub(replacement, message)
        # A command's own type check may quote the value too: whatever the operator typed
        # that is not a word of this parser (an option, a choice, a command) is cut.
        known = {*self.prog.split(), *(word for action in self._actions for word in
                                        (*action.option_strings, *(action.choices or ())))}
        for value in sorted(set(_typed) - known, key=len, reverse=True):
            if len(value) > 1 and not _OPTION.fullmatch(value):
                message = re.sub(rf"(?<![\w-])'?{re.escape(value)}'?(?![\w-])",
                                 "(the value given)", message)
        return message

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extras = super().parse_known_args(args, namespace)
        if not hasattr(parsed, _PARSER):  # the innermost sub-command parser sets it first
            setattr(parsed, _PARSER, self)
        return parsed, extras


_PARSER = "_carrier_parser"  # the sub-command parser that read the arguments


def seconds(text: str) -> float:
    """An argparse type: a duration in seconds, finite and above 0 (``-1`` or ``nan`` as a
    timeout would make a probe report a healthy node as down, or never end)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError("not a number of seconds above 0")
    return value


def default_actor() -> str:
    """``operator:<login>`` for the audit log; a numeric uid with no passwd entry (a
    container's ``runAsUser``) is ``operator:uid<N>`` instead of an error at start-up."""
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"operator:uid{os.getuid()}"


def package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the named command's module is imported.

    Each command's module imports what it runs (the gateway, the console, the records),
    about a second of imports for all twenty. A command run by name loads only its own
    entry point; the others get a bare parser of their name, so a typo still lists every
    command. ``--help`` or no command loads them all for their help lines."""
    parser = OperatorParser(prog="carrier", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version",
                        version=f"carrier {package_version()} ({DISTRIBUTION})")
    parser.add_argument(
        "--config-dir",
        default=None,
        help="folder holding the *.yaml settings (default: $CARRIER_CONFIG_DIR or ./config)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    found = sorted(entry_points(group="carrier.commands"), key=lambda e: e.name)
    wanted = _command_named(argv, {ep.name for ep in found})
    for ep in found:
        if wanted is not None and ep.name != wanted:
            sub.add_parser(ep.name)
            continue
        try:
            register = ep.load()
        except (ImportError, AttributeError) as exc:
            # A component that is not installed must not take the whole CLI down.
            sub.add_parser(ep.name, help=f"(unavailable: {exc.__class__.__name__})")
            continue
        register(sub)
    return parser


def _command_named(argv: Sequence[str] | None, names: set[str]) -> str | None:
    """The command ``argv`` runs ("" for ``--version``: none is loaded), or None for all."""
    if argv is None:
        return None
    rest = iter(argv)
    for arg in rest:
        if arg == "--config-dir":
            next(rest, None)
        elif arg in names:
            return arg
        elif arg == "--version":
            return ""
        elif not arg.startswith("--config-dir="):
            return None  # --help, a typo, a command another module adds: every parser
    return None


def _settings_into(args: argparse.Namespace) -> None:
    if getattr(args, "uses_settings", False):
        from carrier.records.cli_context import apply_settings  # noqa: PLC0415 - heavy

        apply_settings(args)


def _operator_failures() -> tuple[type[Exception], ...]:
    # Looked up only when something failed: the records package is not this module's import.
    from carrier.records.cli_context import DATABASE_FAILURES  # noqa: PLC0415

    return (OperatorError, ExceptionGroup, *DATABASE_FAILURES)


def _first_leaf(group: BaseExceptionGroup[OperatorError]) -> OperatorError:
    leaf = group.exceptions[0]
    return leaf if isinstance(leaf, OperatorError) else _first_leaf(leaf)


def _log_setup(args: argparse.Namespace) -> None:
    """The log of ``serve`` for every command: ``logging`` from the settings the command
    reads (the built-in format and level when there are none, or they do not load: a
    command that needs them says why), libraries at WARNING, numbers masked."""
    from carrier.settings import default_config_dir, load_settings  # noqa: PLC0415

    found = getattr(args, "_where", None)
    settings = getattr(found, "settings", None)
    if settings is None:
        given = getattr(args, "config", None) or getattr(args, "config_dir", None)
        try:
            settings = load_settings(given if given else default_config_dir())
        except (OperatorError, OSError, ValueError):
            return
    logs.setup(settings.logging.format, settings.logging.level,
               application=settings.agent.application)


def main(argv: list[str] | None = None, *, own_logging: bool | None = None) -> int:
    """Run one command; its exit code. ``own_logging`` (default: when ``argv`` is None,
    that is, the ``carrier`` process itself): install the log handler; a caller passing
    ``argv`` (a test, a program embedding the CLI) keeps its own logging."""
    own_logging = argv is None if own_logging is None else own_logging
    typed = sys.argv[1:] if argv is None else argv
    _typed[:] = typed
    parser = build_parser(typed)
    args, extras = parser.parse_known_args(argv)
    used: argparse.ArgumentParser = getattr(args, _PARSER, parser)
    if extras:  # named by the sub-command that did not know them, with its usage
        used.error(_unrecognized(extras))
    delattr(args, _PARSER)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    if own_logging:
        logs.setup("auto")  # until the settings say otherwise (loading them may warn)
    try:
        _settings_into(args)
        if own_logging:
            _log_setup(args)
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `carrier ... | head`: the reader left, nothing to say
        sys.stderr.close()
        return 1
    except _operator_failures() as exc:
        # Operator-facing failures (bad config, unreachable database, refused action)
        # print one clear line, never a traceback.
        return _one_line(args.command, exc)


def _one_line(command: str, exc: Exception) -> int:
    if isinstance(exc, ExceptionGroup):  # a TaskGroup's: an operator error inside is one too
        found, rest = exc.split(OperatorError)
        if found is None or rest is not None:
            raise exc
        exc = _first_leaf(found)
    elif not isinstance(exc, OperatorError):  # a command that ran its own event loop
        from carrier.records.cli_context import database_failure  # noqa: PLC0415

        exc = database_failure(exc)
    print(f"carrier {command}: {exc}", file=sys.stderr)
    return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
