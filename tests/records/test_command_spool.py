"""Which command spool folders (``<data>/spool/cli-<pid>``) are taken over by the next
command: those of commands that are gone, however their pid looks now.

Before, a folder was taken over only when no process had its pid. A command killed while
the database was down left rows in its folder; after a reboot its pid could belong to a
long-lived daemon, and the rows were never replayed (nor while its killed process waited
to be reaped, a zombie). Now the folder names its command by pid and start time.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from carrier.records.cli_context import command_spool, leave_spool

ROWS = b'0123abcd {"kind": "audit"}\n'  # what is in it does not matter here


def _left_by(parent: Path, pid: int, token: dict[str, float] | None) -> Path:
    folder = parent / f"cli-{pid}"
    folder.mkdir(parents=True)
    (folder / "audit.jsonl").write_bytes(ROWS)
    if token is not None:
        (folder / "owner.json").write_text(json.dumps(token))
    return folder


def test_a_folder_whose_pid_now_belongs_to_another_process_is_taken_over(tmp_path) -> None:
    other = subprocess.Popen(["sleep", "600"])  # has the pid the dead command had
    try:
        old = _left_by(tmp_path / "spool", other.pid, {"pid": other.pid, "created": 1000.0})
        mine = command_spool(tmp_path)
        assert mine.name == f"cli-{os.getpid()}"
        assert not old.exists()
        assert (mine / "audit.jsonl").read_bytes() == ROWS
    finally:
        other.kill()
        other.wait()


def test_a_folder_of_a_killed_command_not_yet_reaped_is_taken_over(tmp_path) -> None:
    dead = subprocess.Popen(["true"])
    os.waitid(os.P_PID, dead.pid, os.WEXITED | os.WNOWAIT)  # exited, still a zombie
    try:
        old = _left_by(tmp_path / "spool", dead.pid, None)  # a folder from before the token
        mine = command_spool(tmp_path)
        assert not old.exists()
        assert (mine / "audit.jsonl").read_bytes() == ROWS
    finally:
        dead.wait()


def test_a_running_commands_folder_is_left_alone(tmp_path) -> None:
    first = command_spool(tmp_path)  # this process, as a command still running
    (first / "audit.jsonl").write_bytes(ROWS)
    alive = subprocess.Popen(["sleep", "600"])
    try:
        theirs = _left_by(tmp_path / "spool", alive.pid, None)
        assert command_spool(tmp_path) == first
        assert (theirs / "audit.jsonl").read_bytes() == ROWS  # not taken from a live one
    finally:
        alive.kill()
        alive.wait()
    (first / "audit.jsonl").write_bytes(b"")
    leave_spool(first)
    assert not first.exists()  # emptied: removed, with its owner file
