"""Misusing a sub-command prints that sub-command's usage and one error line (exit 2).

Before, ``carrier db status --frob`` said ``carrier: unrecognized arguments: --frob (see
'carrier --help')``: the top-level parser's words, pointing at the list of commands instead
of the options of the one the operator typed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ops.live import carrier

CASES = [
    (("db", "status", "--frob"), "carrier db status", "unrecognized arguments: --frob"),
    (("keys", "rotate", "--frob", "x"), "carrier keys rotate",
     "unrecognized arguments: --frob and 1 value(s) not shown"),
    (("consent", "show"), "carrier consent show", "required"),
    (("calls", "list", "--since", "yesterday-ish"), "carrier calls list", "--since"),
    (("--frob",), "carrier", "unrecognized arguments: --frob"),
    # Before: a negative page size reached the database ("refused the command").
    (("calls", "list", "--limit", "-5"), "carrier calls list", "argument --limit"),
    (("calls", "list", "--offset", "x"), "carrier calls list", "argument --offset"),
    # Before: accepted; health then reported "unhealthy" (a probe misconfigured reads as a
    # node down), serve --for nan never stopped.
    (("health", "--timeout", "-1"), "carrier health", "argument --timeout"),
    (("serve", "--for", "nan"), "carrier serve", "argument --for"),
    # Before: any --actor went to the audit log, a forged second line included.
    (("campaign", "dnc-import", "dnc.txt", "--actor", "ops\nforged: line"),
     "carrier campaign dnc-import", "control or invisible characters"),
]


@pytest.mark.parametrize(("argv", "prog", "words"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_misuse_names_the_sub_command(tmp_path: Path, argv: tuple[str, ...], prog: str,
                                      words: str) -> None:
    done = carrier(*argv, config=None, cwd=tmp_path)
    assert done.code == 2, done.err
    assert "Traceback" not in done.err
    lines = done.err.strip().splitlines()
    assert lines[0].startswith(f"usage: {prog} "), done.err
    assert lines[-1].startswith(f"{prog}: "), done.err
    assert words in lines[-1], done.err
    assert f"(see '{prog} --help')" in lines[-1], done.err
