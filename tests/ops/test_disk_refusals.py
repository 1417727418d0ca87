"""Records commands on a disk that refuses, run as an operator runs them (a subprocess).

* A full disk (the process's file-size limit at 0: the kernel refuses every byte, as a full
  disk does, and ``tempfile`` finds no folder that takes its probe). Before, every records
  command died at import with a traceback: the embedded-PostgreSQL wheel picks its lock
  folder through ``platformdirs`` -> ``tempfile.gettempdir()`` when imported. Now the wheel
  is imported when the embedded cluster is first used; the command ends with one line and
  exit 74 (as every full-disk path does), and ``--help`` works.
* A read-only data folder (a read-only bind mount in a mount namespace of the command's
  own: root only, skipped otherwise). Before: "did not start (OSError)". Now the line names
  the file refused, why (read-only), the data folder and what to do.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ops.live import Done, carrier_command, config_folder, one_line_error, operator_env


def _full_disk(room: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (room, resource.RLIM_INFINITY))


def _run(args: list[str], cwd: Path, *, room: int | None = None,
         prefix: tuple[str, ...] = ()) -> Done:
    done = subprocess.run([*prefix, *carrier_command(), *args], cwd=cwd, env=operator_env(),
                          capture_output=True, text=True, timeout=240, check=False,
                          preexec_fn=None if room is None else (lambda: _full_disk(room)))
    return Done(done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize("with_config", [False, True], ids=["no-config", "config"])
def test_a_records_command_on_a_full_disk_is_one_line_exit_74(
    tmp_path: Path, with_config: bool
) -> None:
    data = tmp_path / "var"
    pre = ["--config-dir", str(config_folder(tmp_path / "config", data))] if with_config else []
    done = _run([*pre, "db", "status", "--data-dir", str(data)], tmp_path, room=0)
    line = one_line_error(done)
    assert done.code == 74, done.err
    assert line.startswith("carrier db: "), line
    assert "no temporary folder takes a file" in line, line
    assert "TMPDIR" in line, line


def test_help_works_on_a_full_disk(tmp_path: Path) -> None:
    done = _run(["--help"], tmp_path, room=0)
    assert done.code == 0, done.err
    assert "consent" in done.out
    assert "Traceback" not in done.err


def test_initdb_on_a_full_disk_is_one_line_exit_74(tmp_path: Path) -> None:
    # Room for tempfile's probe, not for the cluster's files: initdb is refused.
    done = _run(["db", "status", "--data-dir", str(tmp_path / "var")], tmp_path, room=16)
    line = one_line_error(Done(done.code, done.out, done.err.strip().splitlines()[-1]))
    assert done.code == 74, done.err
    assert "initdb could not write in" in line, line
    assert "disk is full" in line, line


def _can_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                           capture_output=True, check=False)
    return probe.returncode == 0


READ_ONLY = ('mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift'
             ' && exec "$@"')


@pytest.mark.skipif(not _can_mount(), reason="needs root and mount namespaces")
@pytest.mark.parametrize("left", [False, True], ids=["empty", "holding-files"])
def test_a_read_only_data_folder_is_named_with_what_to_do(tmp_path: Path, left: bool) -> None:
    data = tmp_path / "var"
    data.mkdir()
    if left:
        (data / "spool").mkdir()
    prefix = ("unshare", "-m", "--propagation", "private", "sh", "-c", READ_ONLY, "sh",
              str(data))
    done = _run(["db", "status", "--data-dir", str(data)], tmp_path, prefix=prefix)
    line = one_line_error(done)
    assert done.code == 1, done.err
    assert f"cannot write {data / 'pg.lock'}" in line, line
    assert "read-only" in line, line
    assert f"data folder {data} must be writable" in line, line
    assert "data_dir" in line, line


@pytest.mark.parametrize("argv", [("calls", "list"), ("tasks", "list"), ("feeds", "outbox"),
                                  ("db", "status")], ids="-".join)
def test_a_data_folder_under_a_file_is_one_line(tmp_path: Path, argv: tuple[str, ...]) -> None:
    # --data-dir names a folder inside a file (a typo in a path). Before: `calls list`,
    # `tasks list` and `feeds outbox` ended in a NotADirectoryError traceback from the
    # key file's permission check.
    (tmp_path / "a-file").write_text("x")
    done = _run([*argv, "--data-dir", str(tmp_path / "a-file" / "var")], tmp_path)
    line = one_line_error(done)
    assert "Not a directory" in line, line
    assert str(tmp_path / "a-file" / "var") in line, line
